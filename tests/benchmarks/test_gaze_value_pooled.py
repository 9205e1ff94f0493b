"""The gaze-value benchmark's ``--pool-earlier``: its evaluation pools the gaze agent's last checkpoints, into a
folder beside the final checkpoint's own evaluation."""

import argparse
from pathlib import Path

import pytest
from benchmark_scripts import benchmark_module


@pytest.fixture(scope="module")
def gaze_value():
    with benchmark_module("gaze_value") as module:
        yield module


@pytest.mark.parametrize("pool_earlier, folder", [(0, "evaluation"), (2, "evaluation_pooled_2")])
def test_the_evaluation_pools_as_asked_and_keeps_the_final_checkpoints_own(gaze_value, tmp_path, monkeypatch,
                                                                          pool_earlier, folder):
    evaluated = []
    monkeypatch.setattr(gaze_value, "run_evaluation", evaluated.append)
    args = argparse.Namespace(episodes=8, device="cpu", threads=1, pool_earlier=pool_earlier, out=tmp_path)
    gaze_value.evaluate_agent(1, tmp_path / "seed_1" / "mixture" / "final.pt", None, args)
    (cfg,) = evaluated
    assert cfg.pool_earlier == pool_earlier and cfg.seed == 1
    assert Path(cfg.out_dir) == tmp_path / "seed_1" / folder
