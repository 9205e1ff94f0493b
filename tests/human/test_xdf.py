"""Importing a LabRecorder XDF file: a small file written here (XDF 1.0 chunks), then rows, gaze alignment,
validity, latency and the errors."""

from __future__ import annotations

import json
import math
import struct
import sys
from dataclasses import asdict, dataclass, field
from xml.etree import ElementTree

import numpy as np
import pytest
import torch

from bikkle_rl.envs.config import BikkleConfig
from bikkle_rl.gaze.screen import WindowGeometry
from bikkle_rl.human.markers import STATE_COLUMNS, STEP_COLUMNS, encode_marker, to_json_value
from bikkle_rl.human.xdf import import_xdf, main
from bikkle_rl.recording import RecordingError, load_recording

pytest.importorskip("pyxdf")

CONFIG = BikkleConfig(num_pink=2, num_blue=1)  # the arena of the write_session fixture
MONITOR = WindowGeometry(1000, 800, arena_left=300, arena_top=250, arena_size=400)
SESSION = {"config": CONFIG.to_dict(), "seed": 0, "step_rate_hz": 10.0, "geometry": asdict(MONITOR)}
CLOCK_OFFSET = 0.5  # the gaze stream's clock runs this far behind the recorder's (LabRecorder's ClockOffset)


@dataclass
class Stream:
    """One stream of a hand-made XDF file: header fields, samples (lists of channel values) and timestamps."""

    name: str
    type: str
    channel_format: str
    channel_count: int
    samples: list[list] = field(default_factory=list)
    stamps: list[float] = field(default_factory=list)
    session: str | None = None  # JSON of the header's desc/session
    clock_offset: float = 0.0


def chunk(tag: int, content: bytes) -> bytes:
    """An XDF chunk: [NumLengthBytes = 8][Length: uint64, tag + content][Tag: uint16][Content]."""
    return struct.pack("<BQH", 8, len(content) + 2, tag) + content


def varlen(value: int) -> bytes:
    return struct.pack("<BQ", 8, value)


def header_xml(stream: Stream) -> bytes:
    info = ElementTree.Element("info")
    for key, value in (("name", stream.name), ("type", stream.type), ("channel_count", stream.channel_count),
                       ("nominal_srate", 0), ("channel_format", stream.channel_format), ("created_at", 0)):
        ElementTree.SubElement(info, key).text = str(value)
    desc = ElementTree.SubElement(info, "desc")
    if stream.session is not None:
        ElementTree.SubElement(desc, "session").text = stream.session
    return ElementTree.tostring(info)


def sample_bytes(stream: Stream, values: list, stamp: float) -> bytes:
    data = struct.pack("<Bd", 8, stamp)  # every sample carries its timestamp
    if stream.channel_format == "string":
        return data + b"".join(varlen(len(text.encode())) + text.encode() for text in values)
    return data + struct.pack(f"<{stream.channel_count}f", *values)


def write_xdf(path, streams: list[Stream]) -> None:
    """An XDF 1.0 file: the magic, a FileHeader, each stream's StreamHeader, Samples, ClockOffsets and footer."""
    parts = [b"XDF:", chunk(1, b'<?xml version="1.0"?><info><version>1.0</version></info>')]
    for stream_id, stream in enumerate(streams, start=1):
        sid = struct.pack("<I", stream_id)
        parts.append(chunk(2, sid + header_xml(stream)))
        samples = b"".join(sample_bytes(stream, v, t) for v, t in zip(stream.samples, stream.stamps))
        parts.append(chunk(3, sid + varlen(len(stream.stamps)) + samples))
        for collected in (0.0, 1000.0):
            parts.append(chunk(4, sid + struct.pack("<dd", collected, stream.clock_offset)))
        parts.append(chunk(6, sid + b"<info><sample_count>%d</sample_count></info>" % len(stream.stamps)))
    path.write_bytes(b"".join(parts))


def state_fields(row: dict) -> dict:
    return {"episode": row["episode"], "episode_step": row["episode_step"],
            **{name: to_json_value(row[name]) for name in STATE_COLUMNS}}


