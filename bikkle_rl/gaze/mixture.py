"""A mixture of gaze sources: each arena draws its source once per episode.

Training on a mixture (e.g. informative ``correlated`` gaze with ``uniform`` or ``none``) teaches a policy
that gaze which carries nothing must not hurt.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tensordict import TensorDictBase

from bikkle_rl.envs.random import ArenaRNG
from bikkle_rl.gaze.source import GazeSource, drawing, observation_device, where_rows


class MixtureGaze(GazeSource):
    """Per arena and episode, one of ``sources`` drawn with probabilities proportional to ``weights``.

    ``choice`` [N] (long) holds each arena's current component. Every component is reset and advanced for
    every arena (so stateful components stay in step), and each arena reads its own component's sample.
    """

    def __init__(self, sources: Sequence[GazeSource], weights: Sequence[float] | None = None):
        if not sources:
            raise ValueError("MixtureGaze needs at least one source")
        weights = [1.0] * len(sources) if weights is None else [float(w) for w in weights]
        if len(weights) != len(sources):
            raise ValueError(f"MixtureGaze got {len(sources)} sources but {len(weights)} weights")
        if any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError(f"mixture weights must be >= 0 with a positive sum, got {weights!r}")
        self.sources = list(sources)
        self.weights = weights
        self.choice: torch.Tensor | None = None

    @property
    def default_p_valid(self) -> float:
        defaults = {source.default_p_valid for source in self.sources}
        if len(defaults) > 1:
            raise ValueError(
                f"the mixture's sources have different default p_valid {sorted(defaults)}: give p_valid explicitly"
            )
        return defaults.pop()

    def reset(self, td: TensorDictBase, mask: torch.Tensor | None, generator: ArenaRNG) -> None:
        probs = torch.tensor(self.weights, device=observation_device(td))
        choice = generator.categorical(probs, drawing(mask, td))
        if self.choice is None or self.choice.shape != choice.shape:
            mask = None
        self.choice = where_rows(mask, choice, self.choice)
        for source in self.sources:
            source.reset(td, mask, generator)

    def is_informative(self, td: TensorDictBase) -> torch.Tensor:
        table = torch.tensor([source.informative for source in self.sources], device=observation_device(td))
        return table[self.choice].unsqueeze(-1)

    def sample(self, td, mask, generator):
        samples = [source.sample(td, mask, generator) for source in self.sources]
        gaze = torch.stack([g for g, _ in samples], 1)  # [N, S, 2]
        valid = torch.stack([v for _, v in samples], 1)  # [N, S, 1]
        rows = torch.arange(gaze.shape[0], device=gaze.device)
        return gaze[rows, self.choice], valid[rows, self.choice]
