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


def test_a_pooled_evaluation_reports_each_checkpoints_verdicts(gaze_value, capsys, trust_cells):
    final, earlier = trust_cells(22.1, 21.9, 23.6, 23.1, 24.0), trust_cells(22.1, 21.9, 23.2, 23.1, 24.0)
    evaluation = {"results": trust_cells(22.1, 21.9, 23.4, 23.1, 24.0),
                  "pooled": [{"checkpoint": "run/final.pt", "results": final},
                             {"checkpoint": "run/checkpoints/checkpoint_000000001000.pt", "results": earlier}]}
    verdicts = gaze_value.report_trust(evaluation)
    assert not verdicts["correlated_share"]  # the pooled cells: (23.4 - 22) / 2 = 0.7
    assert [(part["checkpoint"], part["correlated_share"]) for part in verdicts["per_checkpoint"]] == [
        ("run/final.pt", True), ("run/checkpoints/checkpoint_000000001000.pt", False)]  # 0.8 and 0.6
    out = capsys.readouterr().out
    assert "final.pt: none / uniform 22.10 / 21.90, greedy 22.00; shares correlated 0.80 / realistic 0.55" in out
    assert "checkpoint_000000001000.pt" in out and "3/4 trust targets" in out
    assert "per_checkpoint" not in gaze_value.report_trust({"results": final, "pooled": []})
