"""The value-of-gaze report: paired bootstrap, gain, gain_max, fraction, and which returns it reads."""

import pytest
import torch

from bikkle_rl.evaluation.gaze_value import (
    format_gaze_value,
    gaze_value_from_returns,
    oracle_informative,
    paired_bootstrap_ci,
    value_of_gaze,
)


def generator(seed=0):
    return torch.Generator().manual_seed(seed)


def test_paired_bootstrap_of_a_constant_shift_is_exact():
    base = torch.randn(200, generator=generator(), dtype=torch.float64) * 5
    low, high = paired_bootstrap_ci(lambda a, b: a - b, [base + 2.0, base], generator=generator())
    assert low == pytest.approx(2.0) and high == pytest.approx(2.0)


def test_paired_bootstrap_covers_a_noisy_difference():
    first = torch.randn(400, generator=generator(1), dtype=torch.float64) + 1.0
    second = torch.randn(400, generator=generator(2), dtype=torch.float64)
    low, high = paired_bootstrap_ci(lambda a, b: a - b, [first, second], generator=generator())
    difference = (first.mean() - second.mean()).item()
    assert low < difference < high
    stderr = (first.var() / 400 + second.var() / 400).sqrt().item()
    assert high - low == pytest.approx(2 * 1.96 * stderr, rel=0.15)


def test_paired_samples_must_have_the_same_episodes():
    with pytest.raises(ValueError, match="same number of episodes"):
        paired_bootstrap_ci(lambda a, b: a - b, [torch.zeros(5), torch.zeros(6)])


def test_gain_gain_max_and_fraction_of_known_shifts():
    base = torch.rand(300, generator=generator(3), dtype=torch.float64)
    report = value_of_gaze(correlated=base + 3, uniform=base + 1, oracle=base + 5, no_information=base,
                           generator=generator())
    for key, expected in (("gain", 2.0), ("gain_max", 5.0), ("fraction", 0.4)):
        assert report[key]["value"] == pytest.approx(expected)
        assert report[key]["ci_low"] == pytest.approx(expected)
        assert report[key]["ci_high"] == pytest.approx(expected)
    assert report["separated"] is True


def test_noisy_returns_give_overlapping_cis_and_a_wide_fraction():
    noise = [torch.randn(50, generator=generator(s), dtype=torch.float64) * 10 for s in range(4)]
    report = value_of_gaze(noise[0] + 1, noise[1], noise[2] + 5, noise[3], generator=generator())
    assert report["separated"] is False
    assert report["gain"]["ci_low"] < report["gain"]["value"] < report["gain"]["ci_high"]
    assert report["fraction"]["ci_high"] - report["fraction"]["ci_low"] > 0.5


def test_an_oracle_no_better_than_no_information_is_flagged():
    """A failed oracle agent puts gain_max near 0 and the fraction at any size: the report says so."""
    base = torch.rand(300, generator=generator(5), dtype=torch.float64)
    noise = torch.randn(300, generator=generator(6), dtype=torch.float64) * 0.5
    failed = value_of_gaze(correlated=base + 3, uniform=base + 1, oracle=base + noise, no_information=base,
                           generator=generator())
    assert not oracle_informative(failed) and "means nothing" in format_gaze_value(failed)
    working = value_of_gaze(correlated=base + 3, uniform=base + 1, oracle=base + 5 + noise, no_information=base,
                            generator=generator())
    assert oracle_informative(working) and "means nothing" not in format_gaze_value(working)


def returns_table(**cells):
    """``{scenario: {policy: returns}}`` from keyword ``scenario__policy=value`` (constant returns)."""
    table = {}
    for key, value in cells.items():
        scenario, policy = key.split("__")
        table.setdefault(scenario, {})[policy] = torch.full((20,), float(value)) + torch.arange(20) * 0.01
    return table


def test_report_reads_the_oracle_gaze_scenario_or_an_oracle_policy():
    cells = {"correlated__agent": 14, "uniform__agent": 10, "none__agent": 9, "oracle__agent": 17}
    from_gaze = gaze_value_from_returns(returns_table(**cells), generator=generator())
    assert from_gaze["gain"]["value"] == pytest.approx(4.0)
    assert from_gaze["gain_max"]["value"] == pytest.approx(8.0)
    assert "oracle gaze" in from_gaze["oracle_source"]

    from_policy = gaze_value_from_returns(returns_table(**cells, none__oracle=19), oracle="oracle",
                                          generator=generator())
    assert from_policy["gain_max"]["value"] == pytest.approx(10.0)
    assert from_policy["fraction"]["value"] == pytest.approx(0.4)
    assert "'oracle'" in from_policy["oracle_source"]
    text = format_gaze_value(from_policy)
    assert "gain" in text and "10.00" in text and "do not overlap" in text


@pytest.mark.parametrize("missing", ["correlated__agent", "uniform__agent", "none__agent", "oracle__agent"])
def test_no_report_when_a_scenario_is_missing(missing):
    cells = {"correlated__agent": 14, "uniform__agent": 10, "none__agent": 9, "oracle__agent": 17}
    del cells[missing]
    assert gaze_value_from_returns(returns_table(**cells)) is None
