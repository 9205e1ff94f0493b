"""Learning curves: the agent's evaluation return recorded during training, and its plot."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from tensordict.nn import TensorDictModuleBase
from torchrl.envs import EnvBase

from bikkle_rl.evaluation.rollout import evaluate_policy


class LearningCurve:
    """Evaluates the policy every ``every_frames`` environment steps on the same seeded episodes.

    ``rows`` holds ``{frames, seconds, return}`` (seconds since the curve was created), so the curve can be
    read against steps and against wall time in the units of the final evaluation. A resumed run passes its
    checkpoint's ``rows``: the curve goes on from them, its seconds counting on from the last row's (the time the
    run stood still is not counted).
    """

    def __init__(self, env: EnvBase, seed: int, every_frames: int, rows: list[dict[str, float]] = ()):
        if every_frames < 1:
            raise ValueError(f"evaluation.every_frames must be >= 1, got {every_frames!r}")
        self.env, self.seed, self.every_frames = env, seed, every_frames
        self.rows: list[dict[str, float]] = [dict(row) for row in rows]
        self.start = time.perf_counter() - (self.rows[-1]["seconds"] if self.rows else 0.0)
        self.next_frames = self.rows[-1]["frames"] + every_frames if self.rows else 0

    def evaluate(self, policy: TensorDictModuleBase, frames: int) -> float:
        """Records one point now and returns the mean evaluation return."""
        seconds = time.perf_counter() - self.start
        self.env.set_seed(self.seed)
        mean_return = evaluate_policy(policy, self.env)["return"].mean().item()
        self.rows.append({"frames": frames, "seconds": seconds, "return": mean_return})
        self.next_frames = frames + self.every_frames
        return mean_return

    def evaluate_final(self, policy: TensorDictModuleBase, frames: int) -> None:
        """Records the point at the end of training, unless the last evaluation was at ``frames`` already."""
        if not self.rows or self.rows[-1]["frames"] != frames:
            self.evaluate(policy, frames)

    def maybe_evaluate(self, policy: TensorDictModuleBase, frames: int) -> float | None:
        """Records a point when ``every_frames`` steps have passed since the last one."""
        return self.evaluate(policy, frames) if frames >= self.next_frames else None

    @property
    def latest(self) -> float:
        return self.rows[-1]["return"] if self.rows else float("nan")


def plot_learning_curve(rows: list[dict], path: str | Path, reference: float | None = None,
                        reference_label: str = "greedy") -> Path:
    """Two panels from ``rows`` ``{frames, seconds, return}``: return vs steps and return vs minutes."""
    return plot_learning_curves({"agent": rows}, path, reference, reference_label)


def plot_learning_curves(curves: Mapping[str, list[dict]], path: str | Path, reference: float | None = None,
                         reference_label: str = "greedy", title: str | None = None) -> Path:
    """Several runs' curves by label, in the two panels of :func:`plot_learning_curve`."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    panels = ((axes[0], "frames", 1, "environment steps"), (axes[1], "seconds", 60, "wall time (minutes)"))
    for ax, key, scale, label in panels:
        for name, rows in curves.items():
            xs = [row[key] / scale for row in rows]
            ax.plot(xs, [row["return"] for row in rows], marker=".", linewidth=1.2, label=name)
        if reference is not None:
            ax.axhline(reference, color="grey", linestyle="--", linewidth=1, label=reference_label)
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("evaluation return")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
