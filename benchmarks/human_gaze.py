"""The value of realistic and a person's gaze to a trained gaze-value agent, beside greedy and the oracle.

A real eye tracker delivers gaze late and loses the eye now and then, and a person looks at other pellets too.
How much of what exact gaze is worth does an agent trained on the 3 pink + 3 blue arena keep? Every figure is
the ``gaze-value`` protocol's, from the same seeded layouts, measured in this run:

1. latency x dropout: the agent under the realistic source (:class:`~bikkle_rl.gaze.realistic.RealisticGaze`,
   its other parameters at their defaults) for each latency (ms, one step = 100 ms) and dropout (the fraction
   of time the tracker has lost the eye, with a fixed mean dropout burst), beside greedy (no gaze), the agent
   without gaze and the oracle: the agent under exact gaze of the high-value pellet every step, or an oracle
   agent (``--oracle-checkpoint``). Each cell's fraction of the oracle's gain over greedy, (agent - greedy) /
   (oracle - greedy), comes with a paired 95 % bootstrap CI. Each cell's source is written as a fitted-format
   model (``sources/``) and played as the scenario ``fitted:PATH``, so any cell can be evaluated again;
2. a simulated participant: sessions played by greedy-gaze under the realistic source (its defaults, or a
   person's model from ``bikkle-fit-gaze`` with ``--participant-params``), saved as recordings; the agent,
   greedy and greedy-gaze are evaluated under the recordings replayed closed loop, under the true model and
   under a model fitted to the recordings, whose parameters are set against the true ones;
3. with ``--finetune-frames N``: a gaze-only fine-tune of the agent on the first half of the sessions (replayed
   closed loop), evaluated before and after on the other half.

Writes ``human_gaze.json``, ``latency_dropout.png`` (return against latency, a line per dropout, greedy and the
oracle as bands), ``sessions/*.npz``, ``participant.yaml`` (the true model), ``participant_fit.yaml`` and, with a
fine-tune, ``finetune/`` into ``--out``.

    python benchmarks/human_gaze.py --checkpoint outputs/.../final.pt                  # the full benchmark
    python benchmarks/human_gaze.py --checkpoint A/final.pt --oracle-checkpoint B/final.pt \\
        --participant-params p01.yaml --finetune-frames 1000000                          # a person's model, a
                                                                                         # trained oracle and
                                                                                         # the fine-tune
    python benchmarks/human_gaze.py --checkpoint outputs/.../final.pt --latencies-ms 0 300 --dropouts 0 0.5 \\
        --episodes 32 --sessions 2 --fit-bootstrap 20                                    # a quick check
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
import yaml

from bikkle_rl.agent_io import load_agent
from bikkle_rl.atomic_write import write_atomically, write_json
from bikkle_rl.conf import compose_config
from bikkle_rl.envs.config import BikkleConfig
from bikkle_rl.evaluation.cells import PolicyFactory, Returns, evaluate_returns, reference_factory
from bikkle_rl.evaluation.gaze_value import estimate
from bikkle_rl.evaluation.protocols import EVALUATION_SEED_OFFSET, FITTED_PREFIX, evaluation_stack, replay_scenario
from bikkle_rl.evaluation.stats import summarize
from bikkle_rl.experiment import env_stack, resolve_device
from bikkle_rl.finetune import run_finetune
from bikkle_rl.gaze.fit import GazeFit, GazeFitError, fit_gaze
from bikkle_rl.gaze.fitted import FITTED_SCHEMA_VERSION, PARAMETER_KINDS, load_fitted, save_fitted
from bikkle_rl.gaze.realistic import RealisticGaze
from bikkle_rl.human.fit_gaze_cli import format_fit
from bikkle_rl.human.simulate import simulate_recording
from bikkle_rl.recording import load_recording, save_recording

PROTOCOL = "gaze-value"
REFERENCES = ("greedy", "greedy-gaze")
STEP_MS = RealisticGaze().step_ms
"""The realistic source's clock: one env step lasts this many milliseconds."""
SESSION_SEED_OFFSET = 20_000
"""Simulated session ``i`` plays arenas seeded ``SESSION_SEED_OFFSET + 1000 * seed + 2 * i`` (its gaze the seed
after): apart from the evaluation's arenas and from each other."""
CONFIDENCE, RESAMPLES = 0.95, 10_000


