"""Reusing a training run already in a directory instead of training it again.

A long experiment spread over several sittings (``benchmarks/gaze_value.py --reuse``) reads the runs an earlier
sitting finished and continues those it left unfinished, but only runs trained with the settings it asks for:
:func:`reusable_checkpoint` says which checkpoint to start from and whether there is anything left to train.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bikkle_rl.checkpoint import load_checkpoint
from bikkle_rl.plain_config import plain_config
from bikkle_rl.run_config import with_schema_defaults
from bikkle_rl.run_directory import FINAL_CHECKPOINT, run_checkpoints

SHARED_SETTINGS = ("env", "gaze", "model", "algo", "seed", "oracle")
"""The settings a reused run must share with the one asked for (typed groups compared with their schema's defaults
filled in, so that a field added since, at its default, still matches)."""


def differing_settings(saved: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    """The :data:`SHARED_SETTINGS` in which two run configs differ."""
    saved, wanted = with_schema_defaults(saved), with_schema_defaults(wanted)
    return [key for key in SHARED_SETTINGS if saved.get(key) != wanted.get(key)]


def reusable_checkpoint(run_dir: Path, cfg: Any) -> tuple[Path | None, bool]:
    """The run in ``run_dir`` as far as it got, once checked to share ``cfg``'s settings, and whether it is finished.

    The checkpoint is its ``final.pt``, or, for a run stopped before its end (killed, machine gone), its newest
    periodic checkpoint; None when there is no run. A run is continued up to ``cfg``'s frame budget, so a finished
    run whose budget ``cfg`` raises goes on from ``final.pt``. A run trained with other settings, or for more
    frames than ``cfg``'s, raises ValueError naming them.
    """
    found = run_checkpoints(run_dir)
    if not found:
        return None, False
    start = found[-1]
    saved = load_checkpoint(start, expected={"config": None})["config"]
    wanted = plain_config(cfg)
    if differing := differing_settings(saved, wanted):
        raise ValueError(f"{start} was trained with other {differing} settings than this run's; move that run away "
                         "or train this one elsewhere")
    if saved["total_frames"] > wanted["total_frames"]:
        raise ValueError(f"{start} was trained for {saved['total_frames']} frames, more than this run's "
                         f"{wanted['total_frames']}; move that run away or train this one elsewhere")
    return start, start.name == FINAL_CHECKPOINT and saved["total_frames"] == wanted["total_frames"]
