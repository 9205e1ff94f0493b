"""Direction-preserving action scaling: an action outside the box is shrunk onto it, not clipped per axis."""

from __future__ import annotations

import torch
from torchrl.envs.transforms import Transform


class MaxNormAction(Transform):
    """Divides the ``action`` [..., A] by ``max(1, max_i |action_i|)`` before the env steps.

    The arena clips each axis of a velocity action to [-1, 1]. For a Gaussian policy whose mean grows past the
    bounds (it must, to move at full speed) clipping snaps every large action onto a corner or an edge of the
    box: ``(3, 1)`` becomes the diagonal ``(1, 1)``, so the agent can no longer aim, and it grazes the blue
    pellets it means to pass. Scaling by the max-norm keeps the direction and moves at full speed along it,
    exactly how the greedy reference turns a direction into an action. Actions inside the box are unchanged,
    so bounded policies (tanh-squashed, scripted) act as before; the policy's own action (with its log-prob)
    is what the rollout stores.

    Examples:
        >>> env = TransformedEnv(BikkleEnv(num_envs=2), MaxNormAction())
        >>> td = env.reset().set("action", torch.tensor([[3.0, 1.0], [0.5, -0.2]]))
        >>> env.transform.inv(td)["action"]
        tensor([[ 1.0000,  0.3333],
                [ 0.5000, -0.2000]])
    """

    def __init__(self, action_key: str = "action"):
        super().__init__(in_keys=[], out_keys=[], in_keys_inv=[action_key], out_keys_inv=[action_key])

    def _inv_apply_transform(self, action: torch.Tensor) -> torch.Tensor:
        return action / action.abs().amax(-1, keepdim=True).clamp_min(1.0)
