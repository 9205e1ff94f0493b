"""How far an agent trusts gaze: the trust targets read off one evaluation, and across runs of one recipe.

An agent for humans must not get worse than it would be without them: without gaze it should play at least as well
as greedy, under gaze that carries nothing no worse than without gaze, and under informative gaze it should capture
a share of what the oracle (the oracle agent, or the agent under exact gaze) gains over greedy. One evaluation gives
each target per run (:func:`trust_verdicts`); the runs of a recipe differ by as much as its levers move it, so
:func:`trust_across_runs` also reads the targets off all runs together: the mean over runs of each difference and
share, with a bootstrap CI over runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from bikkle_rl.evaluation.stats import CONFIDENCE, NUM_RESAMPLES, bootstrap_ci

TRUST_SHARES = {"correlated": 0.75, "realistic": 0.5}
"""The share of the oracle's gain over greedy, ``(agent - greedy) / (oracle - greedy)``, the agent should capture
under each gaze source."""

TRUST_SCENARIOS = ("none", "uniform", *TRUST_SHARES)
"""The scenarios whose agent cells the trust targets read (greedy is read under correlated gaze)."""

Cells = Mapping[str, Mapping[str, Mapping]]
"""An evaluation's ``results``: ``{scenario: {policy: summary}}``."""


def oracle_cell(results: Cells) -> Mapping:
    """The oracle's cell: the oracle agent's without gaze when there is one, else the agent's under exact gaze (as
    :func:`~bikkle_rl.evaluation.gaze_value.gaze_value_from_returns` reads it)."""
    return results["none"]["oracle"] if "oracle" in results["none"] else results["oracle"]["agent"]


def has_trust_cells(results: Cells) -> bool:
    """Whether an evaluation holds every cell the trust targets read."""
    return (all("agent" in results.get(scenario, {}) for scenario in TRUST_SCENARIOS)
            and "greedy" in results["correlated"]
            and ("oracle" in results["none"] or "agent" in results.get("oracle", {})))


def oracle_beats_greedy(results: Cells) -> bool:
    """Whether the oracle beats greedy with CIs apart: only then is a share of its gain over greedy a figure (of a
    gain within the noise, an agent that never learned the arena, any share can come out)."""
    return oracle_cell(results)["ci_low"] > results["correlated"]["greedy"]["ci_high"]


def trust_verdicts(results: Cells) -> tuple[dict[str, bool], dict[str, float]]:
    """``(verdicts, shares)`` of one evaluation: the agent without gaze against greedy (CIs overlapping or above),
    under uniform gaze against none (the same), and the share of the oracle's gain over greedy it captures under
    each source of :data:`TRUST_SHARES`, counted only where :func:`oracle_beats_greedy`."""
    agent = {scenario: cells["agent"] for scenario, cells in results.items() if "agent" in cells}
    greedy = results["correlated"]["greedy"]
    oracle_gain = oracle_cell(results)["mean"] - greedy["mean"]
    shares = {source: (agent[source]["mean"] - greedy["mean"]) / oracle_gain if oracle_gain > 0 else float("nan")
              for source in TRUST_SHARES}
    informative = oracle_beats_greedy(results)
    verdicts = {"no_gaze_floor": agent["none"]["ci_high"] >= greedy["ci_low"],
                "uniform_harmless": agent["uniform"]["ci_high"] >= agent["none"]["ci_low"],
                **{f"{source}_share": informative and shares[source] >= least
                   for source, least in TRUST_SHARES.items()}}
    return verdicts, shares


