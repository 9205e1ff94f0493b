"""The gaze-value benchmark's ``--reuse``: a finished run is read instead of retrained; a stopped run, or one whose
frame budget is raised, is continued from its checkpoints (:mod:`bikkle_rl.run_reuse` decides which)."""

import argparse

import pytest
from benchmark_scripts import benchmark_module

from bikkle_rl.checkpoint import save_checkpoint
from bikkle_rl.plain_config import plain_config
from bikkle_rl.training import Run


@pytest.fixture(scope="module")
def gaze_value():
    with benchmark_module("gaze_value") as module:
        yield module


def test_a_stopped_run_is_continued_from_its_newest_checkpoint_and_a_finished_one_read(gaze_value, tmp_path,
                                                                                      monkeypatch):
    started = []  # the configs train() was called with

    def train(cfg, run_dir):
        started.append(cfg)
        return Run(algo=None, env=None, history=[{"frames": cfg.total_frames, "seconds": 1.0, "return": 2.0}],
                   frames=cfg.total_frames)

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
