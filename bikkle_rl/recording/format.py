"""Play-session recordings: one row per env step of one arena, in a versioned, columnar NPZ file.

File layout (``numpy.savez_compressed``, readable without pickles), schema version 2:

- ``schema_version``: int64 scalar, :data:`SCHEMA_VERSION`.
- ``metadata``: a JSON string: ``config`` (the ``BikkleConfig`` fields), ``seed`` (the env seed, or null),
  ``step_rate_hz``, ``driver`` (``"keyboard"`` or the policy's description), ``gaze_source`` (its repr) and
  ``created`` (ISO time), ``gaze_target_radius`` (see below). Writers may add keys (``calibration``: the
  calibration check's result); readers ignore the ones they do not know.
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
  ``gaze_target``           int64     [T]        slot of the pellet the gaze falls on (-1: none or invalid)
  ``gaze_offset``           float32   [T, 2]     gaze minus that pellet's position (0 without a target)
  ``gaze_target_kind``      int64     [T]        that pellet's kind (-1 without a target)
  ``gaze_target_high_value`` bool     [T]        that pellet is the high-value one
  ========================  ========  =========  ==========================================================

The last four, the object-centric gaze (:mod:`bikkle_rl.recording.gaze_targets`), are derived from the state and
gaze columns with the metadata's ``gaze_target_radius``: writers compute them, and a version-1 file (which
lacks them) loads with them derived at :data:`~bikkle_rl.recording.gaze_targets.DEFAULT_TARGET_RADIUS`.

:func:`load_recording` checks all of this and raises :class:`RecordingError`, naming the file and the
problem, for a corrupt file, another schema version, a missing column or a column of the wrong shape, and
for values no session produces: a valid gaze that is NaN or outside the arena, a negative episode, a step
index beyond the arena's ``max_steps``, a high-value slot that does not exist (it names the column, how many
rows and the first one).
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from bikkle_rl.atomic_write import write_atomically
from bikkle_rl.envs.config import BikkleConfig
from bikkle_rl.recording.gaze_targets import DEFAULT_TARGET_RADIUS, gaze_roles, gaze_targets

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
"""Version 1 lacks the object-centric gaze columns, which are derived on load."""

BASE_COLUMNS: dict[str, tuple[type, tuple[str | int, ...]]] = {
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
"""What a writer supplies per step: column name -> (dtype, per-row shape); ``"P"`` and ``"A"`` stand for the
pellet slots and action size."""

GAZE_TARGET_COLUMNS: dict[str, tuple[type, tuple[str | int, ...]]] = {
    "gaze_target": (np.int64, ()),
    "gaze_offset": (np.float32, (2,)),
    "gaze_target_kind": (np.int64, ()),
    "gaze_target_high_value": (np.bool_, ()),
}
"""The object-centric gaze, derived from :data:`BASE_COLUMNS` (see the module docstring)."""

COLUMNS = {**BASE_COLUMNS, **GAZE_TARGET_COLUMNS}

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
    def gaze_roles(self) -> np.ndarray:
        """[T] the role of each step's gaze target (:func:`~bikkle_rl.recording.gaze_targets.gaze_roles`)."""
        return gaze_roles(self["gaze_target"], self["gaze_valid"], self["pellet_kind"], self["high_value"])

    @property
    def num_episodes(self) -> int:
        return int(self.columns["episode"].max()) + 1 if self.num_steps else 0

    @classmethod
    def from_columns(cls, columns: dict[str, np.ndarray], metadata: dict[str, Any], source: str = "recording"
                     ) -> Recording:
        """A checked recording from the :data:`BASE_COLUMNS` (extra columns are dropped), the object-centric
        gaze derived at the metadata's ``gaze_target_radius`` (set to the default when absent); ``source``
        names the data in errors."""
        metadata = {"gaze_target_radius": DEFAULT_TARGET_RADIUS, **metadata}
        base = {name: columns[name] for name in BASE_COLUMNS if name in columns}
        recording = cls(base, metadata)
        recording.validate(source, columns=BASE_COLUMNS)
        recording.columns |= derive_gaze_targets(base, float(metadata["gaze_target_radius"]))
        return recording

    def validate(self, source: str = "recording", columns: dict[str, tuple] = COLUMNS) -> None:
        """Checks ``columns`` and the metadata against the schema; ``source`` names the file in the error."""
        for key in ("config", "seed", "step_rate_hz"):
            if key not in self.metadata:
                raise RecordingError(f"{source}: metadata lacks {key!r}")
        try:
            config = self.config
        except (TypeError, ValueError) as error:
            raise RecordingError(f"{source}: metadata 'config' is not a valid BikkleConfig: {error}") from None
        missing = sorted(set(columns) - set(self.columns))
        if missing:
            raise RecordingError(f"{source}: missing columns {missing}")
        steps = len(self.columns["time"])
        for name, (dtype, spec) in columns.items():
            array, expected = self.columns[name], (steps, *row_shape(spec, config))
            if array.shape != expected:
                raise RecordingError(f"{source}: column {name!r} has shape {array.shape}, expected {expected}")
            if np.dtype(dtype).kind != array.dtype.kind:
                raise RecordingError(f"{source}: column {name!r} has dtype {array.dtype}, expected {np.dtype(dtype)}")
        for name, bad, problem in value_problems(self.columns, config):
            if bad.any():
                raise RecordingError(f"{source}: column {name!r}: {int(bad.sum())} of {steps} rows {problem} "
                                     f"(first: row {int(bad.argmax())})")


