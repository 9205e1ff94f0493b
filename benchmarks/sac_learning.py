"""SAC (uniform and event-priority replay) against PPO at equal environment steps, on the seed protocol.

Each variant trains through the recipe's ``train(cfg, run_dir)`` (MLP model, the recipe's training arena and
gaze mixture; SAC as ``experiment=sac_mlp``, in continuing mode) for ``--frames`` env steps per seed, then its
deterministic policy is evaluated on the seed protocol (1 pink + 1 blue, continuing, 200 steps) without gaze,
beside the greedy reference. Printed: one row per variant with the per-seed returns, their mean and standard
deviation, and the training throughput (env steps/s and gradient steps/s, wall time of the whole training loop,
evaluation excluded).

    python benchmarks/sac_learning.py                       # 3 seeds x 300k steps x 3 variants
    python benchmarks/sac_learning.py --jobs 2              # two runs at once, one CPU thread each
    python benchmarks/sac_learning.py --seeds 1 --frames 20000 --episodes 200     # a quick look
    python benchmarks/sac_learning.py --override algo.n_steps=5 --override reward_norm=null
    python benchmarks/sac_learning.py --variants sac-event --seeds 1 --first-seed 2     # seed 2 alone
    python benchmarks/sac_learning.py --variants sac-uniform --override env.episode_mode=episodic
    python benchmarks/sac_learning.py --variants sac-uniform --override model.q_action_input=head   # earlier critics
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from concurrent.futures import as_completed
from pathlib import Path

from omegaconf import DictConfig, open_dict

from bikkle_rl.conf import compose_config
from bikkle_rl.evaluation.cells import evaluate_table, reference_factory
from bikkle_rl.evaluation.protocols import EVALUATION_SEED_OFFSET
from bikkle_rl.experiment import env_stack
from bikkle_rl.stop_signals import run_pool
from bikkle_rl.training import train

VARIANTS = {
    "sac-uniform": ["experiment=sac_mlp", "algo.replay.kind=uniform"],
    "sac-event": ["experiment=sac_mlp", "algo.replay.kind=event"],
    "ppo": ["algo=ppo"],
}
"""SAC trains as its preset does (continuing mode), PPO as its defaults do (episodic). Each runs compiled (the
recipe's default): SAC's gradient step is hundreds of small ops, about 1.6 x faster."""
PROTOCOL, SCENARIO = "seed", "none"


def make_config(variant: str, seed: int, frames: int, run_dir: Path, overrides: list[str]) -> DictConfig:
    """The recipe's config for one run: MLP, no checkpoints or learning curve during training."""
    algo_overrides = VARIANTS[variant]
    extra = [o for o in overrides if not o.startswith("algo.") or variant.startswith("sac")]
    cfg = compose_config("train", [
        "model=mlp", *algo_overrides, f"seed={seed}", f"total_frames={frames}",
        f"checkpoint.every_frames={10 * frames}", f"evaluation.every_frames={10 * frames}",
        "evaluation.curve_episodes=16", "evaluation.video=false", *extra,
    ])
    with open_dict(cfg):
        cfg.logger.log_dir = str(run_dir)
    return cfg


def gradient_steps(algo, cfg: DictConfig) -> int:
    """Optimizer steps taken: SAC counts them; a PPO update is ``epochs x minibatches`` of them."""
    if cfg.algo.name == "ppo":
        return algo.updates_done * cfg.algo.epochs * cfg.algo.minibatches
    return algo.updates_done


def run(variant: str, seed: int, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as run_dir:
        cfg = make_config(variant, seed, args.frames, Path(run_dir), args.override)
        start = time.perf_counter()
        result = train(cfg, Path(run_dir))
        seconds = time.perf_counter() - start
        algo = result.algo
        table = evaluate_table({"agent": lambda env: algo.actor}, env_stack(cfg), PROTOCOL, [SCENARIO],
                               args.episodes, seed=EVALUATION_SEED_OFFSET + seed, device=cfg.device)
    return {"return": table[SCENARIO]["agent"]["mean"], "frames": result.frames, "seconds": seconds,
            "steps_per_s": result.frames / seconds, "updates_per_s": gradient_steps(algo, cfg) / seconds}


def greedy_return(args: argparse.Namespace) -> float:
    cfg = make_config("ppo", 0, args.frames, Path(tempfile.gettempdir()), [])
    table = evaluate_table({"greedy": reference_factory("greedy")}, env_stack(cfg), PROTOCOL, [SCENARIO],
                           args.episodes, seed=EVALUATION_SEED_OFFSET)
    return table[SCENARIO]["greedy"]["mean"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds per variant: first-seed .. first-seed + N-1")
    parser.add_argument("--first-seed", type=int, default=0, help="the first training seed")
    parser.add_argument("--frames", type=int, default=300_000, help="env steps per run")
    parser.add_argument("--episodes", type=int, default=1000, help="evaluation episodes per run")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--override", action="append", default=[],
                        help="extra Hydra override for every run (algo.* ones apply to SAC runs only)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="runs at once, each in its own process with cpu_count / jobs torch threads")
    args = parser.parse_args()
    for name, least in (("seeds", 1), ("first_seed", 0), ("jobs", 1)):
        if getattr(args, name) < least:
            parser.error(f"--{name.replace('_', '-')} must be >= {least}, got {getattr(args, name)}")
    args.override = [f"cpu_threads={max(1, (os.cpu_count() or 1) // args.jobs)}", *args.override]

    print(f"seed protocol, no gaze, {args.frames} env steps, {args.seeds} seeds, {args.episodes} episodes, "
          f"{args.jobs} run(s) at once; greedy reference: {greedy_return(args):.2f}")
    columns = ("variant", "returns per seed", "mean", "sd", "env steps/s", "grad steps/s", "train min")
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    pairs = [(variant, seed) for variant in args.variants for seed in seeds]
    with run_pool(args.jobs) as pool:
        futures = {pool.submit(run, variant, seed, args): (variant, seed) for variant, seed in pairs}
        for future in as_completed(futures):
            variant, seed = futures[future]
            result = future.result()
            print(f"run: {variant} seed {seed}: return {result['return']:.2f}, "
                  f"{result['seconds'] / 60:.1f} min", flush=True)
        results = [future.result() for future in futures]
    rows = []
    for variant in args.variants:
        runs = [result for (name, _), result in zip(pairs, results) if name == variant]
        returns = [r["return"] for r in runs]
        rows.append((
            variant,
            " ".join(f"{x:.2f}" for x in returns),
            f"{statistics.mean(returns):.2f}",
            f"{statistics.stdev(returns):.2f}" if len(returns) > 1 else "-",
            f"{statistics.mean(r['steps_per_s'] for r in runs):.0f}",
            f"{statistics.mean(r['updates_per_s'] for r in runs):.1f}",
            f"{statistics.mean(r['seconds'] for r in runs) / 60:.1f}",
        ))
        print("done:", " | ".join(rows[-1]), flush=True)
    print()
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
