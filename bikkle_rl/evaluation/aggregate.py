"""Results across runs (seeds): reads many runs' ``eval.json``, groups the comparable ones and states one figure
per group, scenario and policy.

Runs are comparable when they were evaluated alike (protocol, scenarios, deterministic actions, an oracle agent or
not for ``gain_max``, how many checkpoints' episodes were pooled) and trained alike: the same run config (model,
algorithm, gaze, arena, budget ``total_frames``, fine-tune or not...) but for what differs from seed to seed or
machine to machine (``UNCOMPARED_SETTINGS``). A run's config is the one its evaluated agent was trained with: the
``config`` entry of its ``eval.json`` if it has one, else that of the agent's checkpoint (``final.pt`` of the run
directory holding ``report/eval.json``, or the ``checkpoint`` an ``eval.json`` of ``bikkle-eval`` names). Runs whose
config cannot be found are grouped by their evaluation settings alone, and said to be.

A training run counts once per group: the same ``eval.json`` reached by two paths is read once, and two evaluations
of one run directory (of ``final.pt`` and of a checkpoint, say) are one run, the evaluation of ``final.pt`` kept.

Within a group, each run contributes its mean return per cell (scenario, policy); the cell's headline is the
interquartile mean of those run means with a percentile-bootstrap CI over runs (the IQM and bootstrap of Agarwal
et al., "Deep RL at the edge of the statistical precipice", as in ``rliable``, for a single task). Runs that carry a
value-of-gaze report have its ``gain``, ``gain_max`` and ``fraction`` aggregated the same way, and runs that hold the
trust targets' cells (the agent without, under uniform, correlated and realistic gaze, greedy, an oracle) have the
targets read across them (:func:`~bikkle_rl.evaluation.gaze_trust.trust_across_runs`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bikkle_rl.atomic_write import write_json
from bikkle_rl.checkpoint import CheckpointError, load_checkpoint
from bikkle_rl.evaluation.gaze_trust import format_trust_across_runs, has_trust_cells, trust_across_runs
from bikkle_rl.evaluation.report import format_table, plot_bars
from bikkle_rl.evaluation.stats import CONFIDENCE, NUM_RESAMPLES, bootstrap_ci, interquartile_mean
from bikkle_rl.plain_config import flatten_config
from bikkle_rl.run_config import with_schema_defaults

EVAL_FILE = "eval.json"
REPORT_DIR = "report"
FINAL_CHECKPOINT = "final.pt"
GAZE_VALUE_KEYS = ("gain", "gain_max", "fraction")
UNCOMPARED_SETTINGS = ("seed", "device", "cpu_threads", "compile", "cudagraphs", "time_limit_minutes", "logger",
                       "checkpoint", "resume", "force_resume", "init_from", "evaluation")
"""Top-level config entries that do not make runs incomparable: the seed, where and how fast it ran (its wall-time
budget too: the frame budget ``total_frames`` is compared), bookkeeping, file paths (``init_from`` counts only as
fine-tune or not) and the run's own evaluation (an ``eval.json`` states its protocol and scenarios)."""
HEADLINE_SETTINGS = ("protocol", "scenarios", "model.encoder", "algo.name", "gaze", "total_frames")
"""Settings printed for every group (``gaze`` stands for all ``gaze.*`` entries); other settings are printed
where they tell groups apart."""


@dataclass
class Run:
    """One training run's evaluation: where it was found and the settings that make it comparable.

    ``agent`` is the evaluated checkpoint's file name; ``settings`` maps dotted names (``protocol``,
    ``model.encoder``...) to JSON text; ``config_source`` is the file the run config came from (the ``eval.json``
    or the checkpoint), None when none could be read (``config_missing`` says why).
    """

    eval_file: Path
    run_dir: Path
    agent: str
    seed: int | None
    settings: dict[str, str]
    data: dict = field(repr=False)
    config_source: Path | None = None
    config_missing: str = ""


@dataclass
class RunGroup:
    """Comparable runs, one per run directory, and the evaluations left out as a run already counted."""

    settings: dict[str, str]
    runs: list[Run]
    duplicates: list[Run]


