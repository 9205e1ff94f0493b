"""How a policy moves, beside what it scores: where an agent's gap to greedy comes from.

The arena's velocity box is square (each axis clipped to [-1, 1] x ``max_speed``), so the time to reach a
pellet is its Chebyshev distance ``max(|dx|, |dy|) / max_speed`` and many headings reach it equally fast. The
measure of movement is therefore *progress*: how much one step shortens the Chebyshev distance to the nearest
pink, in units of ``max_speed``. Greedy makes 1.0 per step except where it sidesteps a blue; an agent that
makes less either aims badly (far from blues) or is cautious (near them), and the split tells which.
"""

from __future__ import annotations

import torch
from tensordict.nn import TensorDictModuleBase
from torchrl.envs import EnvBase
from torchrl.envs.utils import ExplorationType, set_exploration_type

from bikkle_rl.envs.dynamics import BLUE, PINK

REQUIRED_KEYS = ("agent_pos", "pellet_rel", "pellet_kind", "pellet_mask", ("next", "agent_pos"),
                 ("next", "events", "pink"), ("next", "events", "blue"))


def chebyshev(vector: torch.Tensor) -> torch.Tensor:
    """``max(|x|, |y|)`` over the last dimension: steps at full speed needed to cover ``vector``."""
    return vector.abs().amax(-1)


def movement_stats(trajectory, max_speed: float, near_blue: float = 0.2) -> dict[str, float]:
    """Movement figures of a rollout ``[..., T]`` (see the module docstring).

    Returns ``progress`` (mean Chebyshev progress toward the nearest pink per step, in ``max_speed`` units,
    over steps without a touch, which respawns pellets), the same split into ``progress_near_blue`` and
    ``progress_far_from_blue`` (the nearest blue closer than ``near_blue`` or not; NaN where no step falls in
    a part), ``near_blue_fraction`` of those steps, ``slow_fraction`` (steps covering less than 0.9 of
    ``max_speed`` along their larger axis) and touches per step ``pink_rate``, ``blue_rate``.
    """
    missing = [key for key in REQUIRED_KEYS if key not in trajectory.keys(include_nested=True)]
    if missing:
        raise KeyError(f"movement_stats: the rollout lacks {missing} (run it on a BikkleEnv-based stack)")
    position, next_position = trajectory["agent_pos"], trajectory["next", "agent_pos"]
    rel, kind, mask = trajectory["pellet_rel"], trajectory["pellet_kind"], trajectory["pellet_mask"]
    pink_steps = torch.where(mask & (kind == PINK), chebyshev(rel), torch.inf)
    nearest = pink_steps.argmin(-1, keepdim=True)
    target = position + rel.gather(-2, nearest.unsqueeze(-1).expand(*nearest.shape, 2)).squeeze(-2)
    progress = (chebyshev(target - position) - chebyshev(target - next_position)) / max_speed
    blue_distance = torch.where(mask & (kind == BLUE), rel.norm(dim=-1), torch.inf).amin(-1)
    pinks = trajectory["next", "events", "pink"].squeeze(-1).float()
    blues = trajectory["next", "events", "blue"].squeeze(-1).float()
    counted = (pinks + blues == 0) & torch.isfinite(pink_steps).any(-1)
    near = blue_distance < near_blue
    speed = chebyshev(next_position - position) / max_speed
    return {
        "progress": progress[counted].mean().item(),
        "progress_near_blue": progress[counted & near].mean().item(),
        "progress_far_from_blue": progress[counted & ~near].mean().item(),
        "near_blue_fraction": near[counted].float().mean().item(),
        "slow_fraction": (speed < 0.9).float().mean().item(),
        "pink_rate": pinks.mean().item(),
        "blue_rate": blues.mean().item(),
    }


@torch.no_grad()
def measure_movement(policy: TensorDictModuleBase, env: EnvBase, near_blue: float = 0.2,
                     deterministic: bool = True) -> dict[str, float]:
    """:func:`movement_stats` of ``policy`` over one episode in each of the env's arenas (seed the env first)."""
    steps = env.base_env.config.max_steps
    exploration = ExplorationType.DETERMINISTIC if deterministic else ExplorationType.RANDOM
    with set_exploration_type(exploration):
        trajectory = env.rollout(steps, policy, break_when_any_done=False)
    return movement_stats(trajectory, env.base_env.config.max_speed, near_blue)
