"""Bootstrap confidence intervals, the interquartile mean and the per-scenario summary."""

import math

import pytest
import torch

from bikkle_rl.evaluation import bootstrap_ci, interquartile_mean, summarize


def normal_sample(count, mean, std, seed):
    return mean + std * torch.randn(count, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_interquartile_mean_drops_a_quarter_at_each_end():
    assert interquartile_mean(torch.arange(1.0, 9.0)).item() == pytest.approx(4.5)  # mean of 3, 4, 5, 6
    with_outliers = torch.tensor([-1000.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 1000.0])
    assert interquartile_mean(with_outliers).item() == pytest.approx(3.5)
    batched = torch.stack((torch.arange(1.0, 9.0), with_outliers))
    torch.testing.assert_close(interquartile_mean(batched), torch.tensor([4.5, 3.5]))


def test_bootstrap_ci_of_the_mean_matches_the_normal_theory_interval():
    std, count = 2.0, 2000
    values = normal_sample(count, 1.0, std, seed=0)
    low, high = bootstrap_ci(values, confidence=0.95, num_resamples=4000, generator=torch.Generator().manual_seed(1))
    assert low < 1.0 < high
    assert low < values.mean().item() < high
    expected_width = 2 * 1.96 * std / math.sqrt(count)
    assert high - low == pytest.approx(expected_width, rel=0.1)


def test_bootstrap_ci_narrows_with_lower_confidence_and_is_reproducible():
    values = normal_sample(500, 0.0, 1.0, seed=2)
    wide = bootstrap_ci(values, 0.99, 2000, torch.Generator().manual_seed(3))
    narrow = bootstrap_ci(values, 0.5, 2000, torch.Generator().manual_seed(3))
    assert wide[0] < narrow[0] < narrow[1] < wide[1]
    assert bootstrap_ci(values, 0.99, 2000, torch.Generator().manual_seed(3)) == wide


def test_bootstrap_ci_of_the_interquartile_mean_brackets_it():
    values = torch.cat((normal_sample(400, 5.0, 1.0, seed=4), torch.full((10,), 1e6, dtype=torch.float64)))
    low, high = bootstrap_ci(values, num_resamples=1000, generator=torch.Generator().manual_seed(5),
                             statistic=interquartile_mean)
    assert 4.7 < low < interquartile_mean(values).item() < high < 5.3  # the outliers do not drag it


def test_bootstrap_ci_rejects_bad_arguments():
    with pytest.raises(ValueError, match="at least one"):
        bootstrap_ci(torch.tensor([]))
    with pytest.raises(ValueError, match="1.5"):
        bootstrap_ci(torch.ones(3), confidence=1.5)
    with pytest.raises(ValueError, match="num_resamples"):
        bootstrap_ci(torch.ones(3), num_resamples=0)


def test_summarize_reports_mean_spread_and_interval():
    values = normal_sample(1000, 3.0, 0.5, seed=6)
    summary = summarize(values, num_resamples=1000, generator=torch.Generator().manual_seed(7))
    assert summary["episodes"] == 1000
    assert summary["mean"] == pytest.approx(values.mean().item())
    assert summary["std"] == pytest.approx(values.std().item())
    assert summary["stderr"] == pytest.approx(values.std().item() / math.sqrt(1000))
    assert summary["ci_low"] < summary["mean"] < summary["ci_high"]
    assert summary["iqm"] == pytest.approx(3.0, abs=0.05)
    assert all(isinstance(value, (int, float)) for value in summary.values())
    single = summarize(torch.tensor([2.0]), num_resamples=10)
    assert single["std"] == 0.0 and single["ci_low"] == single["ci_high"] == 2.0
