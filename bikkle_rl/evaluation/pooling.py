"""One evaluation pooled over a run's last checkpoints: a yardstick steadier than one checkpoint.

A long run's figures move by 0.1-0.2 between checkpoints a million steps apart, as much as the evaluation's own noise
(``docs/gaze_value.md``), so a verdict read off the final checkpoint alone can flip on which checkpoint it was.
``bikkle-eval ... pool_earlier=2`` evaluates the checkpoint and the two numbered checkpoints saved before it, each on
layouts of its own (every policy, references included, on the same layouts within a checkpoint's part), and pools
their episodes into each cell: the figures of the run's last stretch rather than of its last moment.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from bikkle_rl.checkpoint import load_checkpoint, numbered_checkpoints
from bikkle_rl.evaluation.cells import Cells, returns_of, summarize_returns
from bikkle_rl.run_config import ConfigError
from bikkle_rl.run_directory import CHECKPOINT_DIR, run_dir_of

POOL_SEED_STRIDE = 1000
"""The ``i``-th pooled checkpoint plays from the layouts of ``seed + i * POOL_SEED_STRIDE``: apart from the
checkpoint's own, and from the other seeds a benchmark evaluates (0, 1, 2, ...)."""


def pooled_seed(seed: int, index: int) -> int:
    """The layout seed of the ``index``-th checkpoint of a pooled evaluation (0: the checkpoint asked for)."""
    return seed + index * POOL_SEED_STRIDE


def earlier_checkpoints(checkpoint: str | Path, count: int) -> list[Path]:
    """The ``count`` newest numbered checkpoints of ``checkpoint``'s run saved before it (fewer frames), newest first.

    A finished run's ``final.pt`` holds the same frames as its newest numbered checkpoint, which is therefore not
    among them. Raises :class:`ConfigError` naming ``pool_earlier`` when the run kept fewer."""
    if count == 0:
        return []
    frames = load_checkpoint(checkpoint, expected={"frames": None})["frames"]
    folder = run_dir_of(checkpoint) / CHECKPOINT_DIR
    earlier = [path for step, path in reversed(numbered_checkpoints(folder)) if step < frames]
    if len(earlier) < count:
        raise ConfigError(f"pool_earlier={count}: {str(checkpoint)!r} ({frames} frames) has {len(earlier)} earlier "
                          f"checkpoints in {str(folder)!r} (a run keeps checkpoint.keep_last of them)")
    return earlier[:count]


def pool_cells(parts: Sequence[Cells]) -> Cells:
    """Each cell's episodes of every part, one after the other (the parts hold the same scenarios and policies)."""
    first = parts[0]
    return {scenario: {name: {key: torch.cat([part[scenario][name][key] for part in parts]) for key in results}
                       for name, results in row.items()} for scenario, row in first.items()}


def pooled_parts(checkpoints: Sequence[str | Path], parts: Sequence[Cells], seed: int) -> list[dict]:
    """Each pooled checkpoint's own figures, as ``eval.json`` keeps them beside the pooled ones: its path, the seed
    of its layouts and ``{scenario: {policy: summary}}`` over its episodes alone (the first: the checkpoint asked
    for, exactly its evaluation without pooling)."""
    return [{"checkpoint": str(path), "layout_seed": pooled_seed(seed, index),
             "results": summarize_returns(returns_of(part), seed)}
            for index, (path, part) in enumerate(zip(checkpoints, parts, strict=True))]


def format_pooled_parts(parts: Sequence[dict]) -> str:
    """The markdown table of the agent's mean return per pooled checkpoint and scenario (empty when not pooled)."""
    if not parts:
        return ""
    scenarios = list(parts[0]["results"])
    lines = ["\nThe agent per pooled checkpoint (mean return; each on layouts of its own):\n",
             "| checkpoint | " + " | ".join(scenarios) + " |", "|---|" + "---|" * len(scenarios)]
    lines += [f"| {Path(part['checkpoint']).name} | " + " | ".join(
        f"{part['results'][scenario]['agent']['mean']:.2f}" for scenario in scenarios) + " |" for part in parts]
    return "\n".join(lines) + "\n"
