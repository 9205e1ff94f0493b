"""The reliability-probe benchmark reads the probe a checkpoint saved, per scenario and phase of an episode, and
names a run that had none."""

import pytest
import torch
from benchmark_scripts import benchmark_module

from bikkle_rl.checkpoint import save_checkpoint
from bikkle_rl.evaluation.rollout import EPISODE_PHASES, GAZE_SCENARIOS


@pytest.fixture(scope="module")
def probe_benchmark():
    with benchmark_module("gaze_reliability_probe") as module:
        yield module


def test_the_beliefs_are_the_saved_probes_and_a_run_without_one_is_named(probe_benchmark, tiny_gaze_run, tmp_path):
    path = tiny_gaze_run(tmp_path / "probe", "algo.reliability_coeff=0.5")
    beliefs = probe_benchmark.probe_beliefs(str(path), "gaze-value", arenas=4, seed=0, biases=(0.9,))
    assert list(beliefs) == [*GAZE_SCENARIOS, "realistic, bias 0.9"]
    values = torch.tensor(list(beliefs.values()))
    assert values.shape == (5, len(EPISODE_PHASES)) and ((values > 0) & (values < 1)).all()
    assert not torch.allclose(values, torch.full_like(values, 0.5))
    payload = torch.load(path, weights_only=False)
    for tensor in payload["algo"]["reliability_probe"].values():
        tensor.zero_()  # a probe of logit 0 everywhere believes 0.5 in every scenario and phase
    save_checkpoint(tmp_path / "zeroed.pt", payload)
    zeroed = torch.tensor(list(probe_benchmark.probe_beliefs(str(tmp_path / "zeroed.pt"), "gaze-value", 4, 0).values()))
    torch.testing.assert_close(zeroed, torch.full_like(zeroed, 0.5))
    without = tiny_gaze_run(tmp_path / "without")
    with pytest.raises(SystemExit, match="no reliability probe"):
        probe_benchmark.probe_beliefs(str(without), "gaze-value", arenas=4, seed=0)
