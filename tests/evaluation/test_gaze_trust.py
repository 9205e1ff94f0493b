"""The trust targets: read off one evaluation's cells, and across runs of one recipe."""


import pytest
import torch

from bikkle_rl.evaluation.aggregate import aggregate
from bikkle_rl.evaluation.gaze_trust import format_trust_across_runs, has_trust_cells, trust_across_runs, trust_verdicts


def test_trust_verdicts_read_the_shares_of_the_oracles_gain_over_greedy(trust_cells):
    verdicts, shares = trust_verdicts(trust_cells(none=22.1, uniform=21.9, correlated=23.6, realistic=22.9, exact=24.0))
    assert shares == pytest.approx({"correlated": 0.8, "realistic": 0.45})
    assert verdicts == {"no_gaze_floor": True, "uniform_harmless": True, "correlated_share": True,
                        "realistic_share": False}
    verdicts, _ = trust_verdicts(trust_cells(none=21.0, uniform=20.0, correlated=23.6, realistic=23.1, exact=24.0))
    assert not verdicts["no_gaze_floor"] and not verdicts["uniform_harmless"] and verdicts["realistic_share"]
    barely, shares = trust_verdicts(trust_cells(none=21.3, uniform=21.3, correlated=21.8, realistic=22.1, exact=22.1))
    assert shares["realistic"] == pytest.approx(1.0)  # of an oracle 0.1 over greedy, within the CIs: no pass
    assert not barely["realistic_share"] and not barely["correlated_share"]
    with_oracle_agent = trust_cells(none=22.1, uniform=21.9, correlated=23.6, realistic=22.9, exact=30.0)
    with_oracle_agent["none"]["oracle"] = {"mean": 26.0, "ci_low": 25.7, "ci_high": 26.3}  # the oracle agent's
    assert trust_verdicts(with_oracle_agent)[1]["correlated"] == pytest.approx(0.4)


def runs(trust_cells, *figures):
    """Evaluations of several runs, each ``(none, uniform, correlated, realistic, exact, greedy)``."""
    return [{"results": trust_cells(*run)} for run in figures]


def test_across_runs_the_shares_are_of_the_mean_gains_and_the_floors_of_the_mean_differences(trust_cells):
    evals = runs(trust_cells, (22.5, 22.3, 24.0, 23.0, 25.0, 22.0),  # shares 2/3, 1/3 of an oracle gain of 3
                 (22.0, 21.5, 22.5, 22.2, 23.0, 22.0),  # 1/2, 1/5 of 1
                 (22.3, 22.5, 23.5, 22.6, 24.0, 21.8))  # 17/22, 8/22 of 2.2
    trust = trust_across_runs(evals, num_resamples=2000, generator=torch.Generator().manual_seed(0))
    assert trust["runs"] == 3
    assert trust["no_gaze_minus_greedy"]["value"] == pytest.approx((0.5 + 0.0 + 0.5) / 3)
    assert trust["uniform_minus_no_gaze"]["value"] == pytest.approx((-0.2 - 0.5 + 0.2) / 3)
    assert trust["oracle_gain"]["value"] == pytest.approx(6.2 / 3)
    assert trust["correlated_share"]["value"] == pytest.approx(4.2 / 6.2)  # not the mean of the runs' shares
    assert trust["realistic_share"]["value"] == pytest.approx(2.0 / 6.2)
    for name in ("no_gaze_minus_greedy", "uniform_minus_no_gaze", "oracle_gain", "correlated_share"):
        figure = trust[name]
        assert figure["ci_low"] <= figure["value"] <= figure["ci_high"] and figure["ci_low"] < figure["ci_high"]
    assert trust["correlated_share"]["ci_low"] == pytest.approx(0.5, abs=0.01)  # a resample of the second run alone
    assert trust["correlated_share"]["ci_high"] == pytest.approx(0.77, abs=0.01)  # of the third alone, 17/22
    assert trust["verdicts"] == {"no_gaze_floor": True, "uniform_harmless": True, "correlated_share": False,
                                 "realistic_share": False}
    text = format_trust_across_runs(trust)
    assert "trust across 3 runs" in text and text.count("PASS") == 2 and text.count("FAIL") == 2


def test_across_runs_a_floor_fails_when_every_run_is_below_and_a_share_needs_an_oracle_gain(trust_cells):
    below = runs(trust_cells, (21.5, 21.0, 23.6, 23.0, 24.0, 22.0), (21.6, 21.2, 23.7, 23.1, 24.0, 22.0))
    trust = trust_across_runs(below, num_resamples=500, generator=torch.Generator().manual_seed(0))
    assert trust["no_gaze_minus_greedy"]["ci_high"] == pytest.approx(-0.4)
    assert trust["verdicts"] == {"no_gaze_floor": False, "uniform_harmless": False, "correlated_share": True,
                                 "realistic_share": True}
    no_oracle = runs(trust_cells, (22.0, 22.0, 22.3, 22.3, 22.4, 22.0), (22.0, 22.0, 21.9, 21.9, 21.8, 22.0))
    trust = trust_across_runs(no_oracle, num_resamples=500, generator=torch.Generator().manual_seed(0))
    assert trust["oracle_gain"]["ci_low"] < 0  # one run's oracle below greedy: its gain is not resolved
    assert not trust["verdicts"]["correlated_share"] and not trust["verdicts"]["realistic_share"]
    worse_oracle = runs(trust_cells, (22.0, 22.0, 21.5, 21.6, 21.8, 22.0), (22.0, 22.0, 21.7, 21.6, 21.9, 22.0))
    trust = trust_across_runs(worse_oracle, num_resamples=500, generator=torch.Generator().manual_seed(0))
    assert trust["oracle_gain"]["value"] < 0  # two gains below 0 would give a positive "share" of +1.00
    assert all(torch.isnan(torch.tensor(list(trust["correlated_share"].values()))))
    assert "nan" in format_trust_across_runs(trust) and not trust["verdicts"]["correlated_share"]


def test_runs_without_the_trust_cells_are_named(trust_cells):
    partial = trust_cells(22.0, 22.0, 23.0, 22.5, 24.0)
    del partial["realistic"]
    assert has_trust_cells(trust_cells(22.0, 22.0, 23.0, 22.5, 24.0)) and not has_trust_cells(partial)
    with pytest.raises(ValueError, match=r"evaluations \[1\] lack a cell.*realistic"):
        trust_across_runs([{"results": trust_cells(22.0, 22.0, 23.0, 22.5, 24.0)}, {"results": partial}])
    with pytest.raises(ValueError, match="at least one"):
        trust_across_runs([])


def test_the_aggregate_of_runs_with_trust_cells_states_the_trust_targets(trust_cells, tmp_path):
    evals = runs(trust_cells, (22.5, 22.3, 24.0, 23.0, 25.0, 22.0), (22.0, 21.5, 22.5, 22.2, 23.0, 22.0))
    aggregated = aggregate(evals, num_resamples=200)
    assert aggregated["trust"]["correlated_share"]["value"] == pytest.approx(2.5 / 4)
    partial = trust_cells(22.0, 22.0, 23.0, 22.5, 24.0)
    del partial["uniform"]
    assert "trust" not in aggregate([*evals, {"results": partial}], num_resamples=200)
