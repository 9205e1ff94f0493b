"""The trust-phases benchmark splits each gaze case's episodes into phases that add up to what the evaluation
measures of the same episodes."""

import pytest
from benchmark_scripts import benchmark_module

from bikkle_rl.envs.config import BikkleConfig
from bikkle_rl.evaluation.cells import evaluate_cells, reference_factory
from bikkle_rl.evaluation.protocols import evaluation_stack
from bikkle_rl.evaluation.rollout import GAZE_SCENARIOS
from bikkle_rl.experiment import env_stack
from bikkle_rl.policies import make_reference_policy


@pytest.fixture(scope="module")
def phases_benchmark():
    with benchmark_module("gaze_trust_phases") as module:
        yield module


def test_the_phases_add_up_to_the_evaluations_episode_totals(phases_benchmark, compose_train, tmp_path):
    stack = env_stack(compose_train(tmp_path, "env=gaze_value"))
    arena = BikkleConfig(**evaluation_stack(stack, "gaze-value", "none", 8)["env"])
    figures = phases_benchmark.phase_figures(make_reference_policy("greedy", arena), stack, "gaze-value", arenas=8,
                                             seed=3, biases=(0.9,))
    assert list(figures) == [*GAZE_SCENARIOS, "realistic, bias 0.9"]
    cells = evaluate_cells({"greedy": reference_factory("greedy")}, stack, "gaze-value", list(GAZE_SCENARIOS),
                           episodes=8, seed=3)
    for scenario in GAZE_SCENARIOS:
        for name in phases_benchmark.FIGURES:
            total = cells[scenario]["greedy"][name].float().mean().item()
            assert sum(figures[scenario][name]) == pytest.approx(total, abs=1e-4), (scenario, name)
        first, middle, last = figures[scenario]["pink"]  # steps 0-19, 20-99, 100-199: greedy collects all along
        assert 0 < first < middle and 0 < last
