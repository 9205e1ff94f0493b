"""How a policy moves, beside what it scores: where an agent's gap to greedy comes from.

The arena's velocity box is square (each axis clipped to [-1, 1] x ``max_speed``), so the time to reach a
pellet is its Chebyshev distance ``max(|dx|, |dy|) / max_speed`` and many headings reach it equally fast. The
measure of movement is therefore *progress*: how much one step shortens the Chebyshev distance to the nearest
pink, in units of ``max_speed``. Greedy makes 1.0 per step except where it sidesteps a blue; an agent that
makes less either aims badly (clear of blues) or is cautious (near or around them), and the split by the
nearest blue's distance tells which: under :data:`NEAR_BLUE`, up to :data:`AROUND_BLUE`, or beyond.

The figures are ratios of per-step sums (:func:`movement_terms`), so the batched evaluator accumulates them
while it steps, and :func:`movement_stats` computes them from a recorded rollout.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from tensordict import TensorDictBase

from bikkle_rl.envs.dynamics import BLUE, PINK

NEAR_BLUE = 0.2
"""A step counts as near a blue when the nearest blue is closer than this (arena units)."""

AROUND_BLUE = 0.4
"""... and around one up to this distance: learned agents start their detours here (greedy only sidesteps)."""

REQUIRED_KEYS = ("agent_pos", "pellet_rel", "pellet_kind", "pellet_mask", ("next", "agent_pos"),
                 ("next", "events", "pink"), ("next", "events", "blue"))

TERMS = ("steps", "counted", "progress", "near", "progress_near", "around", "progress_around", "slow", "pink", "blue")
"""The per-step quantities whose sums give the figures (see :func:`movement_terms`)."""


def chebyshev(vector: torch.Tensor) -> torch.Tensor:
    """``max(|x|, |y|)`` over the last dimension: steps at full speed needed to cover ``vector``."""
    return vector.abs().amax(-1)


def movement_terms(transition: TensorDictBase, max_speed: float, near_blue: float = NEAR_BLUE,
                   around_blue: float = AROUND_BLUE) -> dict[str, torch.Tensor]:
    """The per-step terms (float tensors of the transition's batch shape) named in :data:`TERMS`.

    ``counted`` marks steps without a touch (which respawns pellets) while a pink is on the field; ``progress``
    is the Chebyshev progress toward the nearest pink on counted steps (0 elsewhere); ``near`` and
    ``progress_near`` the same restricted to steps with a blue closer than ``near_blue``, ``around`` and
    ``progress_around`` to steps whose nearest blue lies between ``near_blue`` and ``around_blue``; ``slow``
    marks steps covering less than 0.9 of ``max_speed`` along their larger axis; ``pink`` and ``blue`` are
    touches.
    """
    missing = [key for key in REQUIRED_KEYS if key not in transition.keys(include_nested=True)]
    if missing:
        raise KeyError(f"movement figures: the rollout lacks {missing} (run it on a BikkleEnv-based stack)")
    position, next_position = transition["agent_pos"], transition["next", "agent_pos"]
    rel, kind, mask = transition["pellet_rel"], transition["pellet_kind"], transition["pellet_mask"]
    pink_steps = torch.where(mask & (kind == PINK), chebyshev(rel), torch.inf)
    nearest = pink_steps.argmin(-1, keepdim=True)
    target = position + rel.gather(-2, nearest.unsqueeze(-1).expand(*nearest.shape, 2)).squeeze(-2)
    progress = (chebyshev(target - position) - chebyshev(target - next_position)) / max_speed
    blue_distance = torch.where(mask & (kind == BLUE), rel.norm(dim=-1), torch.inf).amin(-1)
    pinks = transition["next", "events", "pink"].squeeze(-1).float()
    blues = transition["next", "events", "blue"].squeeze(-1).float()
    counted = (pinks + blues == 0) & torch.isfinite(pink_steps).any(-1)
    near = counted & (blue_distance < near_blue)
    around = counted & ~near & (blue_distance < around_blue)
    return {
        "steps": torch.ones_like(pinks),
        "counted": counted.float(),
        "progress": torch.where(counted, progress, 0.0),
        "near": near.float(),
        "progress_near": torch.where(near, progress, 0.0),
        "around": around.float(),
        "progress_around": torch.where(around, progress, 0.0),
        "slow": (chebyshev(next_position - position) < 0.9 * max_speed).float(),
        "pink": pinks,
        "blue": blues,
    }


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, NaN where nothing was counted."""
    return numerator / denominator if denominator else math.nan


def movement_figures(sums: Mapping[str, float]) -> dict[str, float]:
    """The figures from summed :func:`movement_terms`.

    ``progress`` (mean progress per counted step), the same split into ``progress_near_blue``,
    ``progress_around_blue`` and ``progress_clear_of_blue`` (NaN where no step falls in a part), the
    ``near_blue_fraction`` and ``around_blue_fraction`` of counted steps, ``slow_fraction`` of all steps and
    touches per step ``pink_rate``, ``blue_rate``.
    """
    clear = sums["counted"] - sums["near"] - sums["around"]
    return {
        "progress": ratio(sums["progress"], sums["counted"]),
        "progress_near_blue": ratio(sums["progress_near"], sums["near"]),
        "progress_around_blue": ratio(sums["progress_around"], sums["around"]),
        "progress_clear_of_blue": ratio(sums["progress"] - sums["progress_near"] - sums["progress_around"], clear),
        "near_blue_fraction": ratio(sums["near"], sums["counted"]),
        "around_blue_fraction": ratio(sums["around"], sums["counted"]),
        "slow_fraction": ratio(sums["slow"], sums["steps"]),
        "pink_rate": ratio(sums["pink"], sums["steps"]),
        "blue_rate": ratio(sums["blue"], sums["steps"]),
    }


def movement_stats(trajectory: TensorDictBase, max_speed: float, near_blue: float = NEAR_BLUE,
                   around_blue: float = AROUND_BLUE) -> dict[str, float]:
    """:func:`movement_figures` of a recorded rollout ``[..., T]``."""
    terms = movement_terms(trajectory, max_speed, near_blue, around_blue)
    return movement_figures({name: value.sum().item() for name, value in terms.items()})
