"""Typed configuration of the Bikkle arena (the task's defaults, ``docs/task.md``), validated at construction."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

EPISODE_MODES = ("episodic", "continuing")
ACTION_MODES = ("velocity", "heading")
START_ROUND_STEPS = ("zero", "uniform")


def count_range(value: Any, name: str, minimum: int) -> tuple[int, int]:
    """Normalises a pellet count, an int or a ``[low, high]`` pair, to an inclusive ``(low, high)`` range."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an int or a [low, high] pair, got {value!r}")
    if isinstance(value, int):
        low = high = value
    else:
        try:
            low, high = (int(v) for v in value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be an int or a [low, high] pair, got {value!r}") from None
    if low < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value!r}")
    if high < low:
        raise ValueError(f"{name} range [low, high] needs low <= high, got {value!r}")
    return low, high


@dataclass
class BikkleConfig:
    """Every parameter of the arena; defaults are the original prototype's (``docs/task.md``).

    ``num_pink`` / ``num_blue`` are an int or an inclusive ``[low, high]`` range drawn per episode;
    observations are padded to the maximum count and carry ``pellet_mask``. Hydra can fill this
    dataclass directly (it is the ``env`` config group's schema).
    """

    num_pink: Any = 2
    num_blue: Any = 2
    max_speed: float = 0.02
    agent_radius: float = 0.04
    pellet_radius: float = 0.04
    round_len: int = 100
    max_steps: int = 200
    episode_mode: str = "episodic"
    action_mode: str = "velocity"
    pink_reward: float = 1.0
    blue_reward: float = -10.0
    high_value_reward: float = 5.0
    shaping: float = 0.0
    start_round_step: str = "zero"
    spawn_candidates: int = field(default=0, metadata={"help": "0 = chosen from the pellet density"})

    def __post_init__(self) -> None:
        self.pink_range = count_range(self.num_pink, "num_pink", 1)
        self.blue_range = count_range(self.num_blue, "num_blue", 0)
        for name in ("max_speed", "agent_radius", "pellet_radius"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("round_len", "max_steps"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.episode_mode not in EPISODE_MODES:
            raise ValueError(f"episode_mode must be one of {EPISODE_MODES}, got {self.episode_mode!r}")
        if self.action_mode not in ACTION_MODES:
            raise ValueError(f"action_mode must be one of {ACTION_MODES}, got {self.action_mode!r}")
        if self.start_round_step not in START_ROUND_STEPS:
            raise ValueError(
                f"start_round_step must be one of {START_ROUND_STEPS}, got {self.start_round_step!r}"
            )
        if self.shaping < 0:
            raise ValueError(f"shaping must be >= 0, got {self.shaping!r}")
        if self.spawn_candidates < 0:
            raise ValueError(f"spawn_candidates must be >= 0, got {self.spawn_candidates!r}")
        if self.blocked_fraction > 0.5:
            raise ValueError(
                f"pellet_radius={self.pellet_radius} is too large for {self.num_pellets} pellets to fit: "
                f"their keep-out discs cover {self.blocked_fraction:.0%} of the arena (at most 50% allowed)"
            )

    @property
    def max_pink(self) -> int:
        return self.pink_range[1]

    @property
    def max_blue(self) -> int:
        return self.blue_range[1]

    @property
    def num_pellets(self) -> int:
        """P, the padded number of pellet slots: pinks first, then blues."""
        return self.max_pink + self.max_blue

    @property
    def touch_distance(self) -> float:
        """Agent and pellet touch when their centres are at most this far apart."""
        return self.agent_radius + self.pellet_radius

    @property
    def blocked_fraction(self) -> float:
        """Upper bound on the arena fraction a spawn must avoid (all pellets' and the agent's keep-out discs)."""
        pellet_disc = math.pi * (2 * self.pellet_radius) ** 2
        agent_disc = math.pi * self.touch_distance**2
        return self.num_pellets * pellet_disc + agent_disc

    @property
    def num_spawn_candidates(self) -> int:
        """Candidates drawn per spawn so that all failing has probability below 1e-12 (see ``dynamics``)."""
        if self.spawn_candidates:
            return self.spawn_candidates
        return max(8, math.ceil(math.log(1e-12) / math.log(max(self.blocked_fraction, 1e-3))))

    def to_dict(self) -> dict[str, Any]:
        """The user-facing fields (what a checkpoint or Hydra stores)."""
        return asdict(self)