def find_eval_files(roots: Iterable[str | Path]) -> list[Path]:
    """Every ``eval.json`` at or below the given files or directories, resolved (links followed), each once,
    sorted by path."""
    found: set[Path] = set()
    for root in map(Path, roots):
        if root.is_file():
            found.add(root.resolve())
        elif root.is_dir():
            found.update(path.resolve() for path in root.rglob(EVAL_FILE))
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


def evaluated_checkpoint(eval_file: Path, data: Mapping) -> Path:
    """The agent an ``eval.json`` evaluated: the ``checkpoint`` it names (``bikkle-eval``), else ``final.pt`` of
    the run directory that holds it (``report/`` of ``bikkle-train`` and ``bikkle-finetune``)."""
    if data.get("checkpoint"):
        return Path(data["checkpoint"]).resolve()
    folder = eval_file.parent
    return (folder.parent if folder.name == REPORT_DIR else folder) / FINAL_CHECKPOINT


def run_directory(checkpoint: Path) -> Path:
    """A checkpoint's training run directory: the folder of ``final.pt``, the one above ``checkpoints/``."""
    folder = checkpoint.parent
    return folder.parent if folder.name == "checkpoints" else folder


def comparable_settings(data: Mapping, config: Mapping | None) -> dict[str, str]:
    """What must match for two runs to be pooled: the evaluation's settings and the run config but for
    ``UNCOMPARED_SETTINGS`` (see the module docstring)."""
    protocol = data.get("protocol") or ((config or {}).get("evaluation") or {}).get("protocol")
    settings = {
        "protocol": json.dumps(protocol),
        "scenarios": json.dumps(sorted(data["results"])),
        "deterministic": json.dumps(data.get("deterministic", True)),
        "oracle_agent": json.dumps(bool(data.get("oracle_checkpoint"))),
        "pooled_checkpoints": json.dumps(len(data.get("pooled") or [None])),  # 1: one checkpoint's episodes
    }
    if config is not None:
        filled = with_schema_defaults(config)  # a field added since, at its default, still matches
        compared = flatten_config({key: value for key, value in filled.items() if key not in UNCOMPARED_SETTINGS})
        settings |= {name: json.dumps(value, sort_keys=True) for name, value in compared.items()}
        settings["fine_tune"] = json.dumps(config.get("init_from") is not None)
    return settings


def run_config(eval_file: Path, data: Mapping) -> tuple[Mapping | None, Path, str]:
    """``(config, source, why_missing)``: the run config an ``eval.json`` holds, else its evaluated checkpoint's;
    ``config`` is None (and ``why_missing`` says why) when neither holds one."""
    if isinstance(data.get("config"), Mapping):
        return data["config"], eval_file, ""
    checkpoint = evaluated_checkpoint(eval_file, data)
    try:
        config = load_checkpoint(checkpoint, expected={"config": None})["config"]
    except CheckpointError as error:
        return None, checkpoint, str(error)
    if not isinstance(config, Mapping):
        return None, checkpoint, f"checkpoint {str(checkpoint)!r}: entry 'config' is not a config"
    return config, checkpoint, ""


def describe_run(eval_file: str | Path) -> Run:
    """Reads one ``eval.json`` and the config of the agent it evaluated (see the module docstring)."""
    eval_file = Path(eval_file).resolve()
    data = load_eval(eval_file)
    checkpoint = evaluated_checkpoint(eval_file, data)
    config, source, missing = run_config(eval_file, data)
    return Run(eval_file, run_directory(checkpoint).resolve(), checkpoint.name,
               None if config is None else config.get("seed"), comparable_settings(data, config), data,
               None if config is None else source, missing)


def counting_preference(run: Run) -> tuple[bool, bool, str]:
    """Sort key of one run directory's evaluations, the one to count first: that of ``final.pt``, then the run's
    own report, then by path."""
    return run.agent != FINAL_CHECKPOINT, not run.eval_file.is_relative_to(run.run_dir), str(run.eval_file)