def dropout_chain(fraction: float, p_recover: float = 0.25) -> tuple[float, float]:
    """``(p_drop, p_recover)`` of the realistic source's dropout chain that has lost the eye ``fraction`` of the
    time, its dropouts lasting ``1 / p_recover`` steps on average: p_drop = fraction * p_recover / (1 - fraction).

    Raises ValueError for a fraction outside [0, 1) and for one the chain cannot reach with this ``p_recover``
    (above ``1 / (1 + p_recover)``, where p_drop would exceed 1).
    """
    if not 0 < p_recover <= 1:
        raise ValueError(f"p_recover must be in (0, 1], got {p_recover!r}")
    if not 0 <= fraction < 1:
        raise ValueError(f"the dropout fraction must be in [0, 1), got {fraction!r}")
    p_drop = fraction * p_recover / (1 - fraction)
    if p_drop > 1:
        raise ValueError(f"a dropout fraction of {fraction:g} with dropouts of {1 / p_recover:g} steps on average "
                         f"needs p_drop {p_drop:.3g} > 1 (at most {1 / (1 + p_recover):.3g} is reachable)")
    return p_drop, p_recover


def latency_steps(latency_ms: float) -> int:
    """The latency in whole steps of :data:`STEP_MS`; ValueError for a negative one or one between steps."""
    steps = latency_ms / STEP_MS
    if latency_ms < 0 or steps != round(steps):
        raise ValueError(f"a latency must be a whole number of {STEP_MS:g} ms steps, got {latency_ms:g} ms")
    return round(steps)


def realistic_options(**changes: Any) -> dict[str, Any]:
    """Every argument of :class:`~bikkle_rl.gaze.realistic.RealisticGaze`, its defaults with ``changes`` (checked
    by building the source)."""
    source = RealisticGaze(**changes)
    return {name: getattr(source, name) for name in PARAMETER_KINDS}


def plain_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The source's options as YAML and JSON write them (the fixation range a list)."""
    return {name: list(value) if isinstance(value, tuple) else value for name, value in options.items()}


def write_source(path: Path, options: Mapping[str, Any]) -> str:
    """Writes the realistic source's ``options`` as a fitted-format model (:mod:`bikkle_rl.gaze.fitted`) and
    returns the scenario that plays it."""
    parameters = plain_options(options)
    text = yaml.safe_dump({"schema_version": FITTED_SCHEMA_VERSION, "parameters": parameters}, sort_keys=False,
                          default_flow_style=None)
    write_atomically(path, lambda file: file.write(text.encode()))
    return FITTED_PREFIX + str(path)


@dataclass(frozen=True)
class Evaluator:
    """Policies of one env stack, evaluated on the protocol from the same seeded layouts whatever the scenario."""

    policies: Mapping[str, PolicyFactory]
    stack: dict
    episodes: int
    seed: int
    device: str

    def returns(self, names: Sequence[str], scenarios: list[str]) -> Returns:
        return evaluate_returns({name: self.policies[name] for name in names}, self.stack, PROTOCOL, scenarios,
                                self.episodes, self.seed, self.device)

    def summary(self, returns: torch.Tensor) -> dict:
        return summarize(returns, CONFIDENCE, RESAMPLES, torch.Generator().manual_seed(self.seed))

    def summaries(self, returns: Mapping[str, torch.Tensor]) -> dict[str, dict]:
        return {name: self.summary(values) for name, values in returns.items()}


def run_name(checkpoint: str) -> str:
    """A checkpoint as its run folder and file name (``run/final.pt``)."""
    path = Path(checkpoint)
    return f"{path.parent.name}/{path.name}"


def ci(summary: Mapping) -> str:
    return f"{summary['mean']:6.2f} [{summary['ci_low']:.2f}, {summary['ci_high']:.2f}]"


