"""The play session as an LSL marker stream: what LabRecorder stores beside the eye tracker, and what a
simulated participant watches.

One irregular-rate stream (name ``"BikkleMarkers"``, type ``"Markers"``, one string channel). Every sample is a
JSON object with ``schema_version`` (:data:`MARKER_SCHEMA_VERSION`) and ``event``:

- ``"session"``, once at the start: ``config`` (the ``BikkleConfig`` fields), ``seed``, ``step_rate_hz`` and
  ``geometry`` (the :class:`~bikkle_rl.gaze.screen.WindowGeometry` fields: where the arena sits on the monitor,
  to map gaze between screen and arena). The same JSON is in the stream header (``desc/session``), which every
  inlet and every XDF file gets, even one that connects after the first sample was sent.
- ``"state"``, whenever a new state is shown (after a reset and after each step): ``episode``,
  ``episode_step`` and the state columns of :mod:`bikkle_rl.recording` (``agent_pos``, ``pellet_pos``,
  ``pellet_kind``, ``pellet_mask``, ``high_value``, ``round_step``). Its LSL timestamp is when it was shown.
- ``"step"``, when a step is taken: one recording row, the :data:`STEP_COLUMNS` (``time`` is seconds since
  the session started). Its state is the one the preceding ``"state"`` marker of the same episode and step
  showed.

Arrays are nested JSON lists; a number that is not finite (an unknown ``gaze_latency``) is ``null``, so any
JSON reader parses the markers. :func:`parse_marker` checks a marker and raises :class:`MarkerError` naming
the problem.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import torch
from typing_extensions import Self

from bikkle_rl.envs.config import BikkleConfig
from bikkle_rl.gaze.lsl import import_pylsl
from bikkle_rl.gaze.screen import WindowGeometry
from bikkle_rl.recording import BASE_COLUMNS, COLUMNS, STATE_COLUMNS, row_shape

MARKER_SCHEMA_VERSION = 1
MARKER_STREAM_NAME = "BikkleMarkers"
MARKER_STREAM_TYPE = "Markers"

STEP_COLUMNS = tuple(BASE_COLUMNS)
"""The recorded columns of one step (the object-centric gaze is derived from these when a recording is built)."""

EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    "session": ("config", "seed", "step_rate_hz", "geometry"),
    "state": ("episode", "episode_step", *STATE_COLUMNS),
    "step": STEP_COLUMNS,
}
"""Event name -> the fields its marker must hold (besides ``schema_version`` and ``event``)."""


class MarkerError(ValueError):
    """A marker that is not ours or breaks the schema; the message names the problem."""


def as_array(value: Any) -> np.ndarray:
    """A number, list, numpy array or tensor (on any device) as a numpy array."""
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def to_json_value(value: Any) -> Any:
    """A number, numpy array or tensor as JSON values: nested lists, non-finite floats as None (``null``)."""
    array = as_array(value)
    if array.dtype.kind == "f":
        array = array.astype(np.float64)
        array = np.where(np.isfinite(array), array, None)
    return array.tolist()


def encode_marker(event: str, **fields: Any) -> str:
    """The JSON text of one marker (strict JSON: no NaN)."""
    return json.dumps({"schema_version": MARKER_SCHEMA_VERSION, "event": event, **fields}, allow_nan=False)


def parse_marker(text: str, expect: str | None = None) -> dict[str, Any]:
    """A marker's JSON object, checked: our schema version, a known event (``expect`` if given), all its fields."""
    try:
        marker = json.loads(text)
    except (TypeError, json.JSONDecodeError) as error:
        raise MarkerError(f"marker is not JSON ({error}): {str(text)[:80]!r}") from None
    if not isinstance(marker, dict):
        raise MarkerError(f"marker must be a JSON object, got {type(marker).__name__}: {str(text)[:80]!r}")
    version = marker.get("schema_version")
    if version != MARKER_SCHEMA_VERSION:
        raise MarkerError(f"marker schema_version {version!r} is not supported; this reader understands version "
                          f"{MARKER_SCHEMA_VERSION}")
    event = marker.get("event")
    if event not in EVENT_FIELDS:
        raise MarkerError(f"unknown marker event {event!r}; expected one of {sorted(EVENT_FIELDS)}")
    if expect is not None and event != expect:
        raise MarkerError(f"expected a {expect!r} marker, got {event!r}")
    missing = [name for name in EVENT_FIELDS[event] if name not in marker]
    if missing:
        raise MarkerError(f"{event!r} marker lacks fields {missing}")
    return marker