def trust_across_runs(evals: Sequence[Mapping], confidence: float = CONFIDENCE, num_resamples: int = NUM_RESAMPLES,
                      generator: torch.Generator | None = None) -> dict:
    """The trust targets over runs (seeds) of one recipe, each run weighing its mean returns equally.

    Returns ``{figure: {value, ci_low, ci_high}, "verdicts": {target: bool}, "runs": n}`` with the figures
    ``no_gaze_minus_greedy``, ``uniform_minus_no_gaze`` and ``oracle_gain`` (means over runs of each run's
    difference) and ``<source>_share`` (the runs' mean gain over greedy under that source over their mean oracle
    gain, the pairs resampled together for its CI; nan where that mean gain is not above 0, as for one run). The
    floors hold where the difference's CI reaches 0; a share where it reaches its target and the oracle's gain has a
    CI above 0.
    """
    if not evals:
        raise ValueError("trust_across_runs needs at least one evaluation")
    if missing := [index for index, data in enumerate(evals) if not has_trust_cells(data["results"])]:
        raise ValueError(f"evaluations {missing} lack a cell the trust targets read (the agent under "
                         f"{', '.join(TRUST_SCENARIOS)}, greedy, the oracle)")

    results = [data["results"] for data in evals]
    agent = {scenario: run_means([cells[scenario]["agent"] for cells in results]) for scenario in TRUST_SCENARIOS}
    greedy = run_means([cells["correlated"]["greedy"] for cells in results])
    oracle_gain = run_means([oracle_cell(cells) for cells in results]) - greedy
    differences = {"no_gaze_minus_greedy": agent["none"] - greedy,
                   "uniform_minus_no_gaze": agent["uniform"] - agent["none"], "oracle_gain": oracle_gain}
    figures: dict = {name: across_runs(values, None, confidence, num_resamples, generator)
                     for name, values in differences.items()}
    for source in TRUST_SHARES:  # a fresh dict each: no figure aliases another
        figures[f"{source}_share"] = (
            across_runs(agent[source] - greedy, oracle_gain, confidence, num_resamples, generator)
            if oracle_gain.mean() > 0 else dict.fromkeys(("value", "ci_low", "ci_high"), float("nan")))
    figures["verdicts"] = {
        "no_gaze_floor": figures["no_gaze_minus_greedy"]["ci_high"] >= 0,
        "uniform_harmless": figures["uniform_minus_no_gaze"]["ci_high"] >= 0,
        **{f"{source}_share": figures["oracle_gain"]["ci_low"] > 0 and figures[f"{source}_share"]["value"] >= least
           for source, least in TRUST_SHARES.items()}}
    figures["runs"] = len(evals)
    return figures


def run_means(cells: Sequence[Mapping]) -> torch.Tensor:
    """Each run's mean return in one cell, as a tensor [runs]."""
    return torch.tensor([cell["mean"] for cell in cells], dtype=torch.float64)


def across_runs(numerator: torch.Tensor, denominator: torch.Tensor | None, confidence: float, num_resamples: int,
                generator: torch.Generator | None) -> dict[str, float]:
    """``{value, ci_low, ci_high}`` of ``mean(numerator)`` (or ``mean(numerator) / mean(denominator)``) over runs,
    with a percentile-bootstrap CI resampling runs (a run's numerator and denominator together)."""
    denominator = torch.ones_like(numerator) if denominator is None else denominator

    def ratio(rows: torch.Tensor) -> torch.Tensor:
        index = rows.long()
        return numerator[index].mean(-1) / denominator[index].mean(-1)

    runs = torch.arange(len(numerator), dtype=torch.float64)
    low, high = bootstrap_ci(runs, confidence, num_resamples, generator, statistic=ratio)
    return {"value": ratio(runs).item(), "ci_low": low, "ci_high": high}


TRUST_LABELS = {
    "no_gaze_minus_greedy": "agent without gaze - greedy",
    "uniform_minus_no_gaze": "agent under uniform gaze - without gaze",
    "oracle_gain": "oracle - greedy",
    **{f"{source}_share": f"{source} gaze: share of the oracle's gain (>= {least})"
       for source, least in TRUST_SHARES.items()},
}
VERDICT_OF = {"no_gaze_minus_greedy": "no_gaze_floor", "uniform_minus_no_gaze": "uniform_harmless",
              **{f"{source}_share": f"{source}_share" for source in TRUST_SHARES}}


def format_trust_across_runs(trust: Mapping) -> str:
    """Lines stating :func:`trust_across_runs`'s figures, each target's line ending in PASS or FAIL."""
    lines = [f"trust across {trust['runs']} runs (mean over runs, bootstrap CI over runs):"]
    width = max(map(len, TRUST_LABELS.values()))
    for name, label in TRUST_LABELS.items():
        figure = trust[name]
        verdict = f"  {'PASS' if trust['verdicts'][VERDICT_OF[name]] else 'FAIL'}" if name in VERDICT_OF else ""
        lines.append(f"  {label:<{width}} {figure['value']:+7.2f}  [{figure['ci_low']:+.2f}, {figure['ci_high']:+.2f}]"
                     + verdict)
    return "\n".join(lines)
