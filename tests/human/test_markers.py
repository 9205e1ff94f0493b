"""The play session's LSL marker stream: outlet to inlet on loopback, and the marker checks."""

from __future__ import annotations

import json
import math
import uuid

import numpy as np
import pytest
import torch

from bikkle_rl.envs.config import BikkleConfig
from bikkle_rl.gaze.screen import WindowGeometry
from bikkle_rl.human.markers import (
    MARKER_SCHEMA_VERSION,
    STEP_COLUMNS,
    MarkerError,
    MarkerOutlet,
    encode_marker,
    parse_marker,
    session_config,
    session_geometry,
)
from bikkle_rl.recording import RecordingWriter

pylsl = pytest.importorskip("pylsl")

CONFIG = BikkleConfig(num_pink=2, num_blue=1)  # the arena of the write_session fixture
MONITOR = WindowGeometry(1000, 800, arena_left=300, arena_top=250, arena_size=400)


@pytest.fixture
def marker_outlet():
    """A MarkerOutlet with a unique source id and an open inlet on it: (outlet, inlet)."""
    source_id = f"bikkle-test-{uuid.uuid4().hex}"
    with MarkerOutlet(CONFIG, seed=7, step_rate_hz=10.0, geometry=MONITOR, source_id=source_id) as outlet:
        streams = pylsl.resolve_bypred(f"source_id='{source_id}'", 1, 5.0)
        assert streams, "the marker stream did not appear"
        inlet = pylsl.StreamInlet(streams[0])
        inlet.open_stream(5.0)
        yield outlet, inlet
        inlet.close_stream()


def pull_marker(inlet) -> dict:
    sample, _ = inlet.pull_sample(timeout=5.0)
    assert sample is not None, "no marker arrived"
    return parse_marker(sample[0])


def test_the_session_is_in_the_stream_header(marker_outlet):
    _, inlet = marker_outlet
    info = inlet.info(5.0)
    assert (info.name(), info.type(), info.channel_count(), info.nominal_srate()) == ("BikkleMarkers", "Markers", 1, 0)
    session = parse_marker(info.desc().child_value("session"), expect="session")
    assert session["seed"] == 7 and session["step_rate_hz"] == 10.0
    assert session_config(session) == CONFIG
    assert session_geometry(session) == MONITOR


def test_state_and_step_markers_arrive_and_make_a_recording_row(marker_outlet, write_session):
    outlet, inlet = marker_outlet
    row = dict(write_session().rows[4], gaze_latency=math.nan)  # an unknown latency travels as null
    state = {name: torch.as_tensor(np.asarray(row[name])) for name in ("agent_pos", "pellet_pos", "pellet_kind",
                                                                       "pellet_mask", "high_value", "round_step")}
    outlet.state(1, 0, {**state, "step_count": torch.tensor(3)})  # keys beyond the state columns are ignored
    outlet.step(row)

    shown = pull_marker(inlet)
    assert shown["event"] == "state" and (shown["episode"], shown["episode_step"]) == (1, 0)
    assert "step_count" not in shown
    np.testing.assert_allclose(shown["pellet_pos"], row["pellet_pos"], rtol=1e-6)
    assert shown["pellet_mask"] == [True, True, True] and shown["high_value"] == row["high_value"]

    sample, _ = inlet.pull_sample(timeout=5.0)
    assert '"gaze_latency": null' in sample[0]
    step = parse_marker(sample[0], expect="step")
    writer = RecordingWriter({"config": CONFIG, "seed": 7, "step_rate_hz": 10.0})
    writer.append(**{name: step[name] for name in STEP_COLUMNS})
    recorded = writer.to_recording()
    expected = RecordingWriter({"config": CONFIG, "seed": 7, "step_rate_hz": 10.0}, rows=[row]).to_recording()
    for name in STEP_COLUMNS:
        np.testing.assert_array_equal(recorded[name], expected[name], err_msg=name)
    assert math.isnan(recorded["gaze_latency"][0])


def test_the_outlet_rejects_batched_or_incomplete_rows(marker_outlet, write_session):
    outlet, _ = marker_outlet
    row = write_session().rows[0]
    with pytest.raises(ValueError, match=r"'agent_pos' has shape \(1, 2\), expected \(2,\)"):
        outlet.state(0, 0, {**row, "agent_pos": torch.zeros(1, 2)})
    with pytest.raises(KeyError, match="missing \\['round_step'\\]"):
        outlet.state(0, 0, {name: value for name, value in row.items() if name != "round_step"})
    with pytest.raises(KeyError, match="unknown columns \\['mood'\\]"):
        outlet.step({**row, "mood": 1})
    with pytest.raises(KeyError, match="missing \\['reward'\\]"):
        outlet.step({name: value for name, value in row.items() if name != "reward"})
    outlet.close()
    with pytest.raises(RuntimeError, match="closed"):
        outlet.step(row)


@pytest.mark.parametrize(("text", "problem"), [
    ("not json {", "marker is not JSON"),
    ("[1, 2]", "must be a JSON object, got list"),
    (json.dumps({"schema_version": MARKER_SCHEMA_VERSION + 1, "event": "state"}),
     f"schema_version {MARKER_SCHEMA_VERSION + 1} is not supported"),
    (json.dumps({"event": "state"}), "schema_version None is not supported"),
    (encode_marker("blink"), "unknown marker event 'blink'"),
    (encode_marker("session", config={}, seed=None, step_rate_hz=10.0),
     "'session' marker lacks fields \\['geometry'\\]"),
])
def test_parse_marker_names_what_is_wrong(text, problem):
    with pytest.raises(MarkerError, match=problem):
        parse_marker(text)


def test_parse_marker_checks_the_expected_event_and_the_session_fields():
    session = parse_marker(encode_marker("session", config={"num_pink": 0}, seed=None, step_rate_hz=10.0,
                                         geometry={"screen_width": 0}))
    with pytest.raises(MarkerError, match="expected a 'state' marker, got 'session'"):
        parse_marker(encode_marker("session", config={}, seed=None, step_rate_hz=10.0, geometry={}), expect="state")
    with pytest.raises(MarkerError, match="'config' is not a valid BikkleConfig: num_pink must be at least 1"):
        session_config(session)
    with pytest.raises(MarkerError, match="'geometry' is not a valid WindowGeometry"):
        session_geometry(session)