def reference_returns(agent: Evaluator, oracle: Evaluator | None) -> tuple[dict[str, torch.Tensor], str]:
    """Per-episode returns of greedy, the agent without gaze and the oracle, and where the oracle's come from."""
    without = agent.returns(["agent", "greedy"], ["none"])["none"]
    if oracle is None:
        oracle_returns, source = agent.returns(["agent"], ["oracle"])["oracle"]["agent"], "the agent under oracle gaze"
    else:
        oracle_returns, source = oracle.returns(["oracle"], ["none"])["none"]["oracle"], "the oracle agent"
    return {"greedy": without["greedy"], "agent without gaze": without["agent"], "oracle": oracle_returns}, source


def sweep(agent: Evaluator, references: Mapping[str, torch.Tensor], latencies_ms: Sequence[float],
          dropouts: Sequence[float], burst_ms: float, out: Path) -> list[dict]:
    """The agent and greedy-gaze under the realistic source of every (latency, dropout) cell, each with greedy,
    the oracle (the same in every cell) and the fraction of the oracle's gain over greedy the agent captures."""
    grid = []
    for latency_ms in latencies_ms:
        for dropout in dropouts:
            p_drop, p_recover = dropout_chain(dropout, STEP_MS / burst_ms)
            options = realistic_options(latency_steps=latency_steps(latency_ms), p_drop=p_drop, p_recover=p_recover)
            path = out / "sources" / f"latency_{latency_ms:g}ms_dropout_{dropout:g}.yaml"
            grid.append(({"latency_ms": latency_ms, "latency_steps": options["latency_steps"], "dropout": dropout,
                          "p_drop": p_drop, "p_recover": p_recover}, write_source(path, options)))
    returns = agent.returns(["agent", "greedy-gaze"], [scenario for _, scenario in grid])
    generator = torch.Generator().manual_seed(agent.seed)
    cells = []
    for cell, scenario in grid:
        row = returns[scenario]
        fraction = estimate(lambda a, g, o: (a - g) / (o - g), (row["agent"], references["greedy"],
                                                                 references["oracle"]), CONFIDENCE, RESAMPLES,
                            generator)
        cells.append({**cell, "scenario": scenario, **agent.summaries(row),
                      **agent.summaries({name: references[name] for name in ("greedy", "oracle")}),
                      "fraction": fraction})
    return cells


def print_sweep(references: Mapping[str, dict], oracle_source: str, cells: list[dict], burst_ms: float) -> None:
    print(f"references (mean return [95 % CI], {references['greedy']['episodes']} episodes each):")
    for name, summary in references.items():
        print(f"  {name:<20} {ci(summary)}" + (f"   ({oracle_source})" if name == "oracle" else ""))
    greedy, oracle = references["greedy"], references["oracle"]
    if oracle["ci_low"] <= greedy["ci_high"]:
        print("  the oracle does not beat greedy (CIs overlap): the fractions below mean little")
    print(f"\nthe agent under realistic gaze (dropout bursts of {burst_ms:g} ms on average); fraction = "
          "(agent - greedy) / (oracle - greedy)")
    print(f"{'latency':>8} {'dropout':>8}   {'agent':<22} {'greedy-gaze':<22} fraction")
    for cell in cells:
        fraction = cell["fraction"]
        print(f"{cell['latency_ms']:>5g} ms {cell['dropout']:>8.2f}   {ci(cell['agent']):<22} "
              f"{ci(cell['greedy-gaze']):<22} {fraction['value']:5.2f} [{fraction['ci_low']:.2f}, "
              f"{fraction['ci_high']:.2f}]")


