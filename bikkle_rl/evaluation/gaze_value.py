"""The value of gaze: what an agent gains from a signal that only says where the high-value pellet is.

- ``gain = return(correlated) - return(uniform)``: both gaze sources have the same timing and statistics, only
  ``correlated`` points at the high-value pellet, so the difference is what the agent makes of the information.
- ``gain_max = return(oracle) - return(no information)``: what knowing the high-value pellet is worth at most
  (the oracle agent, or the agent under always-valid exact gaze, against the agent without gaze).
- ``fraction = gain / gain_max``: the share of the attainable gain the agent captures; it means something only
  when the oracle beats no information (:func:`oracle_informative`): an oracle agent that failed to learn makes
  gain_max near 0 and the fraction arbitrarily large.

Confidence intervals come from a paired bootstrap: the evaluator runs every scenario from the same seeded
initial layouts, so episode ``i`` of each scenario starts alike and the episodes are resampled jointly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch

from bikkle_rl.evaluation.stats import bootstrap_ci

GAIN_SCENARIOS = ("correlated", "uniform", "none")
"""The scenarios the agent must be evaluated on for a value-of-gaze report (plus an oracle return)."""


def paired_bootstrap_ci(statistic: Callable[..., torch.Tensor], samples: Sequence[torch.Tensor],
                        confidence: float = 0.95, num_resamples: int = 10_000,
                        generator: torch.Generator | None = None) -> tuple[float, float]:
    """Bootstrap CI of ``statistic(*means)`` over samples of paired episodes, each [E].

    Every resample draws one set of episode indices and takes each sample's mean over it; ``statistic``
    maps the K means (each [R] over resamples) to [R]. E.g. ``lambda a, b: a - b`` for a difference of means.
    """
    sizes = [torch.as_tensor(s).numel() for s in samples]
    if len(set(sizes)) != 1:
        raise ValueError(f"paired samples need the same number of episodes, got {sizes}")
    stacked = torch.stack([torch.as_tensor(s, dtype=torch.float64).flatten() for s in samples])  # [K, E]

    def of_indices(index: torch.Tensor) -> torch.Tensor:  # resampled episode indices [R, E] -> [R]
        return statistic(*stacked[:, index.long()].mean(-1))

    episodes = torch.arange(stacked.shape[1], dtype=torch.float64)
    return bootstrap_ci(episodes, confidence, num_resamples, generator, statistic=of_indices)


def estimate(statistic: Callable[..., torch.Tensor], samples: Sequence[torch.Tensor], confidence: float,
             num_resamples: int, generator: torch.Generator | None) -> dict[str, float]:
    """``{value, ci_low, ci_high}`` of ``statistic`` over the samples' means."""
    means = [torch.as_tensor(s, dtype=torch.float64).mean() for s in samples]
    low, high = paired_bootstrap_ci(statistic, samples, confidence, num_resamples, generator)
    return {"value": statistic(*means).item(), "ci_low": low, "ci_high": high}


def value_of_gaze(correlated: torch.Tensor, uniform: torch.Tensor, oracle: torch.Tensor,
                  no_information: torch.Tensor, confidence: float = 0.95, num_resamples: int = 10_000,
                  generator: torch.Generator | None = None) -> dict[str, dict[str, float] | bool]:
    """The value-of-gaze report from per-episode returns [E] of paired episodes.

    ``correlated``, ``uniform``: the agent under those gaze scenarios; ``oracle``: the oracle's returns;
    ``no_information``: the agent without gaze. Returns ``gain``, ``gain_max`` and ``fraction`` (each
    ``{value, ci_low, ci_high}``) and ``separated``: the CI of the correlated mean lies above the uniform one.
    """
    samples = (correlated, uniform, oracle, no_information)
    report: dict[str, dict[str, float] | bool] = {
        "gain": estimate(lambda c, u, o, n: c - u, samples, confidence, num_resamples, generator),
        "gain_max": estimate(lambda c, u, o, n: o - n, samples, confidence, num_resamples, generator),
        "fraction": estimate(lambda c, u, o, n: (c - u) / (o - n), samples, confidence, num_resamples, generator),
    }
    correlated_low, _ = bootstrap_ci(correlated, confidence, num_resamples, generator)
    _, uniform_high = bootstrap_ci(uniform, confidence, num_resamples, generator)
    report["separated"] = correlated_low > uniform_high
    return report


def gaze_value_from_returns(returns: Mapping[str, Mapping[str, torch.Tensor]], agent: str = "agent",
                            oracle: str | None = None, generator: torch.Generator | None = None) -> dict | None:
    """The report for policy ``agent`` of an evaluation ``{scenario: {policy: returns [E]}}``, or None.

    The oracle's return is policy ``oracle`` (an oracle agent) under ``none`` when given, else ``agent``
    under the ``oracle`` gaze scenario. None when the evaluation lacks a needed scenario.
    """
    if not all(agent in returns.get(scenario, {}) for scenario in GAIN_SCENARIOS):
        return None
    if oracle is not None and oracle in returns["none"]:
        oracle_returns, oracle_source = returns["none"][oracle], f"policy {oracle!r} without gaze"
    elif agent in returns.get("oracle", {}):
        oracle_returns, oracle_source = returns["oracle"][agent], f"policy {agent!r} under oracle gaze"
    else:
        return None
    report = value_of_gaze(returns["correlated"][agent], returns["uniform"][agent], oracle_returns,
                           returns["none"][agent], generator=generator)
    return {**report, "oracle_source": oracle_source}


UNINFORMATIVE_ORACLE = ("gain_max's CI reaches 0: the oracle does no better than no information, so the fraction "
                        "means nothing")
"""What a report says when :func:`oracle_informative` is false."""


def oracle_informative(report: Mapping) -> bool:
    """Whether the oracle's return lies above the agent's without gaze (gain_max's CI above 0), so that the
    fraction measures something."""
    return report["gain_max"]["ci_low"] > 0


def format_gaze_value(report: Mapping) -> str:
    """A few lines stating gain, gain_max and the fraction captured, with their CIs."""
    def line(name: str, label: str) -> str:
        entry = report[name]
        return f"{label:<10} {entry['value']:7.2f}  [{entry['ci_low']:.2f}, {entry['ci_high']:.2f}]"

    verdict = "do not overlap" if report["separated"] else "overlap"
    oracle = f"; oracle: {report['oracle_source']}" if "oracle_source" in report else ""
    return "\n".join([
        "value of gaze (95 % CI):",
        line("gain", "gain") + "   return(correlated) - return(uniform)",
        line("gain_max", "gain_max") + f"   return(oracle) - return(none){oracle}",
        line("fraction", "fraction") + "   gain / gain_max",
        f"CIs of correlated and uniform {verdict}",
        *([] if oracle_informative(report) else [UNINFORMATIVE_ORACLE]),
    ])
