"""A person's fitted gaze model as a gaze source: ``gaze=fitted gaze.path=person.yaml``.

``bikkle-fit-gaze`` (:mod:`bikkle_rl.human.fit_gaze_cli`) fits :class:`~bikkle_rl.gaze.realistic.RealisticGaze`
to a person's recordings (:mod:`bikkle_rl.gaze.fit`) and writes the result as YAML; :class:`FittedGaze` reads it
back, so training, fine-tuning and evaluation simulate that person's eye. The file, schema version 1::

    schema_version: 1
    parameters:            # RealisticGaze's arguments, all required
      step_ms: 100.0
      fixation_ms: [200.0, 500.0]
      high_value_bias: 0.7
      fixation_std: 0.02
      noise_std: 0.04
      latency_steps: 3
      p_drop: 0.08
      p_recover: 0.3
    intervals:             # 95 % bootstrap intervals [low, high] of the fitted quantities
      latency_steps: [3, 3]
      ...
    fit:                   # where the numbers come from
      recordings: [recordings/p01-a.npz, recordings/p01-b.npz]
      counts: {recordings: 2, steps: 12000, valid_samples: 9600, ...}
      width_identified: true
      notes: []
      created: '2025-01-01T12:00:00+00:00'

Only ``schema_version`` and ``parameters`` are read back (a hand-written model needs no ``intervals`` or
``fit``); :class:`FittedGazeError` names the file and the field for a missing file, another version, a missing,
unknown or mistyped parameter, or a value the source refuses.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from bikkle_rl.atomic_write import write_atomically
from bikkle_rl.gaze.fit import GazeFit
from bikkle_rl.gaze.realistic import RealisticGaze

FITTED_SCHEMA_VERSION = 1

PARAMETER_KINDS = {
    "step_ms": "number",
    "fixation_ms": "range",
    "high_value_bias": "number",
    "fixation_std": "number",
    "noise_std": "number",
    "latency_steps": "integer",
    "p_drop": "number",
    "p_recover": "number",
}
"""The ``parameters`` a file must hold and their kinds: a number, an integer, or a ``[low, high]`` range."""


class FittedGazeError(ValueError):
    """A fitted gaze file cannot be used; the message names the file and the field."""


def plain_number(value: Any) -> Any:
    """A fitted number as the file shows it: integers as they are, floats to 6 significant digits, a range as a
    list."""
    if isinstance(value, (tuple, list)):
        return [plain_number(v) for v in value]
    return value if isinstance(value, int) else float(f"{float(value):.6g}")


def fitted_document(fit: GazeFit, recordings: Sequence[str | os.PathLike]) -> dict[str, Any]:
    """The YAML document of ``fit`` (see the module docstring); ``recordings`` are the fitted files."""
    options = {name: plain_number(value) for name, value in fit.source_options().items()}
    return {
        "schema_version": FITTED_SCHEMA_VERSION,
        "parameters": {name: options[name] for name in PARAMETER_KINDS},
        "intervals": {name: [plain_number(estimate.low), plain_number(estimate.high)]
                      for name, estimate in fit.estimates.items()},
        "fit": {
            "recordings": [str(path) for path in recordings],
            "counts": dict(fit.counts),
            "width_identified": fit.width_identified,
            "notes": list(fit.notes),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        },
    }


def save_fitted(fit: GazeFit, path: str | os.PathLike, recordings: Sequence[str | os.PathLike]) -> Path:
    """Writes ``fit`` to ``path`` atomically and returns the path."""
    header = "# A person's gaze model, fitted by bikkle-fit-gaze. Use: gaze=fitted gaze.path=<this file>\n"
    text = header + yaml.safe_dump(fitted_document(fit, recordings), sort_keys=False, default_flow_style=None)
    return write_atomically(Path(path), lambda file: file.write(text.encode()))


def check_parameter(path: str, name: str, value: Any) -> Any:
    """``value`` of parameter ``name`` as the source takes it, or :class:`FittedGazeError`."""
    kind = PARAMETER_KINDS[name]
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "integer" and not (isinstance(value, int) and not isinstance(value, bool)):
        raise FittedGazeError(f"{path}: parameters.{name} must be an integer, got {value!r}")
    if kind == "number" and not is_number:
        raise FittedGazeError(f"{path}: parameters.{name} must be a number, got {value!r}")
    if kind == "range":
        if not (isinstance(value, (list, tuple)) and len(value) == 2
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
            raise FittedGazeError(f"{path}: parameters.{name} must be a [low, high] pair of numbers, got {value!r}")
        return tuple(float(v) for v in value)
    return value


def load_fitted(path: str | os.PathLike) -> dict[str, Any]:
    """The :class:`~bikkle_rl.gaze.realistic.RealisticGaze` arguments stored at ``path``, checked."""
    path = str(path)
    if not Path(path).is_file():
        raise FittedGazeError(f"no fitted gaze file at {path} (write one with bikkle-fit-gaze)")
    try:
        document = yaml.safe_load(Path(path).read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise FittedGazeError(f"{path}: not readable YAML ({error})") from None
    if not isinstance(document, dict):
        raise FittedGazeError(f"{path}: expected a mapping with 'schema_version' and 'parameters'")
    version = document.get("schema_version")
    if version != FITTED_SCHEMA_VERSION:
        raise FittedGazeError(f"{path}: schema_version {version!r} is not supported; this reader understands "
                              f"version {FITTED_SCHEMA_VERSION}")
    parameters = document.get("parameters")
    if not isinstance(parameters, dict):
        raise FittedGazeError(f"{path}: 'parameters' must be a mapping of {sorted(PARAMETER_KINDS)}")
    missing, unknown = sorted(set(PARAMETER_KINDS) - set(parameters)), sorted(set(parameters) - set(PARAMETER_KINDS))
    if missing or unknown:
        raise FittedGazeError(f"{path}: parameters: missing {missing}, unknown {unknown}")
    options = {name: check_parameter(path, name, parameters[name]) for name in PARAMETER_KINDS}
    try:
        RealisticGaze(**options)
    except ValueError as error:
        raise FittedGazeError(f"{path}: parameters: {error}") from None
    return options


class FittedGaze(RealisticGaze):
    """:class:`~bikkle_rl.gaze.realistic.RealisticGaze` with the parameters of a fitted gaze file.

    Args:
        path: the YAML written by ``bikkle-fit-gaze`` (see the module docstring).
    """

    def __init__(self, path: str | os.PathLike):
        super().__init__(**load_fitted(path))
        self.path = str(path)