def marker_stream(rows: list[dict], shown_at: list[float], skip_state: int | None = None,
                  session_in_header: bool = True, session_sample: bool = True) -> Stream:
    """Markers of a session whose row i was shown at ``shown_at[i]`` and stepped 0.1 s later."""
    stream = Stream("BikkleMarkers", "Markers", "string", 1,
                    session=encode_marker("session", **SESSION) if session_in_header else None)
    if session_sample:
        stream.samples.append([encode_marker("session", **SESSION)])
        stream.stamps.append(shown_at[0] - 1.0)
    for index, (row, shown) in enumerate(zip(rows, shown_at)):
        if index != skip_state:
            stream.samples.append([encode_marker("state", **state_fields(row))])
            stream.stamps.append(shown)
        step = {name: to_json_value(row[name]) for name in STEP_COLUMNS}
        stream.samples.append([encode_marker("step", **step)])
        stream.stamps.append(shown + 0.1)
    return stream


def gaze_stream(points: list[tuple[float, float]], stamps: list[float], name: str = "Tobii") -> Stream:
    """Arena points as normalised screen coordinates, stamped on the gaze device's clock."""
    normalized = MONITOR.arena_to_normalized(torch.tensor(points).reshape(-1, 2)).tolist()
    return Stream(name, "Gaze", "float32", 2, normalized, [t - CLOCK_OFFSET for t in stamps],
                  clock_offset=CLOCK_OFFSET)


SHOWN_AT = [101.0 + second for second in range(7)]  # far apart, so each row's gaze is only its own
NAN = (math.nan, math.nan)
GAZE = [  # (arena point, when), by the row it is for; the expected (valid, latency) of each row follows
    ((0.25, 0.75), SHOWN_AT[0] - 0.05),  # valid, 0.05 s old
    ((0.5, 0.5), SHOWN_AT[1] - 0.3),  # older than max_age_s
    (NAN, SHOWN_AT[2] - 0.01),  # the tracker's NaN
    ((-0.4, -0.1), SHOWN_AT[3] - 0.02),  # off the arena
    ((0.9, 0.1), SHOWN_AT[4]),  # taken as the state was shown: 0 s old
    ((0.7, 0.2), SHOWN_AT[4] + 0.05),  # after row 4's state; older than row 5's newest
    ((0.3, 0.6), SHOWN_AT[5] - 0.1),  # row 5's newest
    ((0.8, 0.8), SHOWN_AT[5] + 0.02),  # after row 5's state: never used
]
EXPECTED = [(True, 0.05, (0.25, 0.75)), (False, 0.3, None), (False, 0.01, None), (False, 0.02, None),
            (True, 0.0, (0.9, 0.1)), (True, 0.1, (0.3, 0.6)), (False, math.nan, None)]  # row 6 lacks its state


@pytest.fixture
def session_file(tmp_path, write_session):
    """An XDF file of a 7-step session (4 + 3 steps) whose sixth state marker the recorder missed: (path, rows)."""
    rows = write_session().rows
    path = tmp_path / "session.xdf"
    write_xdf(path, [marker_stream(rows, SHOWN_AT, skip_state=6),
                     gaze_stream([point for point, _ in GAZE], [when for _, when in GAZE])])
    return path, rows


def test_one_row_per_step_with_the_gaze_shown_with_its_state(session_file):
    path, rows = session_file
    recording = import_xdf(path)
    assert recording.num_steps == 7 and recording.num_episodes == 2
    assert recording.config == CONFIG and recording.metadata["seed"] == 0
    assert recording.metadata["step_rate_hz"] == 10.0 and "session.xdf" in recording.metadata["driver"]
    assert "'Tobii'" in recording.metadata["gaze_source"]
    for name in set(STEP_COLUMNS) - {"gaze", "gaze_valid", "gaze_latency"}:  # as the step markers recorded them
        expected = np.stack([np.asarray(row[name]) for row in rows]).astype(recording[name].dtype)
        np.testing.assert_array_equal(recording[name], expected, err_msg=name)
    for index, (valid, latency, point) in enumerate(EXPECTED):
        assert recording["gaze_valid"][index] == valid, index
        np.testing.assert_allclose(recording["gaze_latency"][index], latency, atol=1e-6, err_msg=str(index))
        np.testing.assert_allclose(recording["gaze"][index], point if valid else (0.0, 0.0), atol=1e-5,
                                   err_msg=str(index))


