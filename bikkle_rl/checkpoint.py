"""Checkpoints that survive crashes: atomic writes, rotation, clear errors, and RNG state capture.

A checkpoint is a plain dict (``payload``) of tensors, state dicts, numbers, strings and containers of them,
saved with ``torch.save`` and loaded with ``weights_only=True`` (no arbitrary pickles). Store configs as plain
dicts (e.g. ``OmegaConf.to_container(cfg, resolve=True)``).

Example::

    manager = CheckpointManager("runs/ppo/checkpoints", keep_last=3)
    manager.save(step, {"model": model.state_dict(), "rng": capture_rng_state({"env": env.rng})})
    payload = load_checkpoint(manager.latest(), expected={"model": model, "rng": None})
    load_state(model, payload["model"], manager.latest(), "model")
"""

from __future__ import annotations

import random
import re
import shutil
import sys
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from bikkle_rl.atomic_write import PathLike, write_atomically
from bikkle_rl.buffers import ReplayBuffer


class CheckpointError(RuntimeError):
    """A checkpoint file cannot be read or does not fit what it is loaded into; the message names the file."""


def save_checkpoint(path: PathLike, payload: Mapping[str, Any]) -> Path:
    """Writes ``payload`` to ``path`` atomically (:func:`~bikkle_rl.atomic_write.write_atomically`): a reader
    sees the old file or the complete new one, and a failed write leaves an existing ``path`` untouched."""
    return write_atomically(path, lambda file: torch.save(dict(payload), file))


