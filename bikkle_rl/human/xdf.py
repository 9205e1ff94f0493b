"""``bikkle-import-xdf``: a LabRecorder session (XDF) as a play recording, with the eye tracker's gaze.

LabRecorder stores every LSL stream of a session in one XDF file on one synchronised clock (``pyxdf`` applies
the recorded clock offsets). A ``bikkle-play`` session holds our ``BikkleMarkers`` stream
(:mod:`bikkle_rl.human.markers`) and, beside it, an eye tracker's gaze stream (two or more numeric channels;
normalised screen coordinates by default, pixels and y-up as options, the same as ``LSLGaze``).

The import makes one recording row per ``"step"`` marker, in order. The row keeps what the marker recorded
(state, action, reward, time...) but its gaze comes from the gaze stream: the newest gaze sample at or before
the moment the row's state was shown (the timestamp of the ``"state"`` marker of the same episode and step),
mapped to the arena through the session's screen geometry. ``gaze_latency`` is that sample's age; the gaze is
valid only if the sample is finite, inside the arena and at most ``max_age_s`` old. A row whose state marker
is missing (the recorder started mid-step) or that precedes every gaze sample has invalid gaze and a NaN
latency.

Examples::

    bikkle-import-xdf sub-01_ses-1.xdf -o recordings/sub-01.npz
    bikkle-import-xdf session.xdf -o session.npz --gaze-stream TobiiGaze --coordinates pixels --max-age-s 0.1
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bikkle_rl.gaze.lsl import COORDINATES, LSLGaze
from bikkle_rl.gaze.screen import in_arena
from bikkle_rl.human.markers import (
    MARKER_STREAM_NAME,
    STEP_COLUMNS,
    MarkerError,
    parse_marker,
    session_config,
    session_geometry,
)
from bikkle_rl.recording import Recording, RecordingError, RecordingWriter, save_recording

GAZE_STREAM_TYPE = "Gaze"


def import_pyxdf():
    """``pyxdf``, or a clear error saying how to install it."""
    try:
        import pyxdf
    except ImportError as error:
        raise ImportError(f"importing XDF files needs pyxdf (pip install pyxdf): {error}") from None
    return pyxdf


def stream_field(stream: dict[str, Any], field: str) -> str:
    """A header field of a ``pyxdf`` stream (``"name"``, ``"type"``, ``"channel_format"``...); "" when absent."""
    values = stream["info"].get(field) or [""]
    return values[0] or ""


def describe_streams(streams: list[dict[str, Any]]) -> str:
    return ", ".join(f"{stream_field(s, 'name')!r} (type {stream_field(s, 'type')!r}, "
                     f"{stream_field(s, 'channel_count')} x {stream_field(s, 'channel_format')})" for s in streams)


def pick_stream(streams: list[dict[str, Any]], matches: Callable[[dict[str, Any]], bool], what: str,
                source: str) -> dict[str, Any]:
    """The one stream that ``matches``; a RecordingError naming ``source`` when none or several do."""
    chosen = [stream for stream in streams if matches(stream)]
    if not chosen:
        raise RecordingError(f"{source}: no {what}; the file holds {describe_streams(streams) or 'no streams'}")
    if len(chosen) > 1:
        raise RecordingError(f"{source}: {len(chosen)} streams qualify as the {what}, so the choice is ambiguous: "
                             f"{describe_streams(chosen)}")
    return chosen[0]


def read_markers(stream: dict[str, Any], source: str) -> list[tuple[float, dict[str, Any]]]:
    """Every marker of the stream with its timestamp, parsed (a RecordingError names the bad one)."""
    markers = []
    for index, (sample, stamp) in enumerate(zip(stream["time_series"], stream["time_stamps"])):
        try:
            markers.append((float(stamp), parse_marker(sample[0])))
        except MarkerError as error:
            name = stream_field(stream, "name")
            raise RecordingError(f"{source}: marker {index} of stream {name!r}: {error}") from None
    return markers


def read_session(stream: dict[str, Any], markers: list[tuple[float, dict[str, Any]]], source: str) -> dict[str, Any]:
    """The ``"session"`` marker: the copy in the stream header, else the first one sent."""
    desc = stream["info"].get("desc") or [None]
    header = desc[0].get("session") if isinstance(desc[0], dict) else None
    if header:
        try:
            return parse_marker(header[0], expect="session")
        except MarkerError as error:
            raise RecordingError(f"{source}: session in the header of stream {stream_field(stream, 'name')!r}: "
                                 f"{error}") from None
    sessions = [marker for _, marker in markers if marker["event"] == "session"]
    if not sessions:
        raise RecordingError(f"{source}: marker stream {stream_field(stream, 'name')!r} has no session marker, "
                             "in its header or among its samples")
    return sessions[0]


def gaze_samples(stream: dict[str, Any], channels: tuple[int, int], source: str) -> tuple[np.ndarray, np.ndarray]:
    """The gaze stream's points [G, 2] (the two channels) and timestamps [G], in time order."""
    name = stream_field(stream, "name")
    if stream_field(stream, "channel_format") == "string":
        raise RecordingError(f"{source}: gaze stream {name!r} holds strings, not numbers")
    values = np.asarray(stream["time_series"], dtype=np.float64)  # [G, channels]
    if not len(values):
        raise RecordingError(f"{source}: gaze stream {name!r} holds no samples")
    if values.shape[1] <= max(channels):
        raise RecordingError(f"{source}: gaze stream {name!r} has {values.shape[1]} channels; gaze channels "
                             f"{channels} do not exist")
    order = np.argsort(stream["time_stamps"], kind="stable")
    return values[order][:, list(channels)], np.asarray(stream["time_stamps"], dtype=np.float64)[order]


