"""Greedy guidance: an auxiliary PPO loss, strong at the start of a run and annealed away, that pulls the policy's
mean action toward the greedy reference's.

Greedy play is the arena's no-gaze skill (at greedy's level is where the agents without gaze end up). Trained over
the gaze mixture without guidance, two runs in six never reached it: their curves flattened near greedy's level under
correlated gaze and below it without gaze. Starting every run from greedy's actions gives the arena's skill as a
floor (guided, three runs in three learned the arena); the guidance then fades, so what gaze adds, and where greedy
is beaten, is left to the returns.

A floor (``guide_floor``) keeps a constant weight for the whole run on the episodes whose gaze source carries
nothing (uniform or absent gaze, as the env's ``("privileged", "gaze_informative")`` says), meant to make greedy's
play the fallback where gaze is worth nothing. Tried on trained gaze-trust agents it made uniform gaze cost more, not
less: the source is hidden from the agent, and on the observations it shares with informative episodes the floor and
the returns ask for different actions (docs/gaze_value.md, lever 6).
"""

from __future__ import annotations

import torch
from tensordict import TensorDictBase
from tensordict.nn import TensorDictModule

from bikkle_rl.envs.config import BikkleConfig
from bikkle_rl.envs.dynamics import PINK
from bikkle_rl.envs.keys import gaze_informative
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

    Only velocity actions are guided (the arena's default; a heading action is an angle, whose distance wraps
    around). Steps with no pink present, where greedy has no target, get weight 0.
    """

    def __init__(self, config: BikkleConfig):
        if config.action_mode != "velocity":
            raise ValueError(f"algo.guide_coeff > 0 needs env.action_mode='velocity', got {config.action_mode!r}")
        greedy = GreedyActor(config.action_mode, config.touch_distance)
        self.greedy = TensorDictModule(greedy, in_keys=GREEDY_IN_KEYS, out_keys=[GUIDE_ACTION_KEY])

    @torch.no_grad()
    def label(self, batch: TensorDictBase, weight: float, floor: float = 0.0) -> TensorDictBase:
        """Writes ``guide_action`` and ``guide_weight`` into ``batch``: where a pink is present, ``weight`` plus
        ``floor`` on the steps whose gaze is uninformative; 0 where no pink is."""
        flat = batch.reshape(-1)
        action = self.greedy(flat).get(GUIDE_ACTION_KEY)
        has_target = ((flat.get("pellet_kind") == PINK) & flat.get("pellet_mask")).any(-1)
        step_weight = torch.full_like(has_target, weight, dtype=action.dtype)
        if floor > 0:
            informative = gaze_informative(flat, "algo.guide_floor")
            step_weight = step_weight + floor * (~informative.reshape(-1)).to(action.dtype)
        batch.set(GUIDE_ACTION_KEY, action.reshape(*batch.shape, -1))
        batch.set(GUIDE_WEIGHT_KEY, (has_target * step_weight).reshape(batch.shape))
        return batch


def guide_loss(mean_action: torch.Tensor, guide_action: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Mean over steps of ``weight`` times the squared distance between the policy's mean action and greedy's.

    Greedy moves at full speed (max-norm 1), which a tanh policy's mean only approaches; the gradient through the
    tanh then vanishes, so the loss settles instead of driving the mean's pre-activation without bound. A
    direction-only loss (``1 - cos``) was tried first: its gradient grows as the mean action shrinks, and at the
    start of a run it swamped PPO's under the gradient clip (norms of 8-29 against PPO's 0.4-2.5), so the policy's
    spread never narrowed and the runs collected nothing in their first 0.7 M steps.
    """
    return (weight * (mean_action - guide_action).pow(2).sum(-1)).mean()
