"""A model of a real (webcam) eye tracker watching a person who watches the arena.

The person's eye makes fixations of ``fixation_ms`` (uniform in a range, 200-400 ms by default) and jumps
(saccades) between pellets: each new fixation lands on the high-value pellet with probability
``high_value_bias``, otherwise on one of the other present pellets, with a per-fixation landing offset
``N(0, fixation_std^2)``. The tracker adds per-sample noise ``N(0, noise_std^2)`` (clipped to the arena),
delivers each sample ``latency_steps`` steps late, and loses the eye in bursts: a two-state Markov chain
(tracking -> lost with probability ``p_drop`` per step, lost -> tracking with ``p_recover``), so dropouts last
``1 / p_recover`` steps on average and the tracker is valid ``p_recover / (p_drop + p_recover)`` of the time.

``high_value_bias`` may be a range ``[low, high]``: each arena then draws its bias uniformly from it per episode,
a person whose gaze tells the high-value pellet more or less reliably (training over how informative gaze is).

One env step lasts ``step_ms`` milliseconds (100 ms: fixations cover 2-4 steps). The eye fixates a point,
not a slot, so a pellet collected mid-fixation leaves the gaze where it was until the next saccade.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tensordict import TensorDictBase

from bikkle_rl.envs.keys import PRIVILEGED
from bikkle_rl.envs.random import ArenaRNG, Arenas
from bikkle_rl.gaze.source import GazeSource, drawing, observation_device, where_rows


def bias_bounds(bias: float | Sequence[float]) -> tuple[float, float]:
    """``(low, high)`` of a high-value bias given as one value or a range ``[low, high]`` (a clear error otherwise)."""
    values = [bias] if isinstance(bias, (int, float)) else list(bias)
    if len(values) not in (1, 2) or (len(values) == 2 and values[0] > values[1]):
        raise ValueError(f"high_value_bias must be a probability or a range [low, high], got {bias!r}")
    return float(values[0]), float(values[-1])


class RealisticGaze(GazeSource):
    """Fixations and saccades biased toward the high-value pellet, noise, latency and bursty dropouts.

    Per-arena state (batch [N]): the fixated point [N, 2], the time left in the fixation [N] (ms), whether the
    tracker has the eye [N], and the latency pipeline of the last ``latency_steps`` samples [N, k, 2] / [N, k].
    The random numbers drawn per call do not depend on the state or on ``latency_steps``, so two sources that
    differ only in latency produce the same samples shifted by exactly that many steps.
    """

    default_p_valid = 1.0

    def __init__(self, step_ms: float = 100.0, fixation_ms: tuple[float, float] = (200.0, 400.0),
                 high_value_bias: float | Sequence[float] = 0.6, fixation_std: float = 0.03, noise_std: float = 0.05,
                 latency_steps: int = 2, p_drop: float = 0.05, p_recover: float = 0.25):
        low, high = (float(v) for v in fixation_ms)
        if not 0 < low <= high:
            raise ValueError(f"fixation_ms must be a range 0 < low <= high, got {fixation_ms!r}")
        if not step_ms > 0:
            raise ValueError(f"step_ms must be > 0, got {step_ms!r}")
        bias_range = bias_bounds(high_value_bias)
        for name, p in (("high_value_bias", bias_range[0]), ("high_value_bias", bias_range[1]), ("p_drop", p_drop),
                        ("p_recover", p_recover)):
            if not 0 <= p <= 1:
                raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}")
        if p_drop + p_recover == 0:
            raise ValueError("p_drop and p_recover cannot both be 0")
        if fixation_std < 0 or noise_std < 0:
            raise ValueError(f"fixation_std and noise_std must be >= 0, got {fixation_std!r}, {noise_std!r}")
        if int(latency_steps) < 0:
            raise ValueError(f"latency_steps must be >= 0, got {latency_steps!r}")
        self.step_ms = float(step_ms)
        self.fixation_ms = (low, high)
        self.high_value_bias = bias_range[0] if bias_range[0] == bias_range[1] else bias_range
        self._bias: torch.Tensor | None = None  # per arena [N], with a range of biases
        self.fixation_std = float(fixation_std)
        self.noise_std = float(noise_std)
        self.latency_steps = int(latency_steps)
        self.p_drop = float(p_drop)
        self.p_recover = float(p_recover)
        self._fixation: torch.Tensor | None = None

    @property
    def valid_fraction(self) -> float:
        """Long-run fraction of steps on which the tracker has the eye (before latency)."""
        return self.p_recover / (self.p_drop + self.p_recover)

    def reset(self, td: TensorDictBase, mask: torch.Tensor | None, generator: ArenaRNG) -> None:
        n, device = td.batch_size[0], observation_device(td)
        tracking = generator.uniform(drawing(mask, td)) < self.valid_fraction
        bias = None
        if isinstance(self.high_value_bias, tuple):
            low, high = self.high_value_bias
            bias = low + (high - low) * generator.uniform(drawing(mask, td))
        if mask is None or self._fixation is None or self._fixation.shape[0] != n:
            mask = None
            self._bias = bias
            self._fixation = torch.zeros(n, 2, device=device)
            self._fixation_left = torch.zeros(n, device=device)
            self._tracking = tracking
            self._pipeline_gaze = torch.zeros(n, self.latency_steps, 2, device=device)
            self._pipeline_valid = torch.zeros(n, self.latency_steps, dtype=torch.bool, device=device)
            return
        self._fixation_left = where_rows(mask, torch.zeros_like(self._fixation_left), self._fixation_left)
        self._tracking = where_rows(mask, tracking, self._tracking)
        self._pipeline_valid = where_rows(mask, torch.zeros_like(self._pipeline_valid), self._pipeline_valid)
        if bias is not None:
            self._bias = where_rows(mask, bias, self._bias)

    def _new_fixation(self, td: TensorDictBase, arenas: Arenas, generator: ArenaRNG
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """A freshly drawn fixation point [N, 2] and its duration [N] (ms) for every arena."""
        pellet_pos = td.get((PRIVILEGED, "pellet_pos"))
        is_high = td.get((PRIVILEGED, "is_high_value"))
        n, num_pellets, device = pellet_pos.shape[0], pellet_pos.shape[1], pellet_pos.device
        others = td.get("pellet_mask") & ~is_high
        other_scores = generator.uniform(arenas, num_pellets)
        other_slot = torch.where(others, other_scores, -1.0).argmax(-1)
        pick_high = generator.uniform(arenas) < (self._bias if self._bias is not None else self.high_value_bias)
        slot = torch.where(pick_high | ~others.any(-1), is_high.to(torch.uint8).argmax(-1), other_slot)
        offset = self.fixation_std * generator.normal(arenas, 2)
        point = pellet_pos[torch.arange(n, device=device), slot] + offset
        low, high = self.fixation_ms
        duration = low + (high - low) * generator.uniform(arenas)
        return point, duration

    def sample(self, td, mask, generator):
        if self._fixation is None or self._fixation.shape[0] != td.batch_size[0]:
            raise RuntimeError("RealisticGaze.sample called before reset for this batch")
        point, duration = self._new_fixation(td, drawing(mask, td), generator)
        saccade = self._fixation_left <= 0
        fixation = torch.where(saccade[:, None], point, self._fixation)
        fixation_left = torch.where(saccade, duration, self._fixation_left) - self.step_ms

        flip = generator.uniform(drawing(mask, td))
        tracking = torch.where(self._tracking, flip >= self.p_drop, flip < self.p_recover)
        noise = self.noise_std * generator.normal(drawing(mask, td), 2)
        gaze = (fixation + noise).clamp(0.0, 1.0)

        self._fixation = where_rows(mask, fixation, self._fixation)
        self._fixation_left = where_rows(mask, fixation_left, self._fixation_left)
        self._tracking = where_rows(mask, tracking, self._tracking)
        if self.latency_steps == 0:
            return gaze, tracking[:, None]
        delayed_gaze, delayed_valid = self._pipeline_gaze[:, 0], self._pipeline_valid[:, 0]
        pipeline_gaze = torch.cat((self._pipeline_gaze[:, 1:], gaze[:, None]), 1)
        pipeline_valid = torch.cat((self._pipeline_valid[:, 1:], tracking[:, None]), 1)
        self._pipeline_gaze = where_rows(mask, pipeline_gaze, self._pipeline_gaze)
        self._pipeline_valid = where_rows(mask, pipeline_valid, self._pipeline_valid)
        return delayed_gaze, delayed_valid[:, None]
