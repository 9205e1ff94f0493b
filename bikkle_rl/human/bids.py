"""``bikkle-export-bids``: a play recording's gaze as BIDS eye-tracking physiology, to share it in the
format neuroscience tools read (BIDS 1.11 "physiological recordings" with ``PhysioType: "eyetrack"``).

Under ``--bids-root`` it writes (and a minimal ``dataset_description.json`` if there is none)::

    sub-<label>/[ses-<label>/]beh/sub-<label>[_ses-<label>]_task-<label>[_run-<index>]_recording-eye1_physio.tsv.gz
    sub-<label>/[ses-<label>/]beh/sub-<label>[_ses-<label>]_task-<label>[_run-<index>]_recording-eye1_physio.json

The TSV is headerless and gzip-compressed, as BIDS requires; the JSON sidecar names its columns (``Columns``)
and describes each. One row per env step (the gaze the agent was shown with that step's state):

- ``timestamp``: seconds since the play session started (the recording's ``time``);
- ``x_coordinate``, ``y_coordinate``: the gaze in arena units (the arena is the unit square, origin at its
  bottom-left corner, y up), ``n/a`` where the gaze was invalid;
- ``episode``, ``episode_step``, ``gaze_valid`` (1 / 0) and ``gaze_latency`` (seconds; ``n/a``: unknown).

Missing values are ``n/a``. :func:`read_bids_physio` reads such a file back by its sidecar's column names.

Examples::

    bikkle-export-bids recordings/me.npz --bids-root bids --subject 01 --session 1 --run 2
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bikkle_rl.atomic_write import write_atomically, write_json
from bikkle_rl.recording import Recording, load_recording

BIDS_VERSION = "1.11.0"
RECORDING_LABEL = "eye1"
MISSING = "n/a"

COLUMN_DESCRIPTIONS: dict[str, dict[str, Any]] = {
    "timestamp": {"LongName": "Step time", "Description": "Seconds since the play session started, when the "
                  "env step was taken; pauses between episodes show as gaps.", "Units": "s"},
    "x_coordinate": {"LongName": "Gaze position (x)", "Description": "Gaze shown with the step's state, in arena "
                     "units: 0 is the arena's left edge, 1 its right edge. n/a where the gaze was invalid.",
                     "Units": "arbitrary"},
    "y_coordinate": {"LongName": "Gaze position (y)", "Description": "Gaze shown with the step's state, in arena "
                     "units: 0 is the arena's bottom edge, 1 its top edge (y grows upwards). n/a where the "
                     "gaze was invalid.", "Units": "arbitrary"},
    "episode": {"LongName": "Episode", "Description": "Episode index within the session (0, 1, ...)."},
    "episode_step": {"LongName": "Episode step", "Description": "Step index within the episode (0 at its start)."},
    "gaze_valid": {"LongName": "Gaze valid", "Description": "Whether the gaze of this step was valid.",
                   "Levels": {"0": "gaze lost (tracker lost the eye, or the gaze was off the arena or too old)",
                              "1": "gaze valid"}},
    "gaze_latency": {"LongName": "Gaze latency", "Description": "Age of the gaze sample when it was read; n/a "
                     "where the source could not tell.", "Units": "s"},
}
"""The exported columns, in file order, with their sidecar descriptions."""


def bids_label(value: str | int, entity: str) -> str:
    """``value`` as a BIDS label (letters and digits only) or a ValueError naming the entity."""
    label = str(value)
    if not re.fullmatch(r"[A-Za-z0-9]+", label):
        raise ValueError(f"the BIDS {entity} label must be letters and digits only, got {label!r}")
    return label


def physio_path(bids_root: str | os.PathLike, subject: str, task: str = "bikkle", session: str | None = None,
                run: int | None = None) -> Path:
    """Where the eye-tracking physio TSV of one run goes (its sidecar: the same name ending ``.json``)."""
    folder = Path(bids_root) / f"sub-{bids_label(subject, 'subject')}"
    name = f"sub-{bids_label(subject, 'subject')}"
    if session is not None:
        folder /= f"ses-{bids_label(session, 'session')}"
        name += f"_ses-{bids_label(session, 'session')}"
    name += f"_task-{bids_label(task, 'task')}"
    if run is not None:
        if int(run) < 0:
            raise ValueError(f"the BIDS run index must be >= 0, got {run!r}")
        name += f"_run-{int(run)}"
    return folder / "beh" / f"{name}_recording-{RECORDING_LABEL}_physio.tsv.gz"


def sidecar_path(tsv_path: str | os.PathLike) -> Path:
    """The JSON sidecar of a ``*_physio.tsv.gz`` file."""
    tsv_path = Path(tsv_path)
    if not tsv_path.name.endswith(".tsv.gz"):
        raise ValueError(f"{tsv_path}: expected a .tsv.gz physio file")
    return tsv_path.with_name(tsv_path.name[: -len(".tsv.gz")] + ".json")


def physio_columns(recording: Recording) -> dict[str, np.ndarray]:
    """The exported columns (see :data:`COLUMN_DESCRIPTIONS`) of a recording: [T] arrays, NaN where missing."""
    valid = recording["gaze_valid"]
    gaze = np.where(valid[:, None], recording["gaze"].astype(np.float64), np.nan)
    return {"timestamp": recording["time"], "x_coordinate": gaze[:, 0], "y_coordinate": gaze[:, 1],
            "episode": recording["episode"], "episode_step": recording["episode_step"],
            "gaze_valid": valid.astype(np.int64), "gaze_latency": recording["gaze_latency"]}


def format_cell(value: np.generic) -> str:
    """One TSV cell: integers as such, floats exactly (shortest round-trip repr), NaN as ``n/a``."""
    if np.issubdtype(type(value), np.integer):
        return str(int(value))
    return repr(float(value)) if np.isfinite(value) else MISSING


def physio_sidecar(recording: Recording) -> dict[str, Any]:
    """The ``_physio.json`` sidecar: the REQUIRED fields, the eye-tracking ones we can fill honestly, and the
    description of every column."""
    metadata = recording.metadata
    return {
        "PhysioType": "eyetrack",
        "SamplingFrequency": float(metadata["step_rate_hz"]),
        "StartTime": float(recording["time"][0]) if recording.num_steps else 0.0,
        "Columns": list(COLUMN_DESCRIPTIONS),
        "RecordedEye": "cyclopean",
        "SampleCoordinateSystem": "gaze-on-screen",
        "Manufacturer": MISSING,
        "ManufacturersModelName": MISSING,
        "Description": "Gaze of a person playing Bikkle (a 2-D pellet arena), one sample per env step at the "
                       f"step rate, as read from {metadata.get('gaze_source', 'an unknown gaze source')} and "
                       "mapped onto the arena. The arena is a square on the screen; coordinates are fractions of "
                       "its side.",
        "BikkleSession": {key: metadata[key] for key in ("config", "seed", "step_rate_hz", "driver", "gaze_source",
                                                         "created") if key in metadata},
        **COLUMN_DESCRIPTIONS,
    }


def export_bids(recording: Recording | str | os.PathLike, bids_root: str | os.PathLike, subject: str,
                session: str | None = None, task: str = "bikkle", run: int | None = None,
                overwrite: bool = False) -> Path:
    """Writes the recording's gaze as BIDS eye-tracking physio (see the module docstring); returns the TSV path."""
    if not isinstance(recording, Recording):
        recording = load_recording(recording)
    path = physio_path(bids_root, subject, task, session, run)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True (--overwrite) to replace it")
    columns = physio_columns(recording)
    lines = ("\t".join(format_cell(value) for value in row) + "\n" for row in zip(*columns.values()))
    data = gzip.compress("".join(lines).encode(), mtime=0)
    write_atomically(path, lambda file: file.write(data))
    write_json(sidecar_path(path), physio_sidecar(recording))
    description = Path(bids_root) / "dataset_description.json"
    if not description.exists():
        write_json(description, {"Name": "Bikkle play sessions", "BIDSVersion": BIDS_VERSION, "DatasetType": "raw",
                                 "GeneratedBy": [{"Name": "bikkle-rl", "Description": "bikkle-export-bids"}]})
    return path


