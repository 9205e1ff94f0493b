"""Results across runs (seeds): reads many runs' ``eval.json`` and states one figure per scenario and policy.

Each run contributes its mean return per cell (scenario, policy); the cell's headline is the interquartile
mean of those run means with a percentile-bootstrap CI over runs (the IQM and bootstrap of Agarwal et al.,
"Deep RL at the edge of the statistical precipice", as in ``rliable``, for a single task). Runs that carry a
value-of-gaze report have its ``gain``, ``gain_max`` and ``fraction`` aggregated the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import torch

from bikkle_rl.atomic_write import write_json
from bikkle_rl.evaluation.report import format_table, plot_bars
from bikkle_rl.evaluation.stats import bootstrap_ci, interquartile_mean

EVAL_FILE = "eval.json"
GAZE_VALUE_KEYS = ("gain", "gain_max", "fraction")


def find_eval_files(roots: Iterable[str | Path]) -> list[Path]:
    """Every ``eval.json`` at or below the given files or directories, sorted by path."""
    found: set[Path] = set()
    for root in map(Path, roots):
        if root.is_file():
            found.add(root)
        elif root.is_dir():
            found.update(root.rglob(EVAL_FILE))
        else:
            raise FileNotFoundError(f"no such file or directory: {str(root)!r}")
    return sorted(found)


def load_eval(path: str | Path) -> dict:
    """One run's ``eval.json``; a clear error when it is not an evaluation file."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"cannot read evaluation file {str(path)!r}: {error}") from error
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, dict):
        raise ValueError(f"{str(path)!r} is not an evaluation file (no 'results' table)")
    return data


def summarize_runs(values: Sequence[float], confidence: float, num_resamples: int,
                   generator: torch.Generator | None) -> dict[str, float | int]:
    """``{iqm, mean, ci_low, ci_high, runs}`` of per-run values, the CI being that of the IQM."""
    tensor = torch.tensor(values, dtype=torch.float64)
    low, high = bootstrap_ci(tensor, confidence, num_resamples, generator, statistic=interquartile_mean)
    return {"iqm": interquartile_mean(tensor).item(), "mean": tensor.mean().item(), "ci_low": low,
            "ci_high": high, "runs": len(values)}


def aggregate(evals: Sequence[Mapping], confidence: float = 0.95, num_resamples: int = 10_000,
              seed: int = 0) -> dict:
    """Across runs: ``{"results": {scenario: {policy: summary}}, "gaze_value": {key: summary}, "runs": n}``.

    A cell's ``runs`` counts the runs that evaluated it (runs may cover different scenarios or policies).
    ``gaze_value`` is present when at least one run has a value-of-gaze report.
    """
    if not evals:
        raise ValueError("aggregate needs at least one evaluation")
    generator = torch.Generator().manual_seed(seed)
    per_cell: dict[str, dict[str, list[float]]] = {}
    gaze_values: dict[str, list[float]] = {}
    for data in evals:
        for scenario, row in data["results"].items():
            for policy, summary in row.items():
                per_cell.setdefault(scenario, {}).setdefault(policy, []).append(summary["mean"])
        if data.get("gaze_value"):
            for key in GAZE_VALUE_KEYS:
                gaze_values.setdefault(key, []).append(data["gaze_value"][key]["value"])
    aggregated: dict = {
        "results": {scenario: {policy: summarize_runs(values, confidence, num_resamples, generator)
                               for policy, values in row.items()} for scenario, row in per_cell.items()},
        "runs": len(evals),
    }
    if gaze_values:
        aggregated["gaze_value"] = {key: summarize_runs(values, confidence, num_resamples, generator)
                                    for key, values in gaze_values.items()}
    return aggregated


def headline(results: Mapping[str, Mapping[str, Mapping]]) -> dict[str, dict[str, dict[str, float]]]:
    """The table and bar chart's view of aggregated cells: the IQM as the value, with its CI."""
    policies = sorted({policy for row in results.values() for policy in row})
    nan = float("nan")
    return {scenario: {policy: {"mean": row[policy]["iqm"], "ci_low": row[policy]["ci_low"],
                                "ci_high": row[policy]["ci_high"]} if policy in row
                       else {"mean": nan, "ci_low": nan, "ci_high": nan} for policy in policies}
            for scenario, row in results.items()}


def format_gaze_value_runs(gaze_value: Mapping[str, Mapping]) -> str:
    """Lines stating the aggregated gain, gain_max and fraction captured (IQM over runs, 95 % CI)."""
    return "\n".join(f"{key:<10} {entry['iqm']:7.2f}  [{entry['ci_low']:.2f}, {entry['ci_high']:.2f}]  "
                     f"({entry['runs']} runs)" for key, entry in gaze_value.items())


def write_aggregate(aggregated: Mapping, out_dir: str | Path, sources: Sequence[Path]) -> dict[str, Path]:
    """Writes ``aggregate.json`` (with the source files), ``aggregate.md`` (table) and ``aggregate.png`` (bars)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    title = f"interquartile mean over {aggregated['runs']} runs (95 % bootstrap CI)"
    paths = {"json": out_dir / "aggregate.json", "table": out_dir / "aggregate.md", "plot": out_dir / "aggregate.png"}
    write_json(paths["json"], {**aggregated, "sources": [str(p) for p in sources]})
    view = headline(aggregated["results"])
    text = f"# {title}\n\n{format_table(view)}\n"
    if "gaze_value" in aggregated:
        text += f"\n## value of gaze\n\n```\n{format_gaze_value_runs(aggregated['gaze_value'])}\n```\n"
    paths["table"].write_text(text)
    plot_bars(view, paths["plot"], title)
    return paths
