"""Files written whole or not at all: a reader, or a run restarted after a crash, sees the old file or the
complete new one, never half of one. Checkpoints, gaze recordings and results (``eval.json``) are written so."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

PathLike = str | os.PathLike


def write_atomically(path: PathLike, write: Callable[[BinaryIO], Any]) -> Path:
    """Calls ``write(file)`` on a temporary file beside ``path`` (named ``.{name}.*.tmp``), flushes and fsyncs it,
    then renames it over ``path``. If anything fails the temporary file is removed and an existing ``path`` is
    left untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    sync_directory(path.parent)
    return path


def write_json(path: PathLike, data: Any, indent: int | None = 2) -> Path:
    """``data`` as JSON at ``path``, atomically."""
    return write_atomically(path, lambda file: file.write(json.dumps(data, indent=indent).encode()))


def sync_directory(directory: Path) -> None:
    """Makes a rename inside ``directory`` durable (best effort: not every platform can fsync a directory)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