def group_runs(runs: Iterable[Run]) -> list[RunGroup]:
    """Runs with equal settings together, in order of first appearance; within a group one evaluation per run
    directory (see :func:`counting_preference`), the others kept aside as duplicates."""
    by_settings: dict[tuple, list[Run]] = {}
    for run in runs:
        by_settings.setdefault(tuple(sorted(run.settings.items())), []).append(run)
    groups = []
    for members in by_settings.values():
        counted: dict[Path, Run] = {}
        for run in sorted(members, key=counting_preference):
            counted.setdefault(run.run_dir, run)
        groups.append(RunGroup(members[0].settings, sorted(counted.values(), key=lambda r: str(r.eval_file)),
                               [run for run in members if counted[run.run_dir] is not run]))
    return groups


def distinguishing_settings(groups: Sequence[RunGroup]) -> list[str]:
    """The settings whose value is not the same in every group (absent counts as a value)."""
    names = sorted({name for group in groups for name in group.settings})
    return [name for name in names if len({group.settings.get(name) for group in groups}) > 1]


def count(number: int, noun: str) -> str:
    """``count(1, "run")`` -> ``"1 run"``, ``count(3, "run")`` -> ``"3 runs"``."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def shown(value: str | None) -> str:
    """A setting's JSON text for reading: strings without quotes, an absent setting as ``(absent)``."""
    if value is None:
        return "(absent)"
    decoded = json.loads(value)
    return decoded if isinstance(decoded, str) else value


def settings_line(settings: Mapping[str, str], names: Iterable[str]) -> str:
    """``name=value`` of the named settings (``gaze`` stands for every ``gaze.*`` entry), separated by two spaces."""
    chosen = [key for name in names for key in sorted(settings) if key == name or key.startswith(f"{name}.")]
    return "  ".join(f"{key}={shown(settings[key])}" for key in chosen)


def describe_group(group: RunGroup, differing: Sequence[str] = ()) -> str:
    """Plain text of what a group pooled: its settings, its runs (seed, run directory, eval file), the evaluations
    not counted twice and the runs whose config was not found."""
    lines = [f"settings: {settings_line(group.settings, HEADLINE_SETTINGS)}"]
    others = [name for name in differing if not any(name == h or name.startswith(f"{h}.") for h in HEADLINE_SETTINGS)]
    if others:
        lines.append("  other settings that vary between groups: "
                     + "  ".join(f"{name}={shown(group.settings.get(name))}" for name in others))
    lines.append(f"{count(len(group.runs), 'run')}: seed, run directory, evaluation file")
    for run in group.runs:
        agent = "" if run.agent == FINAL_CHECKPOINT else f", agent {run.agent}"
        lines.append(f"  seed {'?' if run.seed is None else run.seed}  {run.run_dir}  ({run.eval_file}{agent})")
    for run in group.duplicates:
        lines.append(f"  not counted twice: {run.eval_file} (evaluates {run.agent} of {run.run_dir}, counted above)")
    for run in group.runs:
        if run.config_source is None:
            lines.append(f"  run config not found, grouped by evaluation settings only: {run.run_dir} "
                         f"({run.config_missing})")
    return "\n".join(lines)


def summarize_runs(values: Sequence[float], confidence: float, num_resamples: int,
                   generator: torch.Generator | None) -> dict[str, float | int]:
    """``{iqm, mean, ci_low, ci_high, runs}`` of per-run values, the CI being that of the IQM."""
    tensor = torch.tensor(values, dtype=torch.float64)
    low, high = bootstrap_ci(tensor, confidence, num_resamples, generator, statistic=interquartile_mean)
    return {"iqm": interquartile_mean(tensor).item(), "mean": tensor.mean().item(), "ci_low": low,
            "ci_high": high, "runs": len(values)}


