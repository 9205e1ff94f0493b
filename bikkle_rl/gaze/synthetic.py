"""The original's synthetic gaze sources, plus the oracle upper bound. All are stateless."""

from __future__ import annotations

import torch
from tensordict import TensorDictBase

from bikkle_rl.gaze.source import GazeSource, drawing, high_value_position, observation_device


def _always_valid(td: TensorDictBase) -> torch.Tensor:
    return torch.ones(*td.batch_size, 1, dtype=torch.bool, device=observation_device(td))


class CorrelatedGaze(GazeSource):
    """Gaussian around the high-value pellet: ``N(pellet, std^2 I)`` clipped to the arena (the task's std: 0.05)."""

    def __init__(self, std: float = 0.05):
        if not std >= 0:
            raise ValueError(f"correlated gaze std must be >= 0, got {std!r}")
        self.std = float(std)

    def sample(self, td, mask, generator):
        target = high_value_position(td)
        noise = generator.normal(drawing(mask, td), 2)
        return (target + self.std * noise).clamp(0.0, 1.0), _always_valid(td)


class UniformGaze(GazeSource):
    """Uniform over the arena, independent of everything: the no-information control.

    Plain ``U([0, 1]^2)``; the original's variant (uniform point plus N(0, 0.05) noise, clipped) put a little
    extra mass on the border, which this one does not.
    """

    informative = False

    def sample(self, td, mask, generator):
        gaze = generator.uniform(drawing(mask, td), 2)
        return gaze, _always_valid(td)


class NoGaze(GazeSource):
    """The tracker never sees the eye: always invalid (gaze reads zero)."""

    informative = False

    def sample(self, td, mask, generator):
        gaze = torch.zeros(*td.batch_size, 2, device=observation_device(td))
        return gaze, torch.zeros(*td.batch_size, 1, dtype=torch.bool, device=observation_device(td))


class OracleGaze(GazeSource):
    """The exact high-value position, always valid: the upper bound on what gaze can tell."""

    default_p_valid = 1.0

    def sample(self, td, mask, generator):
        return high_value_position(td), _always_valid(td)
