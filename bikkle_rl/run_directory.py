"""Where a training run writes: a directory of its own, or the directory of the run it resumes.

Two runs started in the same second must not share a directory (their CSVs would interleave and their
checkpoints overwrite each other), so the default directory ends in a random token. The Hydra resolvers below
build it in ``train.yaml``::

    hydra.run.dir: ${run_dir:${resume},outputs/${now:%Y-%m-%d}/${now:%H-%M-%S}-${run_id:}}

A resumed run (``resume=<checkpoint or run directory>``) goes on writing where it wrote before.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from omegaconf import OmegaConf

from bikkle_rl.atomic_write import PathLike

RUN_TOKEN = secrets.token_hex(3)
"""This process's run token: the same for every resolution of the run directory, different between processes."""

FINAL_CHECKPOINT = "final.pt"
CHECKPOINT_DIR = "checkpoints"


class RunDirectoryError(RuntimeError):
    """A run directory cannot be used as asked (it holds another run, or a resume target is missing)."""


def run_checkpoints(run_dir: Path) -> list[Path]:
    """The checkpoints a run directory holds: numbered ones, oldest first, then ``final.pt``."""
    numbered = sorted((run_dir / CHECKPOINT_DIR).glob("*.pt")) if (run_dir / CHECKPOINT_DIR).is_dir() else []
    final = run_dir / FINAL_CHECKPOINT
    return numbered + ([final] if final.is_file() else [])


def resume_checkpoint(target: PathLike) -> Path:
    """The checkpoint ``resume=target`` means: the file itself, or a run directory's newest checkpoint.

    A finished run's ``final.pt`` is newer than its numbered checkpoints and holds the same frames.
    """
    target = Path(target)
    if target.is_dir():
        found = run_checkpoints(target)
        if not found:
            raise RunDirectoryError(f"resume={str(target)!r} is a directory without checkpoints "
                                    f"({CHECKPOINT_DIR}/*.pt or {FINAL_CHECKPOINT})")
        return found[-1]
    if not target.is_file():
        raise RunDirectoryError(f"resume={str(target)!r} does not exist")
    return target


def run_dir_of(checkpoint: PathLike) -> Path:
    """The run directory a checkpoint belongs to: the parent of its ``checkpoints/`` folder, else its folder."""
    path = Path(checkpoint)
    if path.is_dir():
        return path
    return path.parent.parent if path.parent.name == CHECKPOINT_DIR else path.parent


def claim_run_dir(run_dir: Path, resume: PathLike | None) -> None:
    """Refuses a directory holding another run's checkpoints, so that one run never overwrites another's.

    A resumed run may write where its checkpoint lives. Partial checkpoints a killed write left behind
    (``.final.pt.*.tmp``) are removed; the numbered ones are cleaned by the checkpoint manager.
    """
    own = resume is not None and run_dir_of(resume_checkpoint(resume)).resolve() == run_dir.resolve()
    if not own and (found := run_checkpoints(run_dir)):
        raise RunDirectoryError(
            f"run directory {str(run_dir)!r} already holds another run's checkpoints ({found[-1].name}): continue "
            f"that run with resume={run_dir}, or start this one elsewhere (hydra.run.dir=...)")
    for leftover in run_dir.glob(f".{FINAL_CHECKPOINT}.*.tmp"):
        leftover.unlink(missing_ok=True)


def default_run_dir(resume: str | None, fresh: str) -> str:
    """The ``run_dir`` resolver: a resumed run's own directory, else ``fresh``."""
    return str(run_dir_of(resume_checkpoint(resume))) if resume else fresh


def register_resolvers() -> None:
    """Registers ``${run_id:}`` and ``${run_dir:resume,fresh}`` for the recipes' Hydra configs."""
    OmegaConf.register_new_resolver("run_id", lambda: RUN_TOKEN, replace=True)
    OmegaConf.register_new_resolver("run_dir", default_run_dir, replace=True)
