"""Learning-curve plots: training episode return against environment steps and against wall time."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_learning_curve(history: Sequence[dict], path: str | Path, reference: float | None = None,
                        reference_label: str = "greedy (evaluation)") -> Path:
    """Two panels (return vs steps, return vs minutes) from ``history`` rows ``{frames, seconds, return}``.

    Training returns come from the training env (e.g. episodic episodes), so they are read for their trend;
    ``reference`` draws an evaluation figure (e.g. greedy's return) as a horizontal line.
    """
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    frames = [row["frames"] for row in history]
    minutes = [row["seconds"] / 60 for row in history]
    returns = [row["return"] for row in history]
    for ax, xs, label in ((axes[0], frames, "environment steps"), (axes[1], minutes, "wall time (minutes)")):
        ax.plot(xs, returns, linewidth=1.2)
        if reference is not None:
            ax.axhline(reference, color="grey", linestyle="--", linewidth=1, label=reference_label)
            ax.legend(fontsize=8)
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("training episode return")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
