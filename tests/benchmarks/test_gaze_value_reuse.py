"""The gaze-value benchmark's ``--reuse``: a saved run is read instead of retrained only if it was trained with the
benchmark's settings, a setting added since (at its default) included; a stopped run, or one whose frame budget is
raised, is continued from its checkpoints."""

import argparse
import importlib.util
from pathlib import Path

import pytest

from bikkle_rl.checkpoint import save_checkpoint
from bikkle_rl.envs.stack import plain_config

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "gaze_value.py"


@pytest.fixture(scope="module")
def gaze_value():
    spec = importlib.util.spec_from_file_location("gaze_value_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def saved_run(gaze_value, tmp_path: Path, *overrides: str, edit=None) -> Path:
    """A checkpoint holding only the config of a train run composed with ``overrides`` (then ``edit``-ed)."""
    config = plain_config(gaze_value.compose_config("train", ["env=gaze_value", "model=transformer", "seed=1",
                                                             f"logger.log_dir={tmp_path}", *overrides]))
    if edit:
        edit(config)
    return save_checkpoint(tmp_path / "final.pt", {"config": config})


def wanted(gaze_value, tmp_path: Path, *overrides: str):
    return gaze_value.compose_config("train", ["env=gaze_value", "model=transformer", "seed=1",
                                              f"logger.log_dir={tmp_path}", *overrides])


def test_a_run_with_the_same_settings_is_reused(gaze_value, tmp_path):
    final = saved_run(gaze_value, tmp_path)
    assert gaze_value.reusable_checkpoint(tmp_path, wanted(gaze_value, tmp_path)) == (final, True)


def test_a_run_saved_before_a_setting_was_added_is_reused(gaze_value, tmp_path):
    def older(config):
        del config["algo"]["optim"]["warmup"]
        del config["model"]["gaze_token"]

    final = saved_run(gaze_value, tmp_path, edit=older)
    assert gaze_value.reusable_checkpoint(tmp_path, wanted(gaze_value, tmp_path)) == (final, True)


@pytest.mark.parametrize("override, setting", [("seed=2", "seed"), ("model.gaze_adapter=8", "model"),
                                               ("algo.optim.warmup=0.1", "algo"), ("gaze=uniform", "gaze")])
def test_a_run_with_other_settings_is_refused_by_name(gaze_value, tmp_path, override, setting):
    saved_run(gaze_value, tmp_path, override)
    with pytest.raises(ValueError, match=rf"--reuse: .*final.pt was trained with other \['{setting}'\] settings"):
        gaze_value.reusable_checkpoint(tmp_path, wanted(gaze_value, tmp_path))


def test_a_run_trained_for_more_frames_is_refused(gaze_value, tmp_path):
    saved_run(gaze_value, tmp_path, "total_frames=2000000000")
    with pytest.raises(ValueError, match=r"final.pt was trained for 2000000000 frames, more than .* 1000000000"):
        gaze_value.reusable_checkpoint(tmp_path, wanted(gaze_value, tmp_path, "total_frames=1000000000"))


def test_a_stopped_run_is_continued_from_its_newest_checkpoint_and_a_finished_one_read(gaze_value, tmp_path,
                                                                                      monkeypatch):
    started = []  # the configs train() was called with

    def train(cfg, run_dir):
        started.append(cfg)
        return {"history": [{"frames": cfg.total_frames, "seconds": 1.0, "return": 2.0}]}

    monkeypatch.setattr(gaze_value, "train", train)
    args = argparse.Namespace(model="transformer", device="cpu", threads=1, frames=4096, minutes=1.0,
                              train_p_valid=(0.0, 1.0), train_override=[], reuse=True)
    run = tmp_path / "run"

    def train_agent():
        return gaze_value.train_agent(run, 1, "correlated", args)

    train_agent()
    assert len(started) == 1 and started[0].resume is None  # nothing there: a fresh run
    config = plain_config(started[0])
    for frames in (1024, 2048):  # the run stopped after two periodic checkpoints
        save_checkpoint(run / "checkpoints" / f"checkpoint_{frames:012d}.pt", {"config": config})
    train_agent()
    assert started[1].resume == str(run / "checkpoints" / "checkpoint_000000002048.pt")

    save_checkpoint(run / "final.pt", {"config": config})
    assert train_agent() == (run / "final.pt", [{"frames": 4096, "seconds": 1.0, "return": 2.0}])
    assert len(started) == 2  # finished at this budget: read, not trained

    args.frames = 8192
    train_agent()
    assert started[2].resume == str(run / "final.pt") and started[2].total_frames == 8192