def plot_sweep(cells: list[dict], references: Mapping[str, dict], path: Path, title: str) -> Path:
    """Return against latency, a line (and CI band) per dropout; greedy and the oracle as horizontal CI bands, the
    agent without gaze as a dotted line."""
    fig, ax = plt.subplots(figsize=(6.8, 4.4))
    for name, color in (("greedy", "tab:grey"), ("oracle", "tab:green")):
        summary = references[name]
        ax.axhspan(summary["ci_low"], summary["ci_high"], color=color, alpha=0.2)
        ax.axhline(summary["mean"], color=color, linestyle="--", linewidth=1, label=name)
    ax.axhline(references["agent without gaze"]["mean"], color="black", linestyle=":", linewidth=1,
               label="agent without gaze")
    for dropout in dict.fromkeys(cell["dropout"] for cell in cells):
        line = [cell for cell in cells if cell["dropout"] == dropout]
        latencies = [cell["latency_ms"] for cell in line]
        ax.plot(latencies, [cell["agent"]["mean"] for cell in line], marker="o", label=f"dropout {dropout:g}")
        ax.fill_between(latencies, [cell["agent"]["ci_low"] for cell in line],
                        [cell["agent"]["ci_high"] for cell in line], alpha=0.2)
    ax.set_xlabel("gaze latency (ms)")
    ax.set_ylabel("mean return (95 % CI)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def simulate_sessions(arena: BikkleConfig, options: Mapping[str, Any], args: argparse.Namespace,
                      out: Path) -> list[Path]:
    """``--sessions`` sessions of greedy-gaze under the realistic source with ``options``, saved as recordings."""
    paths = []
    for i in range(args.sessions):
        recording = simulate_recording(arena, RealisticGaze(**options), "greedy-gaze", args.session_arenas,
                                       args.session_steps, seed=SESSION_SEED_OFFSET + 1000 * args.seed + 2 * i)
        paths.append(save_recording(recording, out / "sessions" / f"session_{i}.npz"))
    return paths


def recovery(fit: GazeFit, options: Mapping[str, Any]) -> dict[str, dict]:
    """Every fitted quantity against the true one: value, 95 % interval, error and whether it holds the truth."""
    low, high = options["fixation_ms"]
    truth = {**options, "fixation_low_ms": low, "fixation_high_ms": high}
    return {name: {"true": float(truth[name]), "fitted": value.value, "ci_low": value.low, "ci_high": value.high,
                   "error": value.value - float(truth[name]), "covered": value.low <= truth[name] <= value.high}
            for name, value in fit.estimates.items()}


@dataclass(frozen=True)
class Participant:
    """The simulated participant: the true gaze model, the sessions and the model fitted to them."""

    options: Mapping[str, Any]
    sessions: list[Path]
    steps: int
    fit: GazeFit
    fit_path: Path


def simulate_participant(arena: BikkleConfig, options: Mapping[str, Any], args: argparse.Namespace,
                         out: Path) -> Participant:
    """Simulates the participant's sessions and fits a gaze model to them, read back from their files (it runs
    first: too few sessions to fit fail in seconds, not after the sweep)."""
    sessions = simulate_sessions(arena, options, args, out)
    recordings = [load_recording(path) for path in sessions]
    try:
        fit = fit_gaze(recordings, [str(path) for path in sessions], bootstrap=args.fit_bootstrap, seed=args.seed)
    except GazeFitError as error:
        raise SystemExit(f"{error}\n(more --sessions, --session-arenas or --session-steps give the fit more gaze)"
                         ) from None
    return Participant(options, sessions, sum(recording.num_steps for recording in recordings), fit,
                       save_fitted(fit, out / "participant_fit.yaml", sessions))


def evaluate_participant(agent: Evaluator, person: Participant, out: Path) -> dict:
    """The agent and the references under the true model, the sessions replayed closed loop and the fitted model;
    the fitted parameters against the true ones."""
    scenarios = {"true model": write_source(out / "participant.yaml", person.options),
                 "replayed sessions": replay_scenario(person.sessions),
                 "fitted model": FITTED_PREFIX + str(person.fit_path)}
    returns = agent.returns(["agent", *REFERENCES], list(scenarios.values()))
    return {"parameters": plain_options(person.options),
            "sessions": [str(path) for path in person.sessions],
            "steps": person.steps,
            "fit": {"path": str(person.fit_path), "recovery": recovery(person.fit, person.options),
                    "notes": list(person.fit.notes)},
            "scenarios": scenarios,
            "results": {label: agent.summaries(returns[scenario]) for label, scenario in scenarios.items()}}


