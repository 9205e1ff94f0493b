"""Direction-preserving action scaling: an action outside the box is shrunk onto it, not clipped per axis."""

from __future__ import annotations

import torch
from torchrl.data import Bounded, Composite, TensorSpec
from torchrl.envs.transforms import Transform


class MaxNormAction(Transform):
    """Divides the ``action`` [..., A] by ``max(1, max_i |action_i|)`` before the env steps.

    The arena clips each axis of a velocity action to [-1, 1]. For a Gaussian policy whose mean grows past the
    bounds (it must, to move at full speed) clipping snaps every large action onto a corner or an edge of the
    box: ``(3, 1)`` becomes the diagonal ``(1, 1)``, so the agent can no longer aim, and it grazes the blue
    pellets it means to pass. Scaling by the max-norm keeps the direction and moves at full speed along it,
    exactly how the greedy reference turns a direction into an action. Actions inside the box are unchanged,
    so scripted policies act as before; the policy's own action (with its log-prob) is what the rollout stores.

    ``full_speed`` scales every non-zero action onto the box's boundary (max-norm 1), so the agent always moves
    at full speed and the policy chooses only a direction, as the greedy reference does. A learned mean action
    that drifts below full speed (an MLP's did on about 3 % of its steps, near blues) then costs nothing.

    ``bound`` widens the action spec the policy sees to ``[-bound, bound]^A``. Full speed needs the largest
    component at 1, which a tanh-squashed policy bounded by the box only approaches as ``tanh -> 1``: its mean
    action then moves at 0.9-0.98 of full speed and SAC's entropy bonus keeps it there. With ``bound > 1`` it
    reaches full speed at ``tanh = 1 / bound``.

    Examples:
        >>> env = TransformedEnv(BikkleEnv(num_envs=2), MaxNormAction(bound=2.0))
        >>> td = env.reset().set("action", torch.tensor([[3.0, 1.0], [0.5, -0.2]]))
        >>> env.transform.inv(td)["action"]
        tensor([[ 1.0000,  0.3333],
                [ 0.5000, -0.2000]])
        >>> env.action_spec.space.high
        tensor([[2., 2.],
                [2., 2.]])
    """

    def __init__(self, action_key: str = "action", bound: float = 1.0, full_speed: bool = False):
        if not bound >= 1.0:
            raise ValueError(f"MaxNormAction: bound must be >= 1 (the arena's box), got {bound!r}")
        super().__init__(in_keys=[], out_keys=[], in_keys_inv=[action_key], out_keys_inv=[action_key])
        self.bound = float(bound)
        self.full_speed = bool(full_speed)

    def _inv_apply_transform(self, action: torch.Tensor) -> torch.Tensor:
        # the divisor's floor: 1 leaves actions inside the box alone; a tiny one lifts them onto its boundary
        # (a zero action stays zero)
        return action / action.abs().amax(-1, keepdim=True).clamp_min(1e-12 if self.full_speed else 1.0)

    def transform_action_spec(self, action_spec: TensorSpec) -> TensorSpec:
        """The policy's action spec: the arena's, widened to ``[-bound, bound]``."""
        if isinstance(action_spec, Composite):
            key = self.in_keys_inv[0]
            action_spec = action_spec.clone()
            action_spec[key] = self.transform_action_spec(action_spec[key])
            return action_spec
        return Bounded(low=-self.bound, high=self.bound, shape=action_spec.shape, dtype=action_spec.dtype,
                       device=action_spec.device)