def test_max_age_and_gaze_options_follow_lsl_gaze(tmp_path, write_session):
    rows = write_session().rows[:1]
    gaze = gaze_stream([(0.25, 0.75)], [SHOWN_AT[0] - 0.3])
    pixels = MONITOR.arena_to_pixels(torch.tensor([0.25, 0.75]))
    gaze.channel_count, gaze.samples = 3, [[0.0, float(pixels[0]), MONITOR.screen_height - float(pixels[1])]]
    path = tmp_path / "pixels.xdf"
    write_xdf(path, [marker_stream(rows, SHOWN_AT), gaze])
    recording = import_xdf(path, coordinates="pixels", flip_y=True, channels=(1, 2), max_age_s=0.5)
    assert recording["gaze_valid"].tolist() == [True]
    np.testing.assert_allclose(recording["gaze"][0], (0.25, 0.75), atol=1e-5)
    assert not import_xdf(path, coordinates="pixels", flip_y=True, channels=(1, 2), max_age_s=0.2)["gaze_valid"][0]
    with pytest.raises(RecordingError, match="has 3 channels; gaze channels \\(1, 3\\) do not exist"):
        import_xdf(path, coordinates="pixels", channels=(1, 3))


def test_the_session_comes_from_the_header_or_else_the_first_session_marker(tmp_path, write_session):
    rows = write_session().rows[:2]
    gaze = gaze_stream([(0.5, 0.5)], [SHOWN_AT[0]])
    path = tmp_path / "late.xdf"
    write_xdf(path, [marker_stream(rows, SHOWN_AT, session_sample=False), gaze])
    assert import_xdf(path).num_steps == 2
    write_xdf(path, [marker_stream(rows, SHOWN_AT, session_in_header=False), gaze])
    assert import_xdf(path).config == CONFIG
    write_xdf(path, [marker_stream(rows, SHOWN_AT, session_in_header=False, session_sample=False), gaze])
    with pytest.raises(RecordingError, match="late.xdf: marker stream 'BikkleMarkers' has no session marker"):
        import_xdf(path)


def test_errors_name_the_file_and_the_problem(tmp_path, write_session):
    rows = write_session().rows[:2]
    markers, gaze = marker_stream(rows, SHOWN_AT), gaze_stream([(0.5, 0.5)], [SHOWN_AT[0]])
    path = tmp_path / "broken.xdf"

    def fails(streams, problem, **options):
        write_xdf(path, streams)
        with pytest.raises(RecordingError, match=rf"broken\.xdf: {problem}"):
            import_xdf(path, **options)

    fails([gaze], "no marker stream named 'BikkleMarkers'; the file holds 'Tobii' \\(type 'Gaze'")
    fails([markers], "no gaze stream of type 'Gaze'")
    fails([markers, gaze, gaze_stream([(0.5, 0.5)], [SHOWN_AT[0]], name="Pupil")],
          "2 streams qualify as the gaze stream of type 'Gaze' .*, so the choice is ambiguous")
    fails([markers, gaze], "no gaze stream named 'Eyes'", gaze_stream="Eyes")
    fails([markers, gaze], "gaze stream 'BikkleMarkers' holds strings, not numbers", gaze_stream="BikkleMarkers")
    fails([markers, markers, gaze], "2 streams qualify as the marker stream named 'BikkleMarkers'")
    fails([markers, gaze_stream([], [])], "gaze stream 'Tobii' holds no samples")
    no_steps = marker_stream(rows, SHOWN_AT)
    no_steps.samples, no_steps.stamps = no_steps.samples[:2], no_steps.stamps[:2]  # the session and one state
    fails([no_steps, gaze], "marker stream 'BikkleMarkers' holds no 'step' markers")
    foreign = marker_stream(rows, SHOWN_AT)
    foreign.samples[3] = [json.dumps({"schema_version": 99, "event": "state"})]
    fails([foreign, gaze], "marker 3 of stream 'BikkleMarkers': marker schema_version 99 is not supported")
    path.write_bytes(b"PK\x03\x04 a zip, say")
    with pytest.raises(RecordingError, match="broken.xdf: not a readable XDF file"):
        import_xdf(path)
    with pytest.raises(FileNotFoundError, match="no XDF file at .*missing.xdf"):
        import_xdf(tmp_path / "missing.xdf")


def test_missing_pyxdf_says_how_to_install_it(session_file, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyxdf", None)
    with pytest.raises(ImportError, match="pip install pyxdf"):
        import_xdf(session_file[0])


def test_the_command_writes_a_loadable_recording(session_file, tmp_path, capsys):
    path, _ = session_file
    output = tmp_path / "out" / "session.npz"
    main([str(path), "-o", str(output), "--max-age-s", "0.2"])
    assert load_recording(output).num_steps == 7
    assert "7 steps in 2 episodes, gaze valid on 43% of them" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="bikkle-import-xdf: .*no gaze stream named 'Eyes'"):
        main([str(path), "-o", str(output), "--gaze-stream", "Eyes"])
