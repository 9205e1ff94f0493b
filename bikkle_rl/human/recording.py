"""Play-session recordings: one row per env step of one arena, in a versioned, columnar NPZ file.

File layout (``numpy.savez_compressed``, readable without pickles), schema version 1:

- ``schema_version``: int64 scalar, :data:`SCHEMA_VERSION`.
- ``metadata``: a JSON string: ``config`` (the ``BikkleConfig`` fields), ``seed`` (the env seed, or null),
  ``step_rate_hz``, ``driver`` (``"keyboard"`` or the policy's description), ``gaze_source`` (its repr) and
  ``created`` (ISO time). Writers may add keys; readers ignore the ones they do not know.
- One array per column, all with T rows (T = steps). P is ``config.num_pellets``, A the action size
  (2 for ``velocity``, 1 for ``heading``). State columns hold the state the action was chosen in:

  ========================  ========  =========  ==========================================================
  column                    dtype     shape      meaning
  ========================  ========  =========  ==========================================================
  ``time``                  float64   [T]        seconds since the session started when the step was taken
  ``episode``               int64     [T]        episode index within the session (0, 1, ...)
  ``episode_step``          int64     [T]        step index within the episode (0 at the episode's start)
  ``agent_pos``             float32   [T, 2]     agent position, arena coordinates
  ``pellet_pos``            float32   [T, P, 2]  pellet positions (absolute)
  ``pellet_kind``           int64     [T, P]     0 pink, 1 blue
  ``pellet_mask``           bool      [T, P]     pellet present
  ``high_value``            int64     [T]        slot of the high-value pellet
  ``round_step``            int64     [T]        step within the round
  ``action``                float32   [T, A]     the action taken
  ``reward``                float32   [T]        the reward it earned
  ``done``                  bool      [T]        the episode ended with this step
  ``gaze``                  float32   [T, 2]     the gaze shown with the state (arena coordinates; 0 if invalid)
  ``gaze_valid``            bool      [T]        whether that gaze was valid
  ``gaze_latency``          float64   [T]        age (s) of the gaze sample when it was read (NaN: unknown)
  ========================  ========  =========  ==========================================================

:func:`load_recording` checks all of this and raises :class:`RecordingError`, naming the file and the
problem, for a corrupt file, another schema version, a missing column or a column of the wrong shape.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from bikkle_rl.atomic_write import write_atomically
from bikkle_rl.envs.config import BikkleConfig

SCHEMA_VERSION = 1

COLUMNS: dict[str, tuple[type, tuple[str | int, ...]]] = {
    "time": (np.float64, ()),
    "episode": (np.int64, ()),
    "episode_step": (np.int64, ()),
    "agent_pos": (np.float32, (2,)),
    "pellet_pos": (np.float32, ("P", 2)),
    "pellet_kind": (np.int64, ("P",)),
    "pellet_mask": (np.bool_, ("P",)),
    "high_value": (np.int64, ()),
    "round_step": (np.int64, ()),
    "action": (np.float32, ("A",)),
    "reward": (np.float32, ()),
    "done": (np.bool_, ()),
    "gaze": (np.float32, (2,)),
    "gaze_valid": (np.bool_, ()),
    "gaze_latency": (np.float64, ()),
}
"""Column name -> (dtype, per-row shape); ``"P"`` and ``"A"`` stand for the pellet slots and action size."""

STATE_COLUMNS = ("agent_pos", "pellet_pos", "pellet_kind", "pellet_mask", "high_value", "round_step")
"""The columns that hold the env state (``BikkleEnv.get_state()`` keys, without ``step_count``)."""


class RecordingError(ValueError):
    """A recording file cannot be read or breaks the schema; the message names the file and the problem."""


def row_shape(spec: tuple[str | int, ...], config: BikkleConfig) -> tuple[int, ...]:
    sizes = {"P": config.num_pellets, "A": 2 if config.action_mode == "velocity" else 1}
    return tuple(sizes.get(dim, dim) for dim in spec)


@dataclass
class Recording:
    """A loaded or freshly written session: ``columns`` (numpy arrays of T rows) and ``metadata``."""

    columns: dict[str, np.ndarray]
    metadata: dict[str, Any]

    def __getitem__(self, column: str) -> np.ndarray:
        return self.columns[column]

    @property
    def num_steps(self) -> int:
        return len(self.columns["time"])

    @property
    def config(self) -> BikkleConfig:
        return BikkleConfig(**self.metadata["config"])

    @property
    def num_episodes(self) -> int:
        return int(self.columns["episode"].max()) + 1 if self.num_steps else 0

    def validate(self, source: str = "recording") -> None:
        """Checks columns and metadata against the schema; ``source`` names the file in the error."""
        for key in ("config", "seed", "step_rate_hz"):
            if key not in self.metadata:
                raise RecordingError(f"{source}: metadata lacks {key!r}")
        try:
            config = self.config
        except (TypeError, ValueError) as error:
            raise RecordingError(f"{source}: metadata 'config' is not a valid BikkleConfig: {error}") from None
        missing = sorted(set(COLUMNS) - set(self.columns))
        if missing:
            raise RecordingError(f"{source}: missing columns {missing}")
        steps = len(self.columns["time"])
        for name, (dtype, spec) in COLUMNS.items():
            array, expected = self.columns[name], (steps, *row_shape(spec, config))
            if array.shape != expected:
                raise RecordingError(f"{source}: column {name!r} has shape {array.shape}, expected {expected}")
            if np.dtype(dtype).kind != array.dtype.kind:
                raise RecordingError(f"{source}: column {name!r} has dtype {array.dtype}, expected {np.dtype(dtype)}")


@dataclass
class RecordingWriter:
    """Collects a session's rows (:meth:`append`) and writes them as one file (:meth:`save`).

    ``metadata`` must hold ``config`` (a :class:`BikkleConfig` or its dict), ``seed`` and ``step_rate_hz``.
    """

    metadata: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.metadata = dict(self.metadata)
        if isinstance(self.metadata.get("config"), BikkleConfig):
            self.metadata["config"] = self.metadata["config"].to_dict()
        self.metadata.setdefault("created", datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def append(self, **row: Any) -> None:
        """One step: a value for every column in :data:`COLUMNS` (numbers, numpy arrays or CPU tensors)."""
        unknown, missing = sorted(set(row) - set(COLUMNS)), sorted(set(COLUMNS) - set(row))
        if unknown or missing:
            raise KeyError(f"recording row: unknown columns {unknown}, missing columns {missing}")
        self.rows.append(row)

    def to_recording(self) -> Recording:
        config = BikkleConfig(**self.metadata["config"])
        columns = {}
        for name, (dtype, spec) in COLUMNS.items():
            values = [np.asarray(row[name], dtype=dtype) for row in self.rows]
            shape = row_shape(spec, config)
            columns[name] = np.stack(values).reshape(-1, *shape) if values else np.zeros((0, *shape), dtype)
        recording = Recording(columns, self.metadata)
        recording.validate()
        return recording

    def save(self, path: str | os.PathLike) -> Path:
        return save_recording(self.to_recording(), path)


def save_recording(recording: Recording, path: str | os.PathLike) -> Path:
    """Writes ``recording`` to ``path`` atomically (a reader never sees half a file) and returns the path."""
    path = Path(path)
    recording.validate(str(path))
    metadata = np.array(json.dumps(recording.metadata))
    write_atomically(path, lambda file: np.savez_compressed(file, schema_version=np.int64(SCHEMA_VERSION),
                                                            metadata=metadata, **recording.columns))
    return path


def load_recording(path: str | os.PathLike) -> Recording:
    """Reads and validates a recording; :class:`RecordingError` names the file and what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no recording at {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise RecordingError(f"{path}: not a readable NPZ recording ({type(error).__name__}: {error})") from None
    if "schema_version" not in arrays:
        raise RecordingError(f"{path}: no 'schema_version' entry; not a bikkle-rl recording")
    version = arrays.pop("schema_version")
    if version.shape != () or version.dtype.kind not in "iu" or int(version) != SCHEMA_VERSION:
        raise RecordingError(f"{path}: schema_version {version.tolist()!r} is not supported; "
                             f"this reader understands version {SCHEMA_VERSION}")
    try:
        metadata = json.loads(str(arrays.pop("metadata")))
    except (KeyError, json.JSONDecodeError) as error:
        raise RecordingError(f"{path}: missing or malformed 'metadata' JSON ({error})") from None
    if not isinstance(metadata, dict):
        raise RecordingError(f"{path}: 'metadata' must be a JSON object, got {type(metadata).__name__}")
    recording = Recording({name: arrays[name] for name in arrays if name in COLUMNS}, metadata)
    recording.validate(str(path))
    return recording
