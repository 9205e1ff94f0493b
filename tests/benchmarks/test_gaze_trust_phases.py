"""The trust-phases benchmark splits each gaze case's episodes into phases that add up to what the evaluation
measures of the same episodes, counts a blue touch as looked-at where the touched blue led the looks, and reads the
reliability probe a checkpoint saved."""

import pytest
import torch
from benchmark_scripts import benchmark_module
from tensordict import TensorDict

from bikkle_rl.agent_io import load_agent
from bikkle_rl.checkpoint import save_checkpoint
from bikkle_rl.envs.config import BikkleConfig
from bikkle_rl.envs.dynamics import BLUE, PINK
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
    stack = env_stack(compose_train(tmp_path, "env=gaze_value", "model=transformer", "transforms=gaze_trust"))
    arena = BikkleConfig(**evaluation_stack(stack, "gaze-value", "none", 8)["env"])
    figures = phases_benchmark.phase_figures(make_reference_policy("greedy", arena), stack, "gaze-value", arenas=8,
                                             seed=3, biases=(0.9,))
    assert list(figures) == [*GAZE_SCENARIOS, "realistic, bias 0.9"]
    cells = evaluate_cells({"greedy": reference_factory("greedy")}, stack, "gaze-value", list(GAZE_SCENARIOS),
                           episodes=8, seed=3)
    for scenario in GAZE_SCENARIOS:
        for name in ("return", "pink", "blue"):
            total = cells[scenario]["greedy"][name].float().mean().item()
            assert sum(figures[scenario][name]) == pytest.approx(total, abs=1e-4), (scenario, name)
        first, middle, last = figures[scenario]["pink"]  # steps 0-19, 20-99, 100-199: greedy collects all along
        assert 0 < first < middle and 0 < last
        assert all(0 <= looked <= blue for looked, blue in zip(figures[scenario]["looked-at blue"],
                                                                figures[scenario]["blue"]))


def test_each_case_against_no_gaze_per_phase_and_its_plot(phases_benchmark, tmp_path):
    figures = {"correlated": {"return": [3.0, 9.0, 12.0]}, "uniform": {"return": [2.5, 8.0, 10.0]},
               "none": {"return": [2.5, 8.5, 11.0]}}
    assert phases_benchmark.against_no_gaze(figures) == {"correlated": [0.5, 0.5, 1.0], "uniform": [0.0, -0.5, -1.0]}
    path = phases_benchmark.plot_phases({"run a": figures, "run b": figures}, tmp_path / "phases.png")
    assert path.read_bytes().startswith(b"\x89PNG")


def test_a_blue_touch_counts_as_looked_at_where_the_touched_blue_led_the_looks(phases_benchmark):
    # three steps of one arena, a pink (slot 0) and two blues (slots 1, 2); blue 2 is the nearest blue throughout
    rollout = TensorDict({
        "pellet_kind": torch.tensor([[PINK, BLUE, BLUE]]).expand(1, 3, 3),
        "pellet_mask": torch.ones(1, 3, 3, dtype=torch.bool),
        "pellet_rel": torch.tensor([[0.5, 0.0], [0.3, 0.3], [0.05, 0.0]]).expand(1, 3, 3, 2),
        "pellet_gaze_share": torch.tensor([[[0.0, 0.0, 0.0], [0.1, 0.2, 0.6], [0.7, 0.0, 0.2]]]),
        ("next", "events", "blue"): torch.tensor([[[1], [1], [1]]]),
    }, batch_size=[1, 3])
    # no look yet / blue 2 leads the looks / the pink leads them
    assert phases_benchmark.looked_blue_touches(rollout).tolist() == [[0.0, 1.0, 0.0]]


def test_the_beliefs_are_the_saved_probes_and_a_run_without_one_has_none(phases_benchmark, tiny_gaze_run, tmp_path):
    def beliefs(path):
        actor, run_config = load_agent(str(path))
        probe = phases_benchmark.saved_probe(str(path), actor)
        figures = phases_benchmark.phase_figures(actor, env_stack(run_config), "gaze-value", 4, 0, (0.9,), probe)
        assert list(figures) == [*GAZE_SCENARIOS, "realistic, bias 0.9"]
        return torch.tensor([case[phases_benchmark.BELIEF] for case in figures.values()]) if probe else figures

    path = tiny_gaze_run(tmp_path / "probe", "algo.reliability_coeff=0.5")
    values = beliefs(path)
    assert ((values > 0) & (values < 1)).all() and not torch.allclose(values, torch.full_like(values, 0.5))
    payload = torch.load(path, weights_only=False)
    for tensor in payload["algo"]["reliability_probe"].values():
        tensor.zero_()  # a probe of logit 0 everywhere believes 0.5 in every case and phase
    save_checkpoint(tmp_path / "zeroed.pt", payload)
    zeroed = beliefs(tmp_path / "zeroed.pt")
    torch.testing.assert_close(zeroed, torch.full_like(zeroed, 0.5))
    without = beliefs(tiny_gaze_run(tmp_path / "without"))
    assert all(phases_benchmark.BELIEF not in case for case in without.values())


def test_the_trust_is_the_gaze_gates_and_a_run_without_one_has_none(phases_benchmark, tiny_gaze_run, tmp_path):
    path = tiny_gaze_run(tmp_path / "gate", "model=transformer", "transforms=gaze_trust", "model.gaze_adapter=8",
                         "model.gaze_token=false", "model.gaze_gate=8")
    actor, run_config = load_agent(str(path))

    def trusts():
        figures = phases_benchmark.phase_figures(actor, env_stack(run_config), "gaze-value", 4, 0)
        return torch.tensor([case[phases_benchmark.TRUST] for case in figures.values()])

    learned = trusts()
    assert ((learned > 0) & (learned < 1)).all()
    gate = phases_benchmark.gated_encoder(actor).gaze_gate
    with torch.no_grad():
        gate.net[-1].weight.zero_()
        gate.net[-1].bias.fill_(-1.0)  # a gate of logit -1 for every record trusts sigmoid(-1) in every case and phase
    torch.testing.assert_close(trusts(), torch.full((len(GAZE_SCENARIOS), 3), torch.sigmoid(torch.tensor(-1.0)).item()))
    logged = tmp_path / "gate" / "train" / "scalars" / "train"  # training logs the gate's trust per batch
    assert {path.name for path in logged.glob("gate_trust*.csv")} == {
        "gate_trust.csv", "gate_trust_informative.csv", "gate_trust_uninformative.csv"}
    plain, plain_config = load_agent(str(tiny_gaze_run(tmp_path / "plain", "model=transformer")))
    assert not list((tmp_path / "plain").rglob("gate_trust*.csv"))
    assert phases_benchmark.gated_encoder(plain) is None
    figures = phases_benchmark.phase_figures(plain, env_stack(plain_config), "gaze-value", 4, 0)
    assert all(phases_benchmark.TRUST not in case for case in figures.values())