def align_gaze(points: torch.Tensor, times: np.ndarray, shown_at: np.ndarray, max_age_s: float
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each state shown at ``shown_at`` [T] (NaN: unknown), the newest of the arena ``points`` [G, 2] taken at
    sorted ``times`` [G] no later: gaze [T, 2] (0 where invalid), valid [T], latency [T] (its age; NaN: none)."""
    newest = np.searchsorted(times, np.nan_to_num(shown_at, nan=-np.inf), side="right") - 1
    found = newest >= 0
    latency = np.where(found, shown_at - times[np.maximum(newest, 0)], np.nan)
    point = points.numpy()[np.maximum(newest, 0)]
    valid = found & (latency <= max_age_s) & in_arena(torch.as_tensor(point)).numpy()
    return np.where(valid[:, None], point, 0.0).astype(np.float32), valid, latency


def import_xdf(path: str | os.PathLike, gaze_stream: str | None = None, marker_stream: str = MARKER_STREAM_NAME,
               max_age_s: float = 0.2, coordinates: str = "normalized", flip_y: bool = False,
               channels: tuple[int, int] = (0, 1)) -> Recording:
    """A LabRecorder XDF file as a :class:`Recording` (see the module docstring).

    Args:
        path: the XDF file.
        gaze_stream: the gaze stream's name (None: the only stream of type ``"Gaze"``).
        marker_stream: the marker stream's name.
        max_age_s: older gaze samples are invalid.
        coordinates, flip_y, channels: how the gaze stream encodes a point, as for ``LSLGaze``.
    """
    pyxdf = import_pyxdf()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no XDF file at {path}")
    source = str(path)
    try:
        streams, _ = pyxdf.load_xdf(source)
    except Exception as error:  # noqa: BLE001 - pyxdf raises bare Exceptions, OSErrors and struct errors
        raise RecordingError(f"{source}: not a readable XDF file ({type(error).__name__}: {error})") from None
    markers_stream = pick_stream(streams, lambda s: stream_field(s, "name") == marker_stream,
                                 f"marker stream named {marker_stream!r}", source)
    if gaze_stream is None:
        tracker = pick_stream(streams, lambda s: stream_field(s, "type") == GAZE_STREAM_TYPE,
                              f"gaze stream of type {GAZE_STREAM_TYPE!r} (name one with --gaze-stream)", source)
    else:
        tracker = pick_stream(streams, lambda s: stream_field(s, "name") == gaze_stream,
                              f"gaze stream named {gaze_stream!r}", source)
    markers = read_markers(markers_stream, source)
    session = read_session(markers_stream, markers, source)
    try:
        config, geometry = session_config(session), session_geometry(session)
    except MarkerError as error:
        raise RecordingError(f"{source}: {error}") from None
    steps = [marker for _, marker in markers if marker["event"] == "step"]
    if not steps:
        raise RecordingError(f"{source}: marker stream {marker_stream!r} holds no 'step' markers; "
                             "was the session recorded while it was played?")
    shown = {}  # (episode, episode_step) -> when that state was shown
    for stamp, marker in markers:
        if marker["event"] == "state":
            shown[marker["episode"], marker["episode_step"]] = stamp
    shown_at = np.array([shown.get((step["episode"], step["episode_step"]), np.nan) for step in steps])

    mapper = LSLGaze(coordinates=coordinates, flip_y=flip_y, channels=channels, max_age_s=max_age_s,
                     geometry=geometry)
    gaze_points, gaze_times = gaze_samples(tracker, mapper.channels, source)
    arena_points = mapper.to_arena(torch.as_tensor(gaze_points, dtype=torch.float32))
    gaze, valid, latency = align_gaze(arena_points, gaze_times, shown_at, mapper.max_age_s)

    writer = RecordingWriter({
        "config": config, "seed": session["seed"], "step_rate_hz": session["step_rate_hz"],
        "driver": f"imported from XDF {path.name}",
        "gaze_source": f"XDF stream {stream_field(tracker, 'name')!r} ({coordinates}, flip_y={flip_y}, "
                       f"channels={mapper.channels}, max_age_s={mapper.max_age_s})",
        "xdf_file": source,
    })
    for index, step in enumerate(steps):
        recorded = {name: step[name] for name in STEP_COLUMNS}
        writer.append(**{**recorded, "gaze": gaze[index], "gaze_valid": valid[index], "gaze_latency": latency[index]})
    return writer.to_recording()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bikkle-import-xdf", description=__doc__.split("\n\n")[0])
    parser.add_argument("xdf", type=Path, help="the LabRecorder file")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the recording to write (.npz)")
    parser.add_argument("--gaze-stream", help="gaze stream name (default: the only stream of type Gaze)")
    parser.add_argument("--marker-stream", default=MARKER_STREAM_NAME, help="marker stream name")
    parser.add_argument("--max-age-s", type=float, default=0.2, help="older gaze is invalid (default 0.2)")
    parser.add_argument("--coordinates", choices=COORDINATES, default="normalized", help="the gaze stream's units")
    parser.add_argument("--flip-y", action="store_true", help="the gaze stream's y grows upwards")
    parser.add_argument("--channels", type=int, nargs=2, default=(0, 1), metavar=("X", "Y"),
                        help="the gaze stream's x and y channels (default 0 1)")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        recording = import_xdf(args.xdf, gaze_stream=args.gaze_stream, marker_stream=args.marker_stream,
                               max_age_s=args.max_age_s, coordinates=args.coordinates, flip_y=args.flip_y,
                               channels=tuple(args.channels))
    except (RecordingError, ImportError, FileNotFoundError) as error:
        raise SystemExit(f"bikkle-import-xdf: {error}") from None
    path = save_recording(recording, args.output)
    print(f"wrote {path}: {recording.num_steps} steps in {recording.num_episodes} episodes, gaze valid on "
          f"{recording['gaze_valid'].mean():.0%} of them")


if __name__ == "__main__":
    main()