def session_config(session: Mapping[str, Any]) -> BikkleConfig:
    """The arena config of a ``"session"`` marker."""
    try:
        return BikkleConfig(**session["config"])
    except (TypeError, ValueError) as error:
        raise MarkerError(f"session marker 'config' is not a valid BikkleConfig: {error}") from None


def session_geometry(session: Mapping[str, Any]) -> WindowGeometry:
    """Where the arena sat on the monitor, from a ``"session"`` marker."""
    try:
        return WindowGeometry(**session["geometry"])
    except (TypeError, ValueError) as error:
        raise MarkerError(f"session marker 'geometry' is not a valid WindowGeometry: {error}") from None


def row_values(values: Mapping[str, Any], names: Sequence[str], config: BikkleConfig, what: str) -> dict[str, Any]:
    """``values[name]`` for each of ``names`` as JSON values, checked against the recording's per-row shapes
    (one arena: ``agent_pos`` is [2], not [1, 2])."""
    missing = [name for name in names if name not in values]
    if missing:
        raise KeyError(f"{what}: missing {missing}")
    checked = {}
    for name in names:
        array = as_array(values[name])
        expected = row_shape(COLUMNS[name][1], config)
        if array.shape != expected:
            raise ValueError(f"{what}: {name!r} has shape {array.shape}, expected {expected} (one arena)")
        checked[name] = to_json_value(array)
    return checked


class MarkerOutlet:
    """Publishes a play session's markers (see the module docstring); sends the ``"session"`` marker at once.

    Args:
        config: the arena's config.
        seed: the env seed (None if unseeded).
        step_rate_hz: env steps per second.
        geometry: the arena's place on the monitor (the play window's ``screen_geometry()``).
        source_id: the stream's LSL source id (lets inlets reconnect to a restarted session; empty when None).
        name: the stream's name.
    """

    def __init__(self, config: BikkleConfig, seed: int | None, step_rate_hz: float, geometry: WindowGeometry,
                 source_id: str | None = None, name: str = MARKER_STREAM_NAME):
        pylsl = import_pylsl()
        self.config = config
        session = encode_marker("session", config=config.to_dict(), seed=None if seed is None else int(seed),
                                step_rate_hz=float(step_rate_hz), geometry=asdict(geometry))
        info = pylsl.StreamInfo(name, MARKER_STREAM_TYPE, 1, pylsl.IRREGULAR_RATE, pylsl.cf_string, source_id or "")
        info.desc().append_child_value("session", session)
        self._outlet = pylsl.StreamOutlet(info)
        self._outlet.push_sample([session])

    def state(self, episode: int, episode_step: int, state: Mapping[str, Any]) -> None:
        """The state now shown: ``state`` holds the state columns of one arena (tensors or arrays, e.g.
        ``{key: value[0] for key, value in env.get_state().items()}``; other keys are ignored)."""
        values = {**state, "episode": episode, "episode_step": episode_step}
        self._send("state", row_values(values, EVENT_FIELDS["state"], self.config, "state marker"))

    def step(self, row: Mapping[str, Any]) -> None:
        """The step just taken: one recording row, a value for each of :data:`STEP_COLUMNS`."""
        unknown = sorted(set(row) - set(STEP_COLUMNS))
        if unknown:
            raise KeyError(f"step marker: unknown columns {unknown}")
        self._send("step", row_values(row, STEP_COLUMNS, self.config, "step marker"))

    def _send(self, event: str, fields: dict[str, Any]) -> None:
        if self._outlet is None:
            raise RuntimeError("MarkerOutlet is closed")
        self._outlet.push_sample([encode_marker(event, **fields)])

    def close(self) -> None:
        """Withdraws the stream (inlets see it lost)."""
        self._outlet = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
