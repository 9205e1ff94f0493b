"""The recording format: round trip, and clear errors for corrupt or foreign files."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from bikkle_rl.envs.config import BikkleConfig
from bikkle_rl.recording import (
    BASE_COLUMNS,
    COLUMNS,
    GAZE_TARGET_COLUMNS,
    SCHEMA_VERSION,
    RecordingError,
    load_recording,
    save_recording,
    select_episodes,
)
from bikkle_rl.recording.gaze_targets import (
    DEFAULT_TARGET_RADIUS,
    ROLE_BLUE,
    ROLE_HIGH_VALUE,
    ROLE_LOST,
    ROLE_OFF,
    ROLE_PINK,
)


def test_round_trip_keeps_every_column_and_the_metadata(tmp_path, write_session):
    writer = write_session()
    path = writer.save(tmp_path / "session.npz")
    loaded = load_recording(path)
    original = writer.to_recording()
    assert loaded.num_steps == 7 and loaded.num_episodes == 2
    assert set(loaded.columns) == set(COLUMNS)
    for name in COLUMNS:
        np.testing.assert_array_equal(loaded[name], original[name])
        assert loaded[name].dtype == np.dtype(COLUMNS[name][0])
    assert loaded.metadata["seed"] == 0 and loaded.metadata["driver"] == "test"
    assert loaded.config == BikkleConfig(num_pink=2, num_blue=1)
    assert loaded["pellet_pos"].shape == (7, 3, 2) and loaded["action"].shape == (7, 2)


def test_writer_rejects_a_row_with_missing_or_unknown_columns(write_session):
    writer = write_session()
    with pytest.raises(KeyError, match="missing columns \\['gaze_latency'\\]"):
        writer.append(**{name: 0 for name in BASE_COLUMNS if name != "gaze_latency"})
    with pytest.raises(KeyError, match="unknown columns \\['mood'\\]"):
        writer.append(**{name: 0 for name in BASE_COLUMNS}, mood=1)


def test_a_corrupt_file_names_the_file_and_the_problem(tmp_path, write_session):
    path = write_session().save(tmp_path / "session.npz")
    data = path.read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(RecordingError, match=r"truncated\.npz: not a readable NPZ recording"):
        load_recording(truncated)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a zip file at all")
    with pytest.raises(RecordingError, match=r"garbage\.npz: not a readable NPZ recording"):
        load_recording(garbage)
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        load_recording(tmp_path / "missing.npz")


def rewrite(path, **changes):
    """Rewrites an NPZ with some entries replaced (None removes one)."""
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    for name, value in changes.items():
        if value is None:
            arrays.pop(name)
        else:
            arrays[name] = value
    np.savez(path, **arrays)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"schema_version": np.int64(SCHEMA_VERSION + 1)}, f"schema_version {SCHEMA_VERSION + 1} is not supported"),
        ({"schema_version": None}, "no 'schema_version' entry"),
        ({"gaze_valid": None}, r"missing columns \['gaze_valid'\]"),
        ({"gaze": np.zeros((7, 3), np.float32)}, r"column 'gaze' has shape \(7, 3\), expected \(7, 2\)"),
        ({"episode": np.zeros(7, np.float32)}, "column 'episode' has dtype float32"),
        ({"gaze_target": None}, r"missing columns \['gaze_target'\]"),
        ({"episode": np.array([0, 0, -1, 0, 1, 1, 1])}, r"column 'episode': 1 of 7 rows are negative \(first: row 2\)"),
        ({"episode_step": np.array([0, 1, 2, 3, 0, 1, 10**10])},
         r"column 'episode_step': 1 of 7 rows lie outside \[0, max_steps = 200\) \(first: row 6\)"),
        ({"gaze": np.array([[0.5, 0.5], [np.nan, 0.5], [0.5, 0.5], [1.5, 0.5], [0.5, 0.5], [0.5, 0.5], [0.5, 0.5]],
                           np.float32)},
         r"column 'gaze': 2 of 7 rows marked valid \(gaze_valid\) are NaN or outside the arena \(first: row 1\)"),
        ({"high_value": np.array([0, 1, 0, 3, 0, 1, 0])}, r"column 'high_value': 1 of 7 rows are not a pellet slot"),
        ({"metadata": np.array("{not json")}, "malformed 'metadata'"),
        ({"metadata": np.array(json.dumps({"config": {"num_pink": 0}, "seed": 0, "step_rate_hz": 10}))},
         "not a valid BikkleConfig"),
    ],
)
def test_a_wrong_schema_names_the_file_and_the_problem(tmp_path, write_session, changes, problem):
    path = write_session().save(tmp_path / "session.npz")
    rewrite(path, **changes)
    with pytest.raises(RecordingError, match=rf"session\.npz: .*{problem}"):
        load_recording(path)


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path, write_session):
    recording = write_session().to_recording()
    path = save_recording(recording, tmp_path / "deep" / "session.npz")
    assert sorted(p.name for p in path.parent.iterdir()) == ["session.npz"]
    assert zipfile.is_zipfile(path)


def test_object_centric_gaze_on_hand_placed_steps(write_session):
    """Pinks at slots 0 and 1 (slot 1 high-value), a blue at slot 2; the gaze looks at each in turn."""
    writer = write_session((0,))
    pellets = [[0.2, 0.2], [0.8, 0.2], [0.5, 0.8]]
    looks = [([0.25, 0.2], True), ([0.8, 0.1], True), ([0.5, 0.9], True), ([0.5, 0.5], True), ([0.8, 0.2], False)]
    for step, (gaze, valid) in enumerate(looks):
        writer.append(time=0.1 * step, episode=0, episode_step=step, agent_pos=[0.5, 0.5], pellet_pos=pellets,
                      pellet_kind=[0, 0, 1], pellet_mask=[True, True, True], high_value=1, round_step=step,
                      action=[0.0, 0.0], reward=0.0, done=False, gaze=gaze, gaze_valid=valid, gaze_latency=0.0)
    recording = writer.to_recording()
    assert recording.metadata["gaze_target_radius"] == DEFAULT_TARGET_RADIUS
    assert recording["gaze_target"].tolist() == [0, 1, 2, -1, -1]
    np.testing.assert_allclose(recording["gaze_offset"], [[0.05, 0], [0, -0.1], [0, 0.1], [0, 0], [0, 0]], atol=1e-6)
    assert recording["gaze_target_kind"].tolist() == [0, 0, 1, -1, -1]
    assert recording["gaze_target_high_value"].tolist() == [False, True, False, False, False]
    assert recording.gaze_roles.tolist() == [ROLE_PINK, ROLE_HIGH_VALUE, ROLE_BLUE, ROLE_OFF, ROLE_LOST]


def test_a_version_1_file_loads_with_the_object_centric_gaze_derived(tmp_path, write_session):
    recording = write_session().to_recording()
    path = save_recording(recording, tmp_path / "session.npz")
    rewrite(path, schema_version=np.int64(1), **{name: None for name in GAZE_TARGET_COLUMNS})
    loaded = load_recording(path)
    for name in COLUMNS:
        np.testing.assert_array_equal(loaded[name], recording[name])
    rewrite(path, gaze_valid=None)
    with pytest.raises(RecordingError, match=r"session\.npz: missing columns \['gaze_valid'\]"):
        load_recording(path)


def test_select_episodes_renumbers_the_chosen_ones(write_session):
    recording = write_session((4, 3, 2)).to_recording()
    part = select_episodes(recording, [2, 0])
    assert part["episode"].tolist() == [0, 0, 1, 1, 1, 1]
    assert part["episode_step"].tolist() == [0, 1, 0, 1, 2, 3]
    np.testing.assert_array_equal(part["gaze"], np.concatenate((recording["gaze"][7:], recording["gaze"][:4])))
    part.validate()
    with pytest.raises(ValueError, match=r"no episodes \[5\]"):
        select_episodes(recording, [0, 5])
