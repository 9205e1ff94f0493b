"""Scripted reference policies: ``greedy``, ``greedy-gaze`` and ``random``, as TensorDictModules.

They read the observation keys a learned policy reads and write ``"action"``, so the evaluator runs them
exactly like trained agents and give every number in a results table its meaning: ``random`` is the floor,
``greedy`` is near-optimal play with a single pink pellet, ``greedy-gaze`` is what simple play gains from
gaze when several pinks compete.

Greedy play: head at full speed for the nearest present pink. When a present blue lies near the straight
path (within ``touch_distance + margin`` of the segment to the target, and closer than the target), steer
along the tangent of that blue's keep-out circle (radius ``touch_distance + margin``) on the side the path
already passes it: the shortest way around a disc. Inside the keep-out circle the tangent is perpendicular
to the blue's direction, a pure sidestep.
"""

from __future__ import annotations

import math

import torch
from tensordict.nn import TensorDictModule
from torch import nn

from bikkle_rl.envs.config import ACTION_MODES, BikkleConfig
from bikkle_rl.envs.dynamics import BLUE, PINK

REFERENCE_POLICIES = ("random", "greedy", "greedy-gaze")
GREEDY_IN_KEYS = ["pellet_rel", "pellet_kind", "pellet_mask"]
GAZE_IN_KEYS = [*GREEDY_IN_KEYS, "agent_pos", "gaze", "gaze_valid"]


def nearest_slot(distance_sq: torch.Tensor, eligible: torch.Tensor) -> torch.Tensor:
    """The eligible slot with the smallest ``distance_sq`` ([N, P] each): [N] long."""
    return torch.where(eligible, distance_sq, torch.inf).argmin(-1)


def gather_slot(values: torch.Tensor, slot: torch.Tensor) -> torch.Tensor:
    """``values[n, slot[n]]`` for values [N, P, ...] and slot [N]: [N, ...]."""
    return values[torch.arange(values.shape[0], device=values.device), slot]