def print_participant(report: Mapping, fit: GazeFit) -> None:
    print(f"\nsimulated participant: {len(report['sessions'])} sessions, {report['steps']} steps, greedy-gaze "
          f"driving; fitted model:\n{format_fit(fit)}")
    print(f"{'parameter':<18} {'true':>9} {'fitted':>9} {'error':>9}   truth in the 95 % interval")
    for name, row in report["fit"]["recovery"].items():
        print(f"{name:<18} {row['true']:>9.4g} {row['fitted']:>9.4g} {row['error']:>+9.3g}   "
              f"{'yes' if row['covered'] else 'no'}")
    print(f"\n{'gaze':<18}   " + "".join(f"{name:<22}" for name in ("agent", *REFERENCES)))
    for label, row in report["results"].items():
        print(f"{label:<18}   " + "".join(f"{ci(row[name]):<22}" for name in ("agent", *REFERENCES)))


def finetune(sessions: list[str], args: argparse.Namespace, out: Path) -> dict:
    """A gaze-only fine-tune of the agent on the first half of the sessions, evaluated before and after (with the
    references) on the other half, replayed closed loop."""
    half = len(sessions) // 2
    trained, heldout = sessions[:half], sessions[half:]
    result = run_finetune(compose_config("finetune_gaze", [
        f"checkpoint={args.checkpoint}", "gaze=replay", f"gaze.path=[{','.join(trained)}]",
        f"heldout=[{','.join(heldout)}]", f"total_frames={args.finetune_frames}", "evaluation.scenarios=[]",
        f"evaluation.episodes={args.episodes}", f"evaluation.references=[{','.join(REFERENCES)}]",
        f"seed={args.seed}", f"device={args.device}", f"cpu_threads={args.threads}", f"out_dir={out / 'finetune'}",
        *args.finetune_override]))
    return {"trained": trained, "heldout": heldout, "frames": result["run"].frames,
            "results": result["results"][replay_scenario(heldout)],
            "improved": result["improved"][replay_scenario(heldout)], "report": str(result["paths"]["json"])}


def print_finetune(report: Mapping) -> None:
    row = report["results"]
    trained, heldout = (", ".join(Path(path).stem for path in report[part]) for part in ("trained", "heldout"))
    print(f"\ngaze-only fine-tune ({report['frames']} frames) on {trained}; before and after on the held-out "
          f"{heldout}, replayed closed loop:")
    print(f"  before {ci(row['before'])}   after {ci(row['after'])}   "
          f"({'raised, CIs apart' if report['improved'] else 'not raised with CIs apart'})")
    print("  " + "   ".join(f"{name} {ci(row[name])}" for name in REFERENCES))


