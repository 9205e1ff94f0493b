"""BIDS eye-tracking export: file naming, the sidecar, and a round trip back to the recording's gaze."""

from __future__ import annotations

import gzip
import json
import math

import numpy as np
import pytest

from bikkle_rl.human.bids import COLUMN_DESCRIPTIONS, export_bids, main, physio_path, read_bids_physio, sidecar_path
from bikkle_rl.recording import save_recording


@pytest.fixture
def recording(write_session):
    """A 7-step recording (every third gaze invalid) with one unknown latency."""
    recording = write_session().to_recording()
    recording.columns["gaze_latency"][5] = math.nan
    return recording


def test_round_trip_gives_back_the_gaze_columns(tmp_path, recording):
    path = export_bids(recording, tmp_path / "bids", subject="01")
    table = read_bids_physio(path)
    assert list(table) == list(COLUMN_DESCRIPTIONS)
    valid = recording["gaze_valid"]
    assert 0 < valid.sum() < len(valid)
    np.testing.assert_array_equal(table["timestamp"], recording["time"])
    np.testing.assert_array_equal(table["gaze_valid"].astype(bool), valid)
    np.testing.assert_array_equal(table["episode"], recording["episode"])
    np.testing.assert_array_equal(table["episode_step"], recording["episode_step"])
    gaze = np.stack([table["x_coordinate"], table["y_coordinate"]], -1)
    np.testing.assert_array_equal(gaze[valid].astype(np.float32), recording["gaze"][valid])
    assert np.isnan(gaze[~valid]).all()
    np.testing.assert_array_equal(table["gaze_latency"], recording["gaze_latency"])  # NaN where unknown

    with gzip.open(path, "rt") as file:
        lines = file.read().splitlines()
    assert len(lines) == recording.num_steps and lines[2].split("\t")[1:3] == ["n/a", "n/a"]  # headerless


def test_files_are_named_and_placed_as_bids_asks(tmp_path, recording):
    root = tmp_path / "bids"
    path = export_bids(recording, root, subject="01", session="pilot", task="bikkle", run=2)
    assert path == root / "sub-01/ses-pilot/beh/sub-01_ses-pilot_task-bikkle_run-2_recording-eye1_physio.tsv.gz"
    assert sidecar_path(path).name == "sub-01_ses-pilot_task-bikkle_run-2_recording-eye1_physio.json"
    assert physio_path(root, "02") == root / "sub-02/beh/sub-02_task-bikkle_recording-eye1_physio.tsv.gz"
    description = json.loads((root / "dataset_description.json").read_text())
    assert description["BIDSVersion"].startswith("1.11") and description["DatasetType"] == "raw"

    (root / "dataset_description.json").write_text(json.dumps({"Name": "mine", "BIDSVersion": "1.11.0"}))
    export_bids(recording, root, subject="01", session="pilot", run=3)
    assert json.loads((root / "dataset_description.json").read_text())["Name"] == "mine"  # kept
    with pytest.raises(FileExistsError, match="run-2_recording-eye1_physio.tsv.gz exists"):
        export_bids(recording, root, subject="01", session="pilot", run=2)
    export_bids(recording, root, subject="01", session="pilot", run=2, overwrite=True)
    with pytest.raises(ValueError, match="subject label must be letters and digits only, got 'sub_01'"):
        physio_path(root, "sub_01")
    with pytest.raises(ValueError, match="run index must be >= 0"):
        physio_path(root, "01", run=-1)


def test_the_sidecar_holds_the_required_eye_tracking_fields(tmp_path, recording):
    sidecar = json.loads(sidecar_path(export_bids(recording, tmp_path, subject="01")).read_text())
    assert sidecar["PhysioType"] == "eyetrack" and sidecar["SamplingFrequency"] == 10.0
    assert sidecar["StartTime"] == recording["time"][0]
    assert sidecar["Columns"] == ["timestamp", "x_coordinate", "y_coordinate", "episode", "episode_step",
                                  "gaze_valid", "gaze_latency"]
    assert sidecar["RecordedEye"] == "cyclopean" and sidecar["SampleCoordinateSystem"] == "gaze-on-screen"
    assert sidecar["Manufacturer"] == "n/a"
    for column in sidecar["Columns"]:
        assert sidecar[column]["Description"], column
    assert sidecar["x_coordinate"]["Units"] and sidecar["y_coordinate"]["Units"]  # REQUIRED for eye-tracking
    assert sidecar["timestamp"]["Units"] == sidecar["gaze_latency"]["Units"] == "s"
    assert set(sidecar["gaze_valid"]["Levels"]) == {"0", "1"}
    assert sidecar["BikkleSession"]["config"]["num_pink"] == 2 and sidecar["BikkleSession"]["driver"] == "test"


def test_read_back_checks_the_sidecar(tmp_path, recording):
    path = export_bids(recording, tmp_path, subject="01")
    sidecar = sidecar_path(path)
    sidecar.write_text(json.dumps({"Columns": ["timestamp", "x_coordinate"]}))
    with pytest.raises(ValueError, match="line 1 has 7 values, the sidecar names 2"):
        read_bids_physio(path)
    sidecar.unlink()
    with pytest.raises(FileNotFoundError, match="no sidecar"):
        read_bids_physio(path)


def test_the_command_exports_a_recording_file(tmp_path, recording, capsys):
    npz = save_recording(recording, tmp_path / "session.npz")
    main([str(npz), "--bids-root", str(tmp_path / "bids"), "--subject", "07", "--run", "1"])
    assert "sub-07_task-bikkle_run-1_recording-eye1_physio.tsv.gz" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="bikkle-export-bids: .*exists"):
        main([str(npz), "--bids-root", str(tmp_path / "bids"), "--subject", "07", "--run", "1"])