def read_bids_physio(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """A physio ``.tsv.gz`` as {column: float64 [T]} named by its sidecar's ``Columns`` (``n/a`` -> NaN)."""
    path = Path(path)
    sidecar = sidecar_path(path)
    if not sidecar.is_file():
        raise FileNotFoundError(f"{path}: no sidecar at {sidecar}")
    names = json.loads(sidecar.read_text()).get("Columns")
    if not isinstance(names, list) or not names:
        raise ValueError(f"{sidecar}: 'Columns' must be a non-empty list of column names")
    rows = []
    with gzip.open(path, "rt") as file:
        for number, line in enumerate(file, start=1):
            cells = line.rstrip("\n").split("\t")
            if len(cells) != len(names):
                raise ValueError(f"{path}: line {number} has {len(cells)} values, the sidecar names {len(names)}")
            rows.append([np.nan if cell == MISSING else float(cell) for cell in cells])
    table = np.array(rows, dtype=np.float64).reshape(len(rows), len(names))
    return {name: table[:, index] for index, name in enumerate(names)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bikkle-export-bids", description=__doc__.split("\n\n")[0])
    parser.add_argument("recording", type=Path, help="the play recording (.npz)")
    parser.add_argument("--bids-root", type=Path, required=True, help="the BIDS dataset folder")
    parser.add_argument("--subject", required=True, help="subject label (letters and digits)")
    parser.add_argument("--session", help="session label")
    parser.add_argument("--task", default="bikkle", help="task label (default bikkle)")
    parser.add_argument("--run", type=int, help="run index")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing run")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        path = export_bids(args.recording, args.bids_root, args.subject, args.session, args.task, args.run,
                           args.overwrite)
    except (ValueError, FileExistsError, FileNotFoundError) as error:
        raise SystemExit(f"bikkle-export-bids: {error}") from None
    print(f"wrote {path} and {sidecar_path(path).name}")


if __name__ == "__main__":
    main()
