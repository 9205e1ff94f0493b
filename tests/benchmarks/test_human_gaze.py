"""The human-gaze benchmark: its helpers mapping a dropout fraction and a latency to the realistic source's
parameters, and a smoke run of the whole script on a tiny pretrained agent (a 2 x 2 grid, 8 episodes a cell, two
simulated sessions, a short fine-tune)."""

import json

import numpy as np
import pytest
from benchmark_scripts import benchmark_module

from bikkle_rl.envs.config import BikkleConfig
from bikkle_rl.gaze.fit import PARAMETERS
from bikkle_rl.gaze.fitted import load_fitted
from bikkle_rl.gaze.realistic import RealisticGaze
from bikkle_rl.human.simulate import simulate_recording
from bikkle_rl.recording import load_recording


@pytest.fixture(scope="module")
def human_gaze():
    with benchmark_module("human_gaze") as module:
        yield module


@pytest.mark.parametrize("fraction, p_drop", [(0.0, 0.0), (0.1, 0.25 / 9), (0.25, 0.25 / 3), (0.5, 0.25)])
def test_a_dropout_fraction_maps_to_a_chain_lost_that_often_with_the_same_bursts(human_gaze, fraction, p_drop):
    chain = human_gaze.dropout_chain(fraction)
    assert chain == pytest.approx((p_drop, 0.25))
    assert 1 - RealisticGaze(p_drop=chain[0], p_recover=chain[1]).valid_fraction == pytest.approx(fraction)
    assert human_gaze.dropout_chain(fraction, p_recover=0.5)[1] == 0.5


@pytest.mark.parametrize("fraction, message", [(1.0, r"must be in \[0, 1\)"), (-0.1, r"must be in \[0, 1\)"),
                                               (0.9, r"needs p_drop 2.25 > 1 \(at most 0.8 is reachable\)")])
def test_a_dropout_fraction_the_chain_cannot_reach_is_refused(human_gaze, fraction, message):
    with pytest.raises(ValueError, match=message):
        human_gaze.dropout_chain(fraction)


def test_a_latency_is_a_whole_number_of_steps(human_gaze):
    assert [human_gaze.latency_steps(ms) for ms in (0, 100, 500)] == [0, 1, 5]
    for bad in (150, -100):
        with pytest.raises(ValueError, match="whole number of 100 ms steps"):
            human_gaze.latency_steps(bad)


@pytest.mark.slow
def test_the_script_reports_every_cell_the_participant_and_the_finetune(human_gaze, pretrained_gaze_agent,
                                                                       tmp_path, capsys):
    out = tmp_path / "out"
    report = human_gaze.main(["--checkpoint", str(pretrained_gaze_agent), "--latencies-ms", "0", "300",
                              "--dropouts", "0", "0.5", "--episodes", "8", "--sessions", "2",
                              "--session-arenas", "8", "--session-steps", "200", "--fit-bootstrap", "10",
                              "--finetune-frames", "512", "--out", str(out)])
    saved = json.loads((out / "human_gaze.json").read_text())
    assert saved["protocol"] == "gaze-value" and saved["episodes"] == 8
    assert set(saved["references"]) == {"greedy", "agent without gaze", "oracle"}
    assert saved["oracle_source"] == "the agent under oracle gaze"
    cells = saved["sweep"]["cells"]
    assert [(c["latency_ms"], c["latency_steps"], c["dropout"]) for c in cells] == [
        (0, 0, 0), (0, 0, 0.5), (300, 3, 0), (300, 3, 0.5)]
    for cell in cells:
        for policy in ("agent", "greedy-gaze", "greedy", "oracle"):
            assert cell[policy]["episodes"] == 8 and cell[policy]["ci_low"] <= cell[policy]["mean"]
        assert cell["greedy"] == saved["references"]["greedy"] and cell["oracle"] == saved["references"]["oracle"]
        assert set(cell["fraction"]) == {"value", "ci_low", "ci_high"}
        source = load_fitted(cell["scenario"].removeprefix("fitted:"))  # the cell's source, as played
        assert source == human_gaze.realistic_options(latency_steps=cell["latency_steps"], p_drop=cell["p_drop"],
                                                      p_recover=0.25)
    assert (out / "latency_dropout.png").stat().st_size > 0

    person = saved["participant"]
    assert person["steps"] == 2 * 8 * 200
    assert set(person["fit"]["recovery"]) == set(PARAMETERS)
    assert person["fit"]["recovery"]["p_drop"]["true"] == RealisticGaze().p_drop
    assert load_fitted(person["fit"]["path"])["latency_steps"] == person["fit"]["recovery"]["latency_steps"]["fitted"]
    assert set(person["results"]) == {"true model", "replayed sessions", "fitted model"}
    for row in person["results"].values():
        assert set(row) == {"agent", "greedy", "greedy-gaze"}
    assert person["scenarios"]["replayed sessions"].startswith("replay-pellet:")
    recorded = load_recording(person["sessions"][1])  # a session as saved: what simulating it again gives
    arena = BikkleConfig(**recorded.metadata["config"])
    again = simulate_recording(arena, RealisticGaze(), "greedy-gaze", 8, 200, seed=recorded.metadata["seed"])
    assert recorded.metadata == again.metadata
    for name, values in again.columns.items():
        np.testing.assert_array_equal(recorded[name], values, err_msg=name)

    finetune = saved["finetune"]
    assert (finetune["trained"], finetune["heldout"]) == (person["sessions"][:1], person["sessions"][1:])
    assert set(finetune["results"]) >= {"before", "after", "greedy", "greedy-gaze"}
    assert report["finetune"]["frames"] == finetune["frames"] >= 512
    printed = capsys.readouterr().out
    assert "fraction" in printed and "truth in the 95 % interval" in printed and "held-out session_1" in printed
