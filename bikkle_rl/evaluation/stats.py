"""Summary statistics for per-episode results: bootstrap confidence intervals and the interquartile mean.

Statistics reduce the last dimension, so a bootstrap evaluates all resamples of a chunk in one call.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

Statistic = Callable[[torch.Tensor], torch.Tensor]

CONFIDENCE = 0.95
"""Default confidence level of every interval."""
NUM_RESAMPLES = 10_000
"""Default number of bootstrap resamples."""
BOOTSTRAP_CHUNK_ELEMENTS = 1 << 22
"""Resampled values held in memory at once (the bootstrap runs in chunks of resamples)."""


def mean(values: torch.Tensor) -> torch.Tensor:
    """Mean over the last dimension: [..., E] -> [...]."""
    return values.mean(-1)


def interquartile_mean(values: torch.Tensor) -> torch.Tensor:
    """Mean of the middle half over the last dimension: [..., E] -> [...].

    ``floor(E / 4)`` values are dropped at each end (as ``scipy.stats.trim_mean(x, 0.25)`` and ``rliable``).
    """
    count = values.shape[-1]
    if count == 0:
        raise ValueError("interquartile_mean needs at least one value")
    cut = count // 4
    return values.sort(-1).values[..., cut:count - cut].mean(-1)


def bootstrap_ci(values: torch.Tensor, confidence: float = CONFIDENCE, num_resamples: int = NUM_RESAMPLES,
                 generator: torch.Generator | None = None, statistic: Statistic = mean) -> tuple[float, float]:
    """Percentile bootstrap confidence interval ``(low, high)`` of ``statistic`` over ``values`` [E].

    Episodes are resampled with replacement ``num_resamples`` times; the interval spans the central
    ``confidence`` mass of the resampled statistic.
    """
    values = torch.as_tensor(values, dtype=torch.float64).flatten()
    if values.numel() == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if num_resamples < 1:
        raise ValueError(f"num_resamples must be >= 1, got {num_resamples!r}")
    count = values.numel()
    chunk = max(1, BOOTSTRAP_CHUNK_ELEMENTS // count)
    resampled = []
    for start in range(0, num_resamples, chunk):
        rows = min(chunk, num_resamples - start)
        index = torch.randint(count, (rows, count), generator=generator)
        resampled.append(statistic(values[index]))
    resampled = torch.cat(resampled)
    tail = (1.0 - confidence) / 2.0
    low, high = torch.quantile(resampled, torch.tensor([tail, 1.0 - tail], dtype=torch.float64)).tolist()
    return low, high


def summarize(values: torch.Tensor, confidence: float = CONFIDENCE, num_resamples: int = NUM_RESAMPLES,
              generator: torch.Generator | None = None) -> dict[str, float | int]:
    """Per-scenario summary of episode results ``values`` [E], ready for ``eval.json``.

    Keys: ``mean``, ``std`` (sample std), ``stderr`` (std / sqrt(E)), ``iqm`` (interquartile mean),
    ``ci_low`` / ``ci_high`` (bootstrap CI of the mean) and ``episodes``.
    """
    values = torch.as_tensor(values, dtype=torch.float64).flatten()
    count = values.numel()
    std = values.std().item() if count > 1 else 0.0
    ci_low, ci_high = bootstrap_ci(values, confidence, num_resamples, generator)
    return {
        "mean": values.mean().item(),
        "std": std,
        "stderr": std / math.sqrt(count),
        "iqm": interquartile_mean(values).item(),
        "ci_low": ci_low,
        "ci_high": ci_high,
        "episodes": count,
    }
