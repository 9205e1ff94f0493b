"""A console progress bar over environment steps: steps/s and the latest metrics (e.g. recent return)."""

from __future__ import annotations

from collections.abc import Mapping

from tqdm.auto import tqdm
from typing_extensions import Self


class TrainingProgress:
    """A tqdm bar counting environment steps; tqdm's rate reads as steps/s.

    Examples:
        >>> with TrainingProgress(total_steps=1_000_000) as progress:
        ...     progress.update(4096, {"return": 21.3})
    """

    def __init__(self, total_steps: int, initial_steps: int = 0, disable: bool = False):
        self.bar = tqdm(total=total_steps, initial=initial_steps, unit="step", unit_scale=True,
                        dynamic_ncols=True, disable=disable)

    def update(self, steps: int, metrics: Mapping[str, float] | None = None) -> None:
        """Advances by ``steps`` and shows ``metrics`` (floats) after the rate."""
        if metrics:
            self.bar.set_postfix({name: f"{value:.3g}" for name, value in metrics.items()}, refresh=False)
        self.bar.update(steps)

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