def load_checkpoint(path: PathLike, expected: Mapping[str, Any] | None = None,
                    map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Reads a checkpoint and checks it holds what the caller needs.

    ``expected`` maps payload keys to what their entry must fit: ``None`` (only present), an ``nn.Module``
    or a state dict (same parameter names and shapes). Raises :class:`CheckpointError` naming the file when
    it is missing, truncated or corrupt, lacks a key, or does not fit a model.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch.load raises many types for a damaged file
        raise CheckpointError(
            f"checkpoint {str(path)!r} cannot be read (truncated, corrupt, or holding objects other than tensors "
            f"and plain containers): {type(error).__name__}: {error}"
        ) from error
    if not isinstance(payload, dict):
        raise CheckpointError(f"checkpoint {str(path)!r} holds a {type(payload).__name__}, expected a dict")
    for key, reference in (expected or {}).items():
        if key not in payload:
            raise CheckpointError(
                f"checkpoint {str(path)!r} has no entry {key!r} (it holds {sorted(payload)})"
            )
        if reference is not None:
            check_state_dict(payload[key], reference, path, key)
    return payload


def state_dict_mismatch(state_dict: Mapping[str, Any], reference: torch.nn.Module | Mapping[str, Any]) -> list[str]:
    """Human-readable differences between ``state_dict`` and a module's (or a reference) state dict."""
    if isinstance(reference, torch.nn.Module):
        reference = reference.state_dict()
    problems = [f"missing {name!r}" for name in reference if name not in state_dict]
    problems += [f"unexpected {name!r}" for name in state_dict if name not in reference]
    for name, wanted in reference.items():
        found = state_dict.get(name)
        if isinstance(wanted, torch.Tensor) and isinstance(found, torch.Tensor) and found.shape != wanted.shape:
            problems.append(f"{name!r} has shape {tuple(found.shape)}, the model expects {tuple(wanted.shape)}")
    return problems


def check_state_dict(state_dict: Any, reference: torch.nn.Module | Mapping[str, Any], path: PathLike,
                     entry: str) -> None:
    """Raises :class:`CheckpointError` if the ``entry`` of checkpoint ``path`` does not fit ``reference``."""
    if not isinstance(state_dict, Mapping):
        raise CheckpointError(f"checkpoint {str(path)!r}: entry {entry!r} is a {type(state_dict).__name__}, "
                              "expected a state dict")
    problems = state_dict_mismatch(state_dict, reference)
    if problems:
        shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise CheckpointError(f"checkpoint {str(path)!r}: entry {entry!r} does not fit the model: {shown}")


def load_state(target: Any, state_dict: Mapping[str, Any], path: PathLike, entry: str) -> None:
    """``target.load_state_dict(state_dict)`` (a module, optimizer, scheduler...) with errors naming the file.

    Modules are checked name by name and shape by shape first, so the error lists every mismatch.
    """
    if isinstance(target, torch.nn.Module):
        check_state_dict(state_dict, target, path, entry)
    try:
        target.load_state_dict(state_dict)
    except Exception as error:
        raise CheckpointError(
            f"checkpoint {str(path)!r}: entry {entry!r} cannot be loaded into {type(target).__name__}: {error}"
        ) from error


def numbered_checkpoints(directory: PathLike, prefix: str = "checkpoint") -> list[tuple[int, Path]]:
    """The ``{prefix}_{step}.pt`` files of ``directory`` with their steps, oldest first (none for a missing folder).

    Reads only: an evaluation lists a run's checkpoints without the manager's side effects."""
    folder = Path(directory)
    if not folder.is_dir():
        return []
    pattern = re.compile(rf"{re.escape(prefix)}_(\d+)\.pt")
    return sorted((int(match.group(1)), path) for path in folder.iterdir() if (match := pattern.fullmatch(path.name)))


class CheckpointManager:
    """Numbered checkpoints in one directory, keeping the ``keep_last`` most recent.

    Files are named ``{prefix}_{step:012d}.pt`` so that names sort by step. Temporary files left by a crash in
    the middle of a write are removed when the manager is created.
    """

    def __init__(self, directory: PathLike, keep_last: int = 3, prefix: str = "checkpoint"):
        if keep_last < 1:
            raise ValueError(f"keep_last must be >= 1, got {keep_last!r}")
        if not re.fullmatch(r"[A-Za-z0-9_-]+", prefix):
            raise ValueError(f"prefix must be letters, digits, '_' or '-', got {prefix!r}")
        self.directory = Path(directory)
        self.keep_last = keep_last
        self.prefix = prefix
        self.directory.mkdir(parents=True, exist_ok=True)
        for leftover in self.directory.glob(f".{prefix}_*.pt.*.tmp"):
            leftover.unlink(missing_ok=True)

    def path_for(self, step: int) -> Path:
        return self.directory / f"{self.prefix}_{int(step):012d}.pt"

    def checkpoints(self) -> list[Path]:
        """Existing checkpoints, oldest (smallest step) first."""
        return [path for _, path in numbered_checkpoints(self.directory, self.prefix)]

    def latest(self) -> Path | None:
        """The checkpoint with the largest step, or None when there is none."""
        existing = self.checkpoints()
        return existing[-1] if existing else None

    def save(self, step: int, payload: Mapping[str, Any]) -> Path:
        """Saves ``payload`` as the checkpoint of ``step`` and deletes all but the ``keep_last`` newest."""
        path = save_checkpoint(self.path_for(step), payload)
        for old in self.checkpoints()[:-self.keep_last]:
            old.unlink(missing_ok=True)
        return path


def save_buffer_snapshot(buffer: ReplayBuffer, directory: PathLike, step: int) -> str | None:
    """Writes ``buffer`` to a fresh ``directory/frames_{step:012d}`` and removes older snapshots there; returns the
    snapshot's path for the checkpoint to name (None for an empty buffer: nothing is written).

    The snapshot appears under its final name only once complete (written under a temporary name, then renamed),
    so a checkpoint never points at a half-written buffer. A replay buffer is too large to live in the checkpoint
    file itself, which every ``checkpoint.every_frames`` rewrites.
    """
    if not len(buffer):
        return None
    root = Path(directory)
    target = root / f"frames_{int(step):012d}"
    partial = root / ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    buffer.dumps(partial)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    for old in root.glob("frames_*"):
        if old != target:
            shutil.rmtree(old, ignore_errors=True)
    return str(target)


def load_buffer_snapshot(buffer: ReplayBuffer, snapshot: PathLike) -> None:
    """Fills ``buffer`` from :func:`save_buffer_snapshot`'s ``snapshot``; when it is gone, warns and leaves the
    buffer empty (a resumed run refills it with the trained policy)."""
    if Path(snapshot).is_dir():
        buffer.loads(snapshot)
    else:
        warnings.warn(f"replay buffer snapshot {str(snapshot)!r} is gone; resuming with an empty buffer", stacklevel=2)


def capture_rng_state(generators: Mapping[str, torch.Generator] | None = None) -> dict[str, Any]:
    """The state of every random number generator a run draws from, for a checkpoint.

    Covers torch's CPU generator, each CUDA device's generator when CUDA is initialised, Python's ``random``,
    NumPy's global generator when NumPy is imported, and the named ``generators`` (e.g. ``{"env": env.rng}``).
    """
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "generators": {name: generator.get_state() for name, generator in (generators or {}).items()},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    numpy = _imported_numpy()
    if numpy is not None:
        kind, keys, position, has_gauss, cached_gaussian = numpy.random.get_state()
        state["numpy"] = {"kind": kind, "keys": torch.from_numpy(keys.astype("int64")), "position": int(position),
                          "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)}
    return state


def restore_rng_state(state: Mapping[str, Any], generators: Mapping[str, torch.Generator] | None = None) -> None:
    """Reinstalls generator states saved by :func:`capture_rng_state`.

    Every name in ``generators`` must have been saved; a missing one raises ``KeyError`` naming it.
    """
    torch.set_rng_state(state["torch"])
    random.setstate(_as_python_random_state(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    numpy = _imported_numpy()
    if "numpy" in state and numpy is not None:
        saved = state["numpy"]
        keys = saved["keys"].numpy().astype(numpy.uint32)
        numpy.random.set_state((saved["kind"], keys, saved["position"], saved["has_gauss"], saved["cached_gaussian"]))
    for name, generator in (generators or {}).items():
        if name not in state["generators"]:
            raise KeyError(f"no saved state for generator {name!r}; saved: {sorted(state['generators'])}")
        generator.set_state(state["generators"][name])


def _as_python_random_state(saved: Iterable) -> tuple:
    """``random.setstate`` needs tuples; a checkpoint may hand back lists."""
    version, internal, gauss_next = saved
    return version, tuple(internal), gauss_next


def _imported_numpy():
    """NumPy if the program imported it (then its global generator matters), else None."""
    return sys.modules.get("numpy")