def run(args: argparse.Namespace) -> dict:
    """The benchmark as configured; prints its figures and writes them into ``args.out``; returns the report."""
    started = time.monotonic()
    device = resolve_device(args.device)
    torch.set_num_threads(args.threads)
    seed = EVALUATION_SEED_OFFSET + args.seed
    actor, run_config = load_agent(args.checkpoint, device)
    policies = {"agent": lambda env: actor, **{name: reference_factory(name) for name in REFERENCES}}
    agent = Evaluator(policies, env_stack(run_config), args.episodes, seed, str(device))
    oracle = None
    if args.oracle_checkpoint is not None:
        oracle_actor, oracle_config = load_agent(args.oracle_checkpoint, device)
        oracle = Evaluator({"oracle": lambda env: oracle_actor}, env_stack(oracle_config), args.episodes, seed,
                           str(device))
    out = args.out
    participant_options = (realistic_options() if args.participant_params is None
                           else load_fitted(args.participant_params))

    arena = BikkleConfig(**evaluation_stack(agent.stack, PROTOCOL, "none", 1)["env"])
    person = simulate_participant(arena, participant_options, args, out)
    reference, oracle_source = reference_returns(agent, oracle)
    references = agent.summaries(reference)
    cells = sweep(agent, reference, args.latencies_ms, args.dropouts, args.dropout_burst_ms, out)
    print_sweep(references, oracle_source, cells, args.dropout_burst_ms)
    plot = plot_sweep(cells, references, out / "latency_dropout.png",
                      f"{run_name(args.checkpoint)} on {PROTOCOL}: the agent under realistic gaze")
    report = {"checkpoint": str(args.checkpoint), "oracle_checkpoint": args.oracle_checkpoint,
              "protocol": PROTOCOL, "episodes": args.episodes, "seed": seed,
              "references": references, "oracle_source": oracle_source,
              "sweep": {"dropout_burst_ms": args.dropout_burst_ms, "realistic_defaults": plain_options(realistic_options()),
                        "cells": cells},
              "participant": evaluate_participant(agent, person, out), "finetune": None}
    print_participant(report["participant"], person.fit)
    if args.finetune_frames:
        report["finetune"] = finetune(report["participant"]["sessions"], args, out)
        print_finetune(report["finetune"])
    report["seconds"] = time.monotonic() - started
    path = write_json(out / "human_gaze.json", report)
    print(f"\n{report['seconds']:.0f} s; wrote {path} and {plot}")
    return report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="the agent: a gaze-value run's final.pt")
    parser.add_argument("--oracle-checkpoint", default=None,
                        help="an oracle agent (trained with oracle=true) as the oracle; default: the agent under "
                             "exact gaze of the high-value pellet every step")
    parser.add_argument("--latencies-ms", type=float, nargs="+", default=[0, 100, 200, 300, 500],
                        help=f"gaze latencies, whole steps of {STEP_MS:g} ms")
    parser.add_argument("--dropouts", type=float, nargs="+", default=[0.0, 0.1, 0.25, 0.5],
                        help="fractions of time the tracker has lost the eye")
    parser.add_argument("--dropout-burst-ms", type=float, default=400.0,
                        help="the mean length of a dropout, the same for every dropout fraction")
    parser.add_argument("--episodes", type=int, default=500, help="evaluation episodes per cell and policy")
    parser.add_argument("--sessions", type=int, default=6, help="simulated participant sessions")
    parser.add_argument("--session-arenas", type=int, default=4, help="arenas played at once in a session")
    parser.add_argument("--session-steps", type=int, default=200, help="steps each arena of a session plays")
    parser.add_argument("--participant-params", default=None,
                        help="the participant's gaze model (a bikkle-fit-gaze YAML); default: the realistic "
                             "source's defaults")
    parser.add_argument("--fit-bootstrap", type=int, default=200, help="bootstrap replicates of the gaze fit")
    parser.add_argument("--finetune-frames", type=int, default=0,
                        help="frames of a gaze-only fine-tune on half the sessions, evaluated on the other half "
                             "(0: no fine-tune)")
    parser.add_argument("--finetune-override", nargs="*", default=[],
                        help="extra fine-tune config overrides (key=value), e.g. min_scale=0.4")
    parser.add_argument("--seed", type=int, default=0, help="seeds the evaluation arenas and the sessions")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--out", type=Path, default=None,
                        help="output directory (default outputs/human_gaze/<date>_<time>)")
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("episodes", "sessions", "session_arenas", "session_steps", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.fit_bootstrap < 0 or args.finetune_frames < 0:
        parser.error("--fit-bootstrap and --finetune-frames must be >= 0")
    if args.finetune_frames and args.sessions < 2:
        parser.error("a fine-tune trains on half the sessions and evaluates on the other half: it needs "
                     "--sessions >= 2")
    if not args.dropout_burst_ms >= STEP_MS:
        parser.error(f"--dropout-burst-ms must be at least one step ({STEP_MS:g} ms), got {args.dropout_burst_ms:g}")
    try:
        for latency_ms in args.latencies_ms:
            latency_steps(latency_ms)
        for dropout in args.dropouts:
            dropout_chain(dropout, STEP_MS / args.dropout_burst_ms)
    except ValueError as error:
        parser.error(str(error))
    if args.out is None:
        args.out = Path("outputs/human_gaze") / datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    return args


def main(argv: Sequence[str] | None = None) -> dict:
    return run(parse_args(argv))


if __name__ == "__main__":
    main()