def select_episodes(recording: Recording, episodes: Sequence[int]) -> Recording:
    """The recording's ``episodes`` (in that order), renumbered 0, 1, ...: e.g. a session split into the
    episodes a fine-tune trains on and the ones held out to evaluate it."""
    missing = sorted(set(episodes) - set(recording["episode"].tolist()))
    if missing:
        raise ValueError(f"the recording has no episodes {missing} (it has {recording.num_episodes})")
    rows = [np.flatnonzero(recording["episode"] == episode) for episode in episodes]
    columns = {name: values[np.concatenate(rows)] for name, values in recording.columns.items()}
    columns["episode"] = np.repeat(np.arange(len(episodes)), [len(episode_rows) for episode_rows in rows])
    return Recording(columns, dict(recording.metadata))


def value_problems(columns: dict[str, np.ndarray], config: BikkleConfig) -> list[tuple[str, np.ndarray, str]]:
    """(column, bad rows [T], what is wrong) for values no session produces."""
    gaze, valid = columns["gaze"], columns["gaze_valid"]
    in_arena = np.isfinite(gaze).all(-1) & (gaze >= 0).all(-1) & (gaze <= 1).all(-1)
    return [
        ("episode", columns["episode"] < 0, "are negative"),
        ("episode_step", (columns["episode_step"] < 0) | (columns["episode_step"] >= config.max_steps),
         f"lie outside [0, max_steps = {config.max_steps})"),
        ("gaze", valid & ~in_arena, "marked valid (gaze_valid) are NaN or outside the arena"),
        ("agent_pos", ~np.isfinite(columns["agent_pos"]).all(-1), "are not finite"),
        ("pellet_pos", ~np.isfinite(columns["pellet_pos"]).all((-1, -2)), "are not finite"),
        ("high_value", (columns["high_value"] < 0) | (columns["high_value"] >= config.num_pellets),
         f"are not a pellet slot in [0, {config.num_pellets})"),
    ]


def derive_gaze_targets(columns: dict[str, np.ndarray], radius: float) -> dict[str, np.ndarray]:
    """The :data:`GAZE_TARGET_COLUMNS` of recorded steps, from their state and gaze columns."""
    target, offset = gaze_targets(columns["gaze"], columns["gaze_valid"], columns["pellet_pos"],
                                  columns["pellet_mask"], radius)
    rows, slot = np.arange(len(target)), np.maximum(target, 0)
    has_target = target >= 0
    return {
        "gaze_target": target,
        "gaze_offset": offset,
        "gaze_target_kind": np.where(has_target, columns["pellet_kind"][rows, slot], -1).astype(np.int64),
        "gaze_target_high_value": has_target & (slot == columns["high_value"]),
    }


@dataclass
class RecordingWriter:
    """Collects a session's rows (:meth:`append`) and writes them as one file (:meth:`save`).

    ``metadata`` must hold ``config`` (a :class:`BikkleConfig` or its dict), ``seed`` and ``step_rate_hz``;
    rows hold the :data:`BASE_COLUMNS` (the object-centric gaze is derived when the recording is built).
    """

    metadata: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.metadata = dict(self.metadata)
        if isinstance(self.metadata.get("config"), BikkleConfig):
            self.metadata["config"] = self.metadata["config"].to_dict()
        self.metadata.setdefault("created", datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def append(self, **row: Any) -> None:
        """One step: a value for every column in :data:`BASE_COLUMNS` (numbers, numpy arrays or CPU tensors)."""
        unknown, missing = sorted(set(row) - set(BASE_COLUMNS)), sorted(set(BASE_COLUMNS) - set(row))
        if unknown or missing:
            raise KeyError(f"recording row: unknown columns {unknown}, missing columns {missing}")
        self.rows.append(row)

    def to_recording(self) -> Recording:
        config = BikkleConfig(**self.metadata["config"])
        columns = {}
        for name, (dtype, spec) in BASE_COLUMNS.items():
            values = [np.asarray(row[name], dtype=dtype) for row in self.rows]
            shape = row_shape(spec, config)
            columns[name] = np.stack(values).reshape(-1, *shape) if values else np.zeros((0, *shape), dtype)
        return Recording.from_columns(columns, self.metadata)

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
    if version.shape != () or version.dtype.kind not in "iu" or int(version) not in READABLE_VERSIONS:
        raise RecordingError(f"{path}: schema_version {version.tolist()!r} is not supported; "
                             f"this reader understands versions {list(READABLE_VERSIONS)}")
    try:
        metadata = json.loads(str(arrays.pop("metadata")))
    except (KeyError, json.JSONDecodeError) as error:
        raise RecordingError(f"{path}: missing or malformed 'metadata' JSON ({error})") from None
    if not isinstance(metadata, dict):
        raise RecordingError(f"{path}: 'metadata' must be a JSON object, got {type(metadata).__name__}")
    if int(version) == 1:
        return Recording.from_columns(arrays, metadata, str(path))
    recording = Recording({name: arrays[name] for name in arrays if name in COLUMNS}, metadata)
    recording.validate(str(path))
    return recording