def aggregate(evals: Sequence[Mapping], confidence: float = CONFIDENCE, num_resamples: int = NUM_RESAMPLES,
              seed: int = 0) -> dict:
    """Across runs: ``{"results": {scenario: {policy: summary}}, "gaze_value": {key: summary}, "trust": {...},
    "runs": n}``.

    The runs are pooled as given: pass one :class:`RunGroup`'s (see :func:`aggregate_groups`). A cell's ``runs``
    counts the runs that evaluated it (runs may cover different policies). ``gaze_value`` is present when at least
    one run has a value-of-gaze report, ``trust`` when every run holds the trust targets' cells.
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
    if all(has_trust_cells(data["results"]) for data in evals):
        aggregated["trust"] = trust_across_runs(evals, confidence, num_resamples, generator)
    return aggregated


def aggregate_groups(groups: Sequence[RunGroup], confidence: float = CONFIDENCE, num_resamples: int = NUM_RESAMPLES,
                     seed: int = 0) -> list[dict]:
    """:func:`aggregate` of each group's counted runs, with the group's settings, runs and duplicates."""
    return [{"settings": {name: json.loads(value) for name, value in group.settings.items()},
             "sources": [run_entry(run) for run in group.runs],
             "duplicates": [run_entry(run) for run in group.duplicates],
             **aggregate([run.data for run in group.runs], confidence, num_resamples, seed)}
            for group in groups]


def run_entry(run: Run) -> dict[str, Any]:
    """A run as ``aggregate.json`` lists it."""
    return {"seed": run.seed, "run_dir": str(run.run_dir), "eval_file": str(run.eval_file), "agent": run.agent,
            "config": None if run.config_source is None else str(run.config_source)}


def unlike_runs(groups: Sequence[RunGroup]) -> list[str]:
    """Why the runs are not one group of distinct runs with known configs (empty when they are)."""
    problems = []
    if len(groups) > 1:
        differing = ", ".join(distinguishing_settings(groups))
        problems.append(f"{len(groups)} groups of unlike runs, differing in: {differing}")
    if duplicates := [run for group in groups for run in group.duplicates]:
        problems.append(f"{len(duplicates)} evaluations of runs already counted: "
                        + ", ".join(str(run.eval_file) for run in duplicates))
    if unknown := [run for group in groups for run in group.runs if run.config_source is None]:
        problems.append(f"{len(unknown)} runs without a readable run config: "
                        + ", ".join(str(run.run_dir) for run in unknown))
    return problems


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


def write_aggregate(groups: Sequence[RunGroup], aggregated: Sequence[Mapping], out_dir: str | Path) -> dict[str, Any]:
    """Writes ``aggregate.json`` (every group: settings, runs, results), ``aggregate.md`` (per group: what it
    pooled and its table) and a bar chart per group (``aggregate.png``, or ``aggregate_<i>.png`` for several).

    Returns ``{"json": path, "table": path, "plots": [path per group]}``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Any] = {"json": out_dir / "aggregate.json", "table": out_dir / "aggregate.md", "plots": []}
    write_json(paths["json"], {"groups": list(aggregated)})
    differing = distinguishing_settings(groups)
    runs = sum(len(group.runs) for group in groups)
    text = (f"# interquartile mean over runs (95 % bootstrap CI): {count(runs, 'run')} in "
            f"{count(len(groups), 'group')} of comparable runs\n")
    for index, (group, result) in enumerate(zip(groups, aggregated), start=1):
        plot = out_dir / ("aggregate.png" if len(groups) == 1 else f"aggregate_{index}.png")
        title = f"group {index}: IQM over {count(result['runs'], 'run')} (95 % bootstrap CI)"
        view = headline(result["results"])
        text += f"\n## {title}\n\n```\n{describe_group(group, differing)}\n```\n\n{format_table(view)}\n"
        if "gaze_value" in result:
            text += f"\nvalue of gaze:\n\n```\n{format_gaze_value_runs(result['gaze_value'])}\n```\n"
        if "trust" in result:
            text += f"\n```\n{format_trust_across_runs(result['trust'])}\n```\n"
        text += f"\n![{title}]({plot.name})\n"
        paths["plots"].append(plot_bars(view, plot, title))
    paths["table"].write_text(text)
    return paths