def rotate(vector: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotates [N, 2] vectors counter-clockwise by [N] angles."""
    cos, sin = angle.cos(), angle.sin()
    x, y = vector.unbind(-1)
    return torch.stack((x * cos - y * sin, x * sin + y * cos), -1)


def steer_around_blues(target_rel: torch.Tensor, pellet_rel: torch.Tensor, pellet_kind: torch.Tensor,
                       pellet_mask: torch.Tensor, clearance: float) -> torch.Tensor:
    """The direction [N, 2] to move in: ``target_rel`` [N, 2], or a tangent around the nearest blocking blue.

    A blue blocks when it lies ahead (``0 < along < |target|``) and within ``clearance`` of the segment to the
    target. The agent then heads along the tangent of the blue's ``clearance`` circle on the side of the path.
    """
    target_dist = target_rel.norm(dim=-1, keepdim=True)
    heading = target_rel / target_dist.clamp_min(1e-12)
    along = (pellet_rel * heading[:, None]).sum(-1)  # [N, P]
    across = heading[:, None, 0] * pellet_rel[..., 1] - heading[:, None, 1] * pellet_rel[..., 0]  # + = left
    blocking = ((pellet_kind == BLUE) & pellet_mask & (along > 0) & (along < target_dist)
                & (across.abs() < clearance))
    blue_dist_sq = (pellet_rel * pellet_rel).sum(-1)
    blue = nearest_slot(blue_dist_sq, blocking)
    blue_rel = gather_slot(pellet_rel, blue)
    blue_dist = blue_rel.norm(dim=-1).clamp_min(1e-12)
    tangent_angle = torch.asin((clearance / blue_dist).clamp(max=1.0))
    pass_on_right = gather_slot(across, blue) > 0  # blue left of the path: pass it on the right
    tangent = rotate(blue_rel / blue_dist[:, None], torch.where(pass_on_right, -tangent_angle, tangent_angle))
    return torch.where(blocking.any(-1, keepdim=True), tangent, target_rel)


def direction_to_action(direction: torch.Tensor, action_mode: str) -> torch.Tensor:
    """Full-speed action toward ``direction`` [N, 2].

    ``velocity``: [N, 2] scaled so the larger component is +-1 (max-norm; a zero direction stays zero).
    ``heading``: [N, 1] the direction's angle divided by pi.
    """
    if action_mode == "velocity":
        return direction / direction.abs().amax(-1, keepdim=True).clamp_min(1e-12)
    return torch.atan2(direction[..., 1], direction[..., 0])[..., None] / math.pi


class GreedyActor(nn.Module):
    """Full speed to the nearest present pink, stepping around blues on the way (see the module docstring).

    Args:
        action_mode: ``"velocity"`` or ``"heading"``, as the env's ``BikkleConfig.action_mode``.
        touch_distance: centre distance at which agent and pellet touch (``BikkleConfig.touch_distance``).
        margin: extra clearance kept from blues beyond ``touch_distance``.

    Inputs ``pellet_rel`` [N, P, 2], ``pellet_kind`` [N, P], ``pellet_mask`` [N, P]; output the action.
    """

    def __init__(self, action_mode: str = "velocity", touch_distance: float = 0.08, margin: float = 0.01):
        super().__init__()
        if action_mode not in ACTION_MODES:
            raise ValueError(f"action_mode must be one of {ACTION_MODES}, got {action_mode!r}")
        if not touch_distance > 0 or margin < 0:
            raise ValueError(f"need touch_distance > 0 and margin >= 0, got {touch_distance!r} and {margin!r}")
        self.action_mode = action_mode
        self.clearance = touch_distance + margin

    def act_toward(self, target_slot: torch.Tensor, pellet_rel: torch.Tensor, pellet_kind: torch.Tensor,
                   pellet_mask: torch.Tensor) -> torch.Tensor:
        """The action that heads for the pellet in ``target_slot`` [N] while avoiding blues."""
        target_rel = gather_slot(pellet_rel, target_slot)
        direction = steer_around_blues(target_rel, pellet_rel, pellet_kind, pellet_mask, self.clearance)
        return direction_to_action(direction, self.action_mode)

    def forward(self, pellet_rel: torch.Tensor, pellet_kind: torch.Tensor, pellet_mask: torch.Tensor) -> torch.Tensor:
        pinks = (pellet_kind == PINK) & pellet_mask
        target = nearest_slot((pellet_rel * pellet_rel).sum(-1), pinks)
        return self.act_toward(target, pellet_rel, pellet_kind, pellet_mask)


class GazeGreedyActor(GreedyActor):
    """Greedy play that heads for the pink nearest the gaze point when gaze is valid.

    It remembers the gaze-chosen pink per arena and keeps heading for it on steps without valid gaze, as a
    player who saw where the human looked would; the memory lapses when that pellet moves (touched and
    re-spawned, or a new episode), and then the agent plays plain greedy until gaze is valid again. The memory
    is reset whenever the batch shape changes. It is held in the module, not in the tensordict, so use one
    instance per evaluation run.

    Inputs: those of :class:`GreedyActor` plus ``agent_pos`` [N, 2], ``gaze`` [N, 2] (absolute arena
    coordinates) and ``gaze_valid`` [N, 1] or [N] bool.
    """

    memory_tolerance = 1e-3
    """A remembered pellet counts as unmoved within this distance (a re-spawn moves it at least 0.08)."""

    def __init__(self, action_mode: str = "velocity", touch_distance: float = 0.08, margin: float = 0.01):
        super().__init__(action_mode, touch_distance, margin)
        self.remembered_pos: torch.Tensor | None = None  # [N, 2]; NaN where nothing is remembered

    def reset_memory(self) -> None:
        self.remembered_pos = None

    def forward(self, pellet_rel: torch.Tensor, pellet_kind: torch.Tensor, pellet_mask: torch.Tensor,
                agent_pos: torch.Tensor, gaze: torch.Tensor, gaze_valid: torch.Tensor) -> torch.Tensor:
        pinks = (pellet_kind == PINK) & pellet_mask
        pellet_pos = agent_pos[:, None] + pellet_rel
        if self.remembered_pos is None or self.remembered_pos.shape != agent_pos.shape:
            self.remembered_pos = torch.full_like(agent_pos, torch.nan)
        gaze_valid = gaze_valid.reshape(-1, 1)
        gaze_target = nearest_slot(((pellet_pos - gaze[:, None]) ** 2).sum(-1), pinks)
        remembered_pos = torch.where(gaze_valid, gather_slot(pellet_pos, gaze_target), self.remembered_pos)
        # find the remembered pellet by position: slots may be reordered (SortPellets) between steps
        distance_sq = ((pellet_pos - remembered_pos[:, None]) ** 2).sum(-1).nan_to_num(torch.inf)
        slot = nearest_slot(distance_sq, pinks)
        following = gather_slot(distance_sq, slot) < self.memory_tolerance**2
        nearest = nearest_slot((pellet_rel * pellet_rel).sum(-1), pinks)
        target = torch.where(following, slot, nearest)
        self.remembered_pos = torch.where(following[:, None], remembered_pos, torch.nan)
        return self.act_toward(target, pellet_rel, pellet_kind, pellet_mask)


class UniformRandomActor(nn.Module):
    """Actions drawn uniformly from the env's action box [-1, 1]^action_dim, one per arena.

    Input ``agent_pos`` [N, 2] (read only for the batch shape and device); output [N, action_dim].
    """

    def __init__(self, action_dim: int, generator: torch.Generator | None = None):
        super().__init__()
        self.action_dim = action_dim
        self.generator = generator

    def forward(self, agent_pos: torch.Tensor) -> torch.Tensor:
        shape = (*agent_pos.shape[:-1], self.action_dim)
        return torch.rand(shape, generator=self.generator, device=agent_pos.device) * 2.0 - 1.0


def make_reference_policy(name: str, config: BikkleConfig, margin: float = 0.01,
                          generator: torch.Generator | None = None) -> TensorDictModule:
    """A reference policy by name (one of :data:`REFERENCE_POLICIES`) for arenas built from ``config``.

    ``margin`` is the greedy policies' extra clearance from blues; ``generator`` drives ``random``.
    """
    if name == "random":
        action_dim = 2 if config.action_mode == "velocity" else 1
        return TensorDictModule(UniformRandomActor(action_dim, generator), in_keys=["agent_pos"], out_keys=["action"])
    if name == "greedy":
        actor = GreedyActor(config.action_mode, config.touch_distance, margin)
        return TensorDictModule(actor, in_keys=GREEDY_IN_KEYS, out_keys=["action"])
    if name == "greedy-gaze":
        actor = GazeGreedyActor(config.action_mode, config.touch_distance, margin)
        return TensorDictModule(actor, in_keys=GAZE_IN_KEYS, out_keys=["action"])
    raise ValueError(f"unknown reference policy {name!r}; expected one of {REFERENCE_POLICIES}")
