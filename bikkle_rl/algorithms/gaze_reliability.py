"""Gaze reliability as an auxiliary task: a linear probe on the policy's encoding, trained to predict whether this
episode's gaze is informative (the env's ``("privileged", "gaze_informative")``), its loss added to PPO's.

The gaze-trust agents see the looks, their spread across pellets and the gaze's track record, but nothing tells
them which of those features say whether to trust the gaze except the returns, a slow and noisy signal: some runs
learn to ignore uninformative gaze and some follow it (docs/gaze_value.md). The probe asks the encoder to represent
that belief directly, without asking the policy to act on it: unlike a floor on the action (``guide_floor``), the
target is a fact about the episode, not an action, so on observations that informative and uninformative episodes
share the best prediction is the prior, and nothing conflicts with the returns. The probe reads the policy's own
encoding (a second pass of its encoder per minibatch), so what it shapes is what the actor acts on.
"""

from __future__ import annotations

import torch
from tensordict import TensorDictBase
from tensordict.nn import TensorDictModule
from torch import nn
from torchrl.modules import ProbabilisticActor

from bikkle_rl.envs.keys import GAZE_INFORMATIVE_KEY
from bikkle_rl.modules.heads import PolicyNet


def policy_encoder(actor: ProbabilisticActor) -> tuple[nn.Module, list]:
    """The encoder of ``actor``'s :class:`~bikkle_rl.modules.heads.PolicyNet` and the keys it reads, in order."""
    for module in actor.modules():
        if isinstance(module, TensorDictModule) and isinstance(module.module, PolicyNet):
            return module.module.encoder, list(module.in_keys)
    raise TypeError("the actor has no PolicyNet (built by bikkle_rl.modules.heads.make_actor)")


class GazeReliabilityProbe(nn.Module):
    """Predicts from the actor's encoding whether the gaze of each step's episode is informative.

    ``forward(batch)`` returns the binary cross-entropy against ``("privileged", "gaze_informative")`` (the caller,
    :meth:`~bikkle_rl.algorithms.ppo.PPO.update`, checks the batch holds it) and the probe's accuracy (a diagnostic:
    how well the observations tell the sources apart). The encoder is read, not owned: its parameters stay the
    actor's, the probe's only parameter is its linear layer.
    """

    def __init__(self, actor: ProbabilisticActor):
        super().__init__()
        encoder, self.in_keys = policy_encoder(actor)
        self._encoder = [encoder]  # a list: not a registered submodule, whose parameters would be counted twice
        self.logit = nn.Linear(encoder.out_features, 1)

    def logits(self, batch: TensorDictBase) -> torch.Tensor:
        """The probe's logit of P(informative) [..., 1] for each step of ``batch`` (the actor's observations)."""
        return self.logit(self._encoder[0](*(batch.get(key) for key in self.in_keys)))

    def forward(self, batch: TensorDictBase) -> tuple[torch.Tensor, torch.Tensor]:
        logit = self.logits(batch)
        target = batch.get(GAZE_INFORMATIVE_KEY).to(logit.dtype).reshape(logit.shape)
        loss = nn.functional.binary_cross_entropy_with_logits(logit, target)
        accuracy = ((logit > 0) == (target > 0.5)).to(logit.dtype).mean()
        return loss, accuracy
