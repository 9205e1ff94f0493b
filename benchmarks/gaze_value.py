"""The value of gaze, measured: the benchmark's targets (``TARGETS``) over several seeds, each checked and printed.

Per seed, on the 3 pink + 3 blue arena (only gaze tells which pink is high-value):
1. train an agent with correlated gaze, and (``--oracle agent``) an oracle agent told the high-value pellet;
2. evaluate it under the ``gaze-value`` protocol: gain = return(correlated) - return(uniform),
   gain_max = return(oracle) - return(none), the fraction captured, and the agent against ``greedy``;
3. train an agent without gaze, fine-tune only its gaze parameters on correlated gaze, evaluate before/after.

Targets: gain / gain_max >= 0.5 with the CIs of correlated and uniform apart; the agent (with correlated gaze)
beats greedy (which reads no gaze); the gaze-only fine-tune raises return(correlated) with CIs apart. Read the
fraction beside the agent's return without gaze, also printed: an agent trained on correlated gaze alone can lean
on it entirely, score far below greedy without it, and so inflate gain and gain_max alike. Read the fine-tune
beside its return under uniform gaze, also printed: a no-gaze agent is misled by gaze it never saw, and a
fine-tune that only teaches it to ignore gaze raises both. The trust targets read the same evaluation: the agent
without gaze not below greedy, under uniform gaze not below itself without gaze, and the share of the oracle's gain
over greedy it captures under correlated (>= 0.75) and realistic (>= 0.5) gaze; ``--train-gaze mixture`` trains the
gaze agent on ``env=gaze_value``'s per-episode mixture of correlated, uniform and absent gaze instead. Each seed's
``learning_curves.png`` shows the three trained agents' returns along training (each under the gaze it trains
with: the oracle agent, trained without gaze, is misled by gaze it never saw), with greedy.

    python benchmarks/gaze_value.py --seeds 3 --frames 11200000 --oracle-frames 16800000 \\
        --minutes 150 --jobs 2 --train-override model.gaze_adapter=32      # the full benchmark at 11 M steps a
                                                                            # run (the oracle agents 16.8 M), 2 at
                                                                            # once (about 5 hours on 2 cores;
                                                                            # --first-seed and --seeds 1 split it
                                                                            # into sittings), then all three seeds
                                                                            # together:
    bikkle-aggregate outputs/benchmarks/gaze_value/seed_*/evaluation
    python benchmarks/gaze_value.py --part finetune --reuse --seeds 3 \\
        --jobs 3 --frames 11200000 --finetune-minutes 20                    # only the fine-tune half (the no-gaze
                                                                            # agents and their fine-tunes); runs
                                                                            # already in --out are read, not retrained
    python benchmarks/gaze_value.py --part value --reuse --seeds 3 --jobs 4 --frames 11200000 \\
        --oracle-frames 16800000 --train-override model.gaze_adapter=32    # a sitting cut short goes on from each
                                                                            # run's newest checkpoint (its learning
                                                                            # curve too); the oracle agents, finished
                                                                            # at 11.2 M, train on to 16.8 M
    python benchmarks/gaze_value.py --part value --reuse --seeds 3 --jobs 3 --frames 11200000 \\
        --oracle-frames 16800000 --train-override model.gaze_adapter=32 \\
        --pool-earlier 2                                                    # the finished runs evaluated again,
                                                                            # each gaze agent's final checkpoint
                                                                            # pooled with the two saved before it
                                                                            # (into seed_*/evaluation_pooled_2)
    python benchmarks/gaze_value.py --seeds 1 --frames 512 --episodes 16 \\
        --train-override num_envs=32 algo.frames_per_env=16                # a quick check that it runs
    python benchmarks/gaze_value.py --device cuda --minutes 3 --train-override num_envs=4096 \\
        algo.minibatches=16 cudagraphs=true compile=false                   # one GPU: about 15 M steps a run

Ctrl-C, or a kill of this process alone, stops every run: each worker process gets SIGTERM
(``stop_with_parent``), writes a checkpoint and returns, and ``--reuse`` goes on from there.

On 2 CPU cores a transformer run makes about 4 k steps/s with one other beside it, 2.5 k with two (one thread each).
At 11 M steps a run (``docs/gaze_value.md``) the agents without adapter captured 0.59 / 0.46 / 0.59 of gain_max
(seeds 0 / 1 / 2), beating greedy on all three. With the adapter in every agent (``--train-override
model.gaze_adapter=32``, oracle agents trained on to 16.8 M steps with ``--oracle-frames``) all three seeds pass:
gain 3.06 / 3.16 / 2.91 against gain_max 2.94 / 1.63 / 3.34, fractions 1.04 / 1.94 / 0.87, beating greedy by
1.3-1.6 (seed 1's oracle agent learned late and reached only 22.64, so its fraction overstates). Their returns
without gaze sit 0.4-0.9 below greedy's and uniform gaze misleads them: part of the gain is reliance (counted from
their play without gaze they capture 0.61 / 1.40 / 0.60 of gain_max). The gaze-only fine-tune (the adapter, the
never-learned gaze token dropped, a learning-rate warmup, and the exploration floor ``FINETUNE_FLOOR``) raised
return(correlated) with CIs apart and read gaze on all three seeds (22.53 -> 23.64, 21.81 -> 23.04, 22.16 -> 23.15;
uniform after 21.70 / 21.40 / 21.63); without the floor it read gaze on two.
An MLP did not learn to use gaze here in 10 minutes, hence the transformer default. On one H200 the whole benchmark
ran end to end (one seed, short runs) at 80-105 k steps/s a training run with 4096 arenas captured in CUDA graphs.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from bikkle_rl.atomic_write import write_json
from bikkle_rl.conf import compose_config
from bikkle_rl.envs.transforms.gaze_injection import availability_range
from bikkle_rl.evaluation.agent_evaluation import run_evaluation
from bikkle_rl.evaluation.aggregate import aggregate, format_gaze_value_runs
from bikkle_rl.evaluation.curves import plot_learning_curves
from bikkle_rl.evaluation.gaze_trust import (
    TRUST_SHARES,
    format_trust_across_runs,
    oracle_beats_greedy,
    oracle_cell,
    trust_verdicts,
)
from bikkle_rl.evaluation.gaze_value import UNINFORMATIVE_ORACLE, oracle_informative
from bikkle_rl.finetune import run_finetune
from bikkle_rl.run_reuse import reusable_checkpoint
from bikkle_rl.stop_signals import run_pool
from bikkle_rl.training import train

PROTOCOL = "gaze-value"
SCENARIOS = ["correlated", "uniform", "none", "oracle", "realistic"]
HOLD_GAZE = ["+gaze.hold=true"]
"""Every agent sees the last valid gaze and its age: gaze is valid on a quarter of the steps, and a memoryless
policy that only sees it then would turn toward the high-value pink one step in four."""

FINETUNE_FLOOR = ["min_scale=0.4"]
"""The fine-tune's exploration floor: the no-gaze agents sample with a scale of 0.15-0.45 (median, before tanh) and
with actions mostly saturated explore too little for a fresh adapter to learn; with the floor all three seeds'
gaze-only fine-tunes read gaze (``docs/gaze_value.md``). ``--finetune-override min_scale=null`` runs without it."""


TARGETS = {
    "captures_half": "gain / gain_max >= 0.5 with correlated and uniform CIs apart (gain_max's CI above 0)",
    "beats_greedy": "agent with correlated gaze beats greedy (no gaze), CIs apart",
    "finetune_raises": "gaze-only fine-tune raises return(correlated), CIs apart",
    "finetune_reads_gaze": "after the fine-tune, return(correlated) above return(uniform), CIs apart",
    "no_gaze_floor": "agent without gaze not below greedy (its CI reaches greedy's)",
    "uniform_harmless": "agent under uniform gaze not below itself without gaze (CI reaches it)",
    "correlated_share": "agent with correlated gaze captures >= 0.75 of the oracle's gain over greedy (CIs apart)",
    "realistic_share": "agent with realistic gaze captures >= 0.5 of the oracle's gain over greedy (CIs apart)",
}
"""The verdicts printed per seed and across seeds; the last goes beyond the value targets: it tells a fine-tune
that learned to read gaze from one that only learned to ignore it."""


def curve_scenario(gaze: str) -> str:
    """The scenario a run's learning curve is evaluated under: its own gaze, or correlated gaze for a training
    source that is no evaluation scenario (the mixture)."""
    return gaze if gaze in SCENARIOS else "correlated"


def training_gaze(args: argparse.Namespace) -> str:
    """The availability the agents train and fine-tune with (evaluation keeps the protocol's 0.25)."""
    low, high = args.train_p_valid
    return f"gaze.p_valid=[{low},{high}]"


def train_agent(run_dir: Path, seed: int, gaze: str, args: argparse.Namespace,
                extra: tuple[str, ...] = ()) -> tuple[Path, list]:
    """Trains one agent on the gaze-value arena with the ``gaze`` source for the time budget; returns its final
    checkpoint and its learning curve, evaluated under that same source (gaze it never saw would mislead it).
    With ``--reuse`` a finished run already in ``run_dir`` is read instead (its curve, if saved), and an unfinished
    one is continued (:func:`~bikkle_rl.run_reuse.reusable_checkpoint`)."""
    overrides = ["env=gaze_value", *HOLD_GAZE, f"model={args.model}", f"seed={seed}", f"device={args.device}",
                 f"cpu_threads={args.threads}", f"total_frames={args.frames}", f"time_limit_minutes={args.minutes}",
                 f"evaluation.protocol={PROTOCOL}", f"logger.log_dir={run_dir}", f"gaze={gaze}",
                 f"evaluation.scenarios=[{curve_scenario(gaze)}]", training_gaze(args), *extra, *args.train_override]
    cfg = compose_config("train", overrides)
    final, curve = run_dir / "final.pt", run_dir / "learning_curve.json"
    if args.reuse:
        start, finished = reusable_checkpoint(run_dir, cfg)
        if finished:
            return final, json.loads(curve.read_text()) if curve.is_file() else []
        if start is not None:
            cfg = compose_config("train", [*overrides, f"resume={start}"])
    history = train(cfg, run_dir).history
    write_json(curve, history, indent=None)
    return final, history


def curriculum_start(seed: int, name: str, args: argparse.Namespace) -> tuple[str, ...]:
    """With ``--init-from OUT``, the gaze agent starts from the weights of the same seed's gaze agent in the
    benchmark run in ``OUT`` (a curriculum: e.g. a mixture with realistic gaze after one without)."""
    if args.init_from is None or name != args.train_gaze:
        return ()
    return (f"init_from={curriculum_checkpoint(seed, args)}",)


def curriculum_checkpoint(seed: int, args: argparse.Namespace) -> Path:
    """The gaze agent of ``seed`` in the ``--init-from`` run."""
    return args.init_from / f"seed_{seed}" / args.train_gaze / "final.pt"


def ci(summary: dict, key: str = "mean") -> str:
    return f"{summary[key]:6.2f} [{summary['ci_low']:.2f}, {summary['ci_high']:.2f}]"


def seed_dir(seed: int, args: argparse.Namespace) -> Path:
    """Where one seed's runs, evaluation and fine-tune go."""
    return args.out / f"seed_{seed}"


def agent_runs(args: argparse.Namespace) -> dict[str, tuple]:
    """The training runs of one seed for ``--part``, each independent of the others: name -> (curve label, gaze,
    extra)."""
    runs = {}
    if args.part in ("all", "value"):
        shown = curve_scenario(args.train_gaze)
        label = f"trained on {args.train_gaze} gaze"
        label += "" if shown == args.train_gaze else f", shown under {shown} gaze"
        runs[args.train_gaze] = (label, args.train_gaze, ())
        if args.oracle == "agent":
            runs["oracle"] = ("oracle agent, no gaze", "none",
                              ("oracle=true", f"total_frames={args.oracle_frames or args.frames}"))
    if args.part in ("all", "finetune"):
        runs["no_gaze"] = ("trained without gaze", "none", ())
    return runs


def evaluation_name(args: argparse.Namespace) -> str:
    """The folder of a seed's evaluation: ``evaluation``, or ``evaluation_pooled_N`` beside it when pooled."""
    return f"evaluation_pooled_{args.pool_earlier}" if args.pool_earlier else "evaluation"


def evaluate_agent(seed: int, agent: Path, oracle: Path | None, args: argparse.Namespace) -> dict:
    """The gaze-value evaluation of the correlated-gaze agent (gain, gain_max, references), with ``--pool-earlier``
    pooled with its run's last checkpoints before the final one."""
    return run_evaluation(compose_config("evaluate", [
        f"checkpoint={agent}", f"oracle_checkpoint={oracle or 'null'}", f"protocol={PROTOCOL}",
        f"scenarios=[{','.join(SCENARIOS)}]", f"episodes={args.episodes}", "references=[greedy,greedy-gaze]",
        "video=false", f"seed={seed}", f"device={args.device}", f"cpu_threads={args.threads}",
        f"pool_earlier={args.pool_earlier}", f"out_dir={seed_dir(seed, args) / evaluation_name(args)}"]))


def finetune_gaze_only(seed: int, no_gaze: Path, args: argparse.Namespace) -> dict:
    """Fine-tunes only the no-gaze agent's gaze parameters on correlated gaze, evaluated before and after; returns
    the results without the training run (its modules stay in the worker process)."""
    finetune = run_finetune(compose_config("finetune_gaze", [
        f"checkpoint={no_gaze}", "gaze=correlated", training_gaze(args), "freeze=true",
        f"total_frames={args.finetune_frames or args.frames}",
        f"time_limit_minutes={args.finetune_minutes or args.minutes}", f"seed={seed}", f"device={args.device}",
        f"cpu_threads={args.threads}", f"evaluation.protocol={PROTOCOL}", "evaluation.scenarios=[correlated,uniform]",
        f"evaluation.episodes={args.episodes}", "evaluation.references=[]",
        f"out_dir={seed_dir(seed, args) / 'finetune'}", *FINETUNE_FLOOR, *args.finetune_override]))
    return {key: finetune[key] for key in ("results", "improved", "paths")}


def report_value(evaluation: dict) -> dict:
    """Prints the seed's value of gaze; returns its verdicts and the eval.json path."""
    value = evaluation["gaze_value"]
    agent_cell, greedy_cell = (evaluation["results"]["correlated"][name] for name in ("agent", "greedy"))
    print(f"gain      {ci({**value['gain'], 'mean': value['gain']['value']})}    "
          f"gain_max {ci({**value['gain_max'], 'mean': value['gain_max']['value']})}   ({value['oracle_source']})")
    fraction = value["fraction"]["value"]
    print(f"fraction  {fraction:6.2f}   CIs of correlated and uniform {'apart' if value['separated'] else 'overlap'}")
    informative = oracle_informative(value)
    if not informative:
        print(f"          {UNINFORMATIVE_ORACLE} (a failed oracle agent?): the target fails")
    print(f"agent (correlated gaze) {ci(agent_cell)}   greedy (no gaze) {ci(greedy_cell)}")
    print(f"agent without gaze {ci(evaluation['results']['none']['agent'])}   greedy-gaze (correlated gaze) "
          f"{ci(evaluation['results']['correlated']['greedy-gaze'])}")
    return {"captures_half": fraction >= 0.5 and value["separated"] and informative,
            "beats_greedy": agent_cell["ci_low"] > greedy_cell["ci_high"],
            **report_trust(evaluation), "evaluation": str(evaluation["paths"]["json"])}


def report_trust(evaluation: dict) -> dict:
    """Prints how far the agent trusts gaze (:func:`trust_verdicts`); for a pooled evaluation also each checkpoint's
    own figures, whose verdicts are returned under ``per_checkpoint``."""
    results = evaluation["results"]
    agent, greedy = {scenario: cells["agent"] for scenario, cells in results.items()}, results["correlated"]["greedy"]
    verdicts, shares = trust_verdicts(results)
    print(f"trust: agent without gaze {ci(agent['none'])} vs greedy {ci(greedy)}; under uniform gaze "
          f"{ci(agent['uniform'])}; oracle {ci(oracle_cell(results))}")
    if not oracle_beats_greedy(results):
        print("       the oracle does not beat greedy (CIs overlap): its gain is noise, the shares fail")
    for source, least in TRUST_SHARES.items():
        print(f"       {source:10s} {ci(agent[source])}: {shares[source]:.2f} of the oracle's gain over greedy "
              f"(>= {least})")
    if parts := evaluation.get("pooled"):
        verdicts["per_checkpoint"] = [report_checkpoint(part) for part in parts]
    return verdicts


def report_checkpoint(part: dict) -> dict:
    """Prints one pooled checkpoint's own trust figures in a line; returns its verdicts."""
    results = part["results"]
    verdicts, shares = trust_verdicts(results)
    means = " / ".join(f"{results[scenario]['agent']['mean']:.2f}" for scenario in ("none", "uniform"))
    print(f"       {Path(part['checkpoint']).name}: none / uniform {means}, greedy "
          f"{results['correlated']['greedy']['mean']:.2f}; shares " + " / ".join(
              f"{source} {share:.2f}" for source, share in shares.items())
          + f"; {sum(verdicts.values())}/{len(verdicts)} trust targets")
    return {"checkpoint": part["checkpoint"], **verdicts}


def report_finetune(finetune: dict) -> dict:
    """Prints the seed's gaze-only fine-tune, before and after; returns its verdicts and the eval.json path."""
    before, after = (finetune["results"]["correlated"][when] for when in ("before", "after"))
    uniform_before, uniform_after = (finetune["results"]["uniform"][when] for when in ("before", "after"))
    print(f"gaze-only fine-tune, return(correlated): before {ci(before)}  after {ci(after)}")
    print(f"             the same under uniform gaze: before {ci(uniform_before)}  after {ci(uniform_after)}")
    return {"finetune_raises": finetune["improved"]["correlated"],
            "finetune_reads_gaze": after["ci_low"] > uniform_after["ci_high"],
            "finetune": str(finetune["paths"]["json"])}


def report_seed(seed: int, evaluation: dict | None, finetune: dict | None, curves: dict[str, list],
                args: argparse.Namespace) -> dict:
    """Prints the seed's figures of the parts it ran and plots their runs' learning curves; returns its verdicts."""
    print(f"\n=== seed {seed} ===")
    verdicts: dict = {"seed": seed}
    if evaluation is not None:
        verdicts |= report_value(evaluation)
    if finetune is not None:
        verdicts |= report_finetune(finetune)
    if any(curves.values()):  # a reused run from before curves were saved has none
        path = seed_dir(seed, args) / "learning_curves.png"
        greedy = evaluation["results"]["correlated"]["greedy"]["mean"] if evaluation is not None else None
        plot_learning_curves(curves, path, reference=greedy,
                             title=f"seed {seed}: the gaze-value arena, each agent under the gaze it trained with")
        print(f"learning curves: {path}")
    return verdicts


def benchmark(seeds: range, args: argparse.Namespace) -> list[dict]:
    """Every seed's three experiments on ``--jobs`` processes: all training runs are queued first (they are
    independent), then each seed's evaluation and fine-tune as soon as the runs they read have finished (a thread
    per follow-up waits for its runs, so a slow run delays only what reads it)."""
    with run_pool(args.jobs) as pool, ThreadPoolExecutor(2 * len(seeds)) as waiters:
        runs = agent_runs(args)
        trained = {(seed, name): pool.submit(train_agent, seed_dir(seed, args) / name, seed, gaze, args,
                                             (*extra, *curriculum_start(seed, name, args)))
                   for seed in seeds for name, (_, gaze, extra) in runs.items()}

        def checkpoint(seed: int, name: str) -> Path | None:
            return trained[seed, name].result()[0] if (seed, name) in trained else None

        def evaluate(seed: int) -> dict:
            return pool.submit(evaluate_agent, seed, checkpoint(seed, args.train_gaze), checkpoint(seed, "oracle"),
                               args).result()

        def finetune(seed: int) -> dict:
            return pool.submit(finetune_gaze_only, seed, checkpoint(seed, "no_gaze"), args).result()

        def followup(seed: int, step, part: str) -> Future | None:
            return waiters.submit(step, seed) if args.part in ("all", part) else None

        followups = {seed: (followup(seed, evaluate, "value"), followup(seed, finetune, "finetune")) for seed in seeds}
        curves = {seed: {label: trained[seed, name].result()[1] for name, (label, _, _) in runs.items()}
                  for seed in seeds}
        return [report_seed(seed, *(None if step is None else step.result() for step in steps), curves[seed], args)
                for seed, steps in followups.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds per run: first-seed .. first-seed + N-1")
    parser.add_argument("--first-seed", type=int, default=0, help="the first seed")
    parser.add_argument("--minutes", type=float, default=20.0, help="wall-time budget of each training run")
    parser.add_argument("--finetune-minutes", type=float, default=None, help="the fine-tune's (default --minutes)")
    parser.add_argument("--frames", type=int, default=1_000_000_000, help="frame budget of each training run")
    parser.add_argument("--finetune-frames", type=int, default=None,
                        help="the fine-tune's (default --frames): the same steps for every seed, however busy the "
                             "machine")
    parser.add_argument("--oracle-frames", type=int, default=None,
                        help="the oracle agent's frame budget (default --frames): a reference trained longer, for a "
                             "seed whose oracle agent learns late")
    parser.add_argument("--model", default="transformer", help="model config group (transformer | mlp | cnn)")
    parser.add_argument("--oracle", choices=("agent", "gaze"), default="agent",
                        help="gain_max from a trained oracle agent, or from the agent under exact gaze")
    parser.add_argument("--episodes", type=int, default=1000, help="evaluation episodes per scenario and policy")
    parser.add_argument("--pool-earlier", type=int, default=0,
                        help="also evaluate the gaze agent's N checkpoints before its final one (a run keeps 2), "
                             "each on layouts of its own, their episodes pooled: the verdicts of the run's last "
                             "stretch, steadier than one checkpoint's")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads of each run")
    parser.add_argument("--jobs", type=int, default=1,
                        help="training runs (and evaluations, fine-tunes) at once, each in its own process")
    parser.add_argument("--train-gaze", choices=("correlated", "mixture", "realistic"), default="correlated",
                        help="the gaze the gaze agent trains with (mixture: env=gaze_value's per-episode mixture of "
                             "correlated, uniform and absent gaze)")
    parser.add_argument("--init-from", type=Path, default=None,
                        help="the --out of an earlier run: each seed's gaze agent starts from its gaze agent there")
    parser.add_argument("--train-p-valid", type=float, nargs=2, default=(0.0, 1.0), metavar=("LOW", "HIGH"),
                        help="gaze availability in training and fine-tuning: each arena draws its rate from "
                             "[LOW, HIGH] per episode (0.25 0.25: the protocol's fixed rate)")
    parser.add_argument("--part", choices=("all", "value", "finetune"), default="all",
                        help="value: the correlated-gaze and oracle agents and their evaluation; finetune: the no-gaze "
                             "agent and its gaze-only fine-tune; all: both")
    parser.add_argument("--reuse", action="store_true",
                        help="read training runs already in --out (same settings, checked) instead of training them "
                             "again: a later sitting picks up the runs an earlier one finished, and continues from its "
                             "checkpoints a run that was stopped or whose frame budget is raised")
    parser.add_argument("--train-override", nargs="*", default=[], help="extra train config overrides (key=value)")
    parser.add_argument("--finetune-override", nargs="*", default=[],
                        help="extra fine-tune config overrides (key=value), e.g. min_scale=0.3")
    parser.add_argument("--out", type=Path, default=Path("outputs/benchmarks/gaze_value"))
    args = parser.parse_args()
    for name, least in (("seeds", 1), ("first_seed", 0), ("jobs", 1), ("frames", 1), ("finetune_frames", 1),
                          ("oracle_frames", 1), ("pool_earlier", 0)):
        if getattr(args, name) is not None and getattr(args, name) < least:
            parser.error(f"--{name.replace('_', '-')} must be >= {least}, got {getattr(args, name)}")
    if args.oracle_frames is not None and args.oracle != "agent":
        parser.error("--oracle-frames is the oracle agent's budget: it needs --oracle agent")
    if args.init_from is not None:
        if args.part == "finetune":
            parser.error("--init-from starts the gaze agents: it needs --part all or value")
        missing = [str(path) for seed in range(args.first_seed, args.first_seed + args.seeds)
                   if not (path := curriculum_checkpoint(seed, args)).is_file()]
        if missing:
            parser.error(f"--init-from: no gaze agent to start from at {', '.join(missing)}")
    try:
        availability_range(args.train_p_valid)
    except ValueError as error:
        parser.error(f"--train-p-valid: {error}")

    verdicts = benchmark(range(args.first_seed, args.first_seed + args.seeds), args)
    if args.part in ("all", "value"):
        evals = [json.loads(Path(v["evaluation"]).read_text()) for v in verdicts]
        print(f"\n=== across {args.seeds} seeds (interquartile mean, 95 % bootstrap CI) ===")
        across = aggregate(evals)
        print(format_gaze_value_runs(across["gaze_value"]))
        if "trust" in across:
            print(format_trust_across_runs(across["trust"]))
    for target, label in TARGETS.items():
        if target in verdicts[0]:
            met = sum(v[target] for v in verdicts)
            print(f"{'PASS' if met == len(verdicts) else 'FAIL'}  {label}: {met}/{len(verdicts)} seeds")
    if parts := [part for v in verdicts for part in v.get("per_checkpoint", [])]:
        print(f"each pooled checkpoint on its own ({len(parts)}): " + ", ".join(
            f"{target} {sum(part[target] for part in parts)}/{len(parts)}" for target in parts[0] if target in TARGETS))
    write_json(args.out / "verdicts.json", verdicts)


if __name__ == "__main__":
    main()
