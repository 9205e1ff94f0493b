"""Greedy guidance: an auxiliary PPO loss, strong at the start of a run and annealed away, that points the policy's
mean action where the greedy reference heads.

Greedy play is the arena's no-gaze skill (at greedy's level is where the agents without gaze end up), and one
run in three over the gaze mixture never reaches it: its curve flattens near greedy's level under correlated
gaze and below it without gaze. Starting every run from greedy's headings gives the arena's skill as a floor; the
guidance then fades, so what gaze adds (and where greedy is beaten) is left to the returns.
"""

from __future__ import annotations

import torch
from tensordict import TensorDictBase
from tensordict.nn import TensorDictModule

from bikkle_rl.envs.config import BikkleConfig
from bikkle_rl.envs.dynamics import PINK
from bikkle_rl.policies.greedy import GREEDY_IN_KEYS, GreedyActor

GUIDE_ACTION_KEY = "guide_action"
GUIDE_WEIGHT_KEY = "guide_weight"


def guide_weight(coeff: float, until: float, progress: float) -> float:
    """The guidance's weight at ``progress`` (the run's fraction done): ``coeff`` falling linearly to 0 at ``until``."""
    if coeff <= 0 or until <= 0:
        return 0.0
    return coeff * max(0.0, 1.0 - progress / until)


class GreedyGuide:
    """Labels a collected batch with the greedy reference's actions and the guidance's weight per step.

    Only velocity actions are guided: a heading action has no magnitude to ignore, and the loss compares
    directions. Steps with no pink present, where greedy has no target, get weight 0.
    """

    def __init__(self, config: BikkleConfig):
        if config.action_mode != "velocity":
            raise ValueError(f"algo.guide_coeff > 0 needs env.action_mode='velocity', got {config.action_mode!r}")
        greedy = GreedyActor(config.action_mode, config.touch_distance)
        self.greedy = TensorDictModule(greedy, in_keys=GREEDY_IN_KEYS, out_keys=[GUIDE_ACTION_KEY])

    @torch.no_grad()
    def label(self, batch: TensorDictBase, weight: float) -> TensorDictBase:
        """Writes ``guide_action`` and ``guide_weight`` (``weight`` where a pink is present, else 0) into ``batch``."""
        flat = batch.reshape(-1)
        action = self.greedy(flat).get(GUIDE_ACTION_KEY)
        has_target = ((flat.get("pellet_kind") == PINK) & flat.get("pellet_mask")).any(-1)
        batch.set(GUIDE_ACTION_KEY, action.reshape(*batch.shape, -1))
        batch.set(GUIDE_WEIGHT_KEY, (has_target.to(action.dtype) * weight).reshape(batch.shape))
        return batch


def heading_loss(mean_action: torch.Tensor, guide_action: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Mean over steps of ``weight * (1 - cos)`` of the angle between the policy's mean action and greedy's:
    0 when they point the same way, whatever the speed (the returns teach the speed)."""
    cosine = torch.nn.functional.cosine_similarity(mean_action, guide_action, dim=-1, eps=1e-6)
    return (weight * (1.0 - cosine)).mean()
