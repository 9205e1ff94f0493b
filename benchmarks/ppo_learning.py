"""PPO learning on the task's evaluation protocol, read against greedy measured in the same run.

For each seed: train (:func:`bikkle_rl.training.train`) for a wall-time budget, then evaluate the agent and
greedy on the seed protocol (1 pink + 1 blue, continuing, 200 steps, gaze valid on 25 % of steps) under
correlated, uniform and no gaze, each on ``--episodes`` batched episodes. Prints the table with the
agent / greedy ratio per seed and scenario, the spread over seeds, and saves the learning curves of all seeds
(evaluation return against steps and wall time) as one PNG.

    python benchmarks/ppo_learning.py --model mlp --minutes 10 --seeds 0 1 2 --overrides experiment=ppo_mlp
    python benchmarks/ppo_learning.py --model transformer --minutes 20 --seeds 0
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from omegaconf import open_dict

from bikkle_rl.atomic_write import write_json
from bikkle_rl.conf import compose_config
from bikkle_rl.evaluation.cells import evaluate_table, reference_factory
from bikkle_rl.evaluation.protocols import EVALUATION_SEED_OFFSET
from bikkle_rl.experiment import env_stack
from bikkle_rl.training import train

SCENARIOS = ["correlated", "uniform", "none"]


def run_seed(args, seed: int, out_dir: Path) -> tuple[dict, list[dict]]:
    run_dir = out_dir / f"{args.model}_seed{seed}"
    overrides = [f"model={args.model}", f"seed={seed}", f"time_limit_minutes={args.minutes}",
                 "total_frames=1_000_000_000", "evaluation.video=false", *args.overrides]
    cfg = compose_config("train", overrides)
    with open_dict(cfg):
        cfg.logger.log_dir = str(run_dir)
    run = train(cfg, run_dir)
    policies = {"agent": lambda env: run.algo.actor, "greedy": reference_factory("greedy")}
    results = evaluate_table(policies, env_stack(cfg), "seed", SCENARIOS, args.episodes,
                             seed=EVALUATION_SEED_OFFSET + seed)
    results["frames"] = run.frames
    return results, run.history


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="mlp", choices=["mlp", "transformer", "cnn"])
    parser.add_argument("--minutes", type=float, default=10.0, help="training wall time per seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--episodes", type=int, default=1000, help="evaluation episodes per scenario")
    parser.add_argument("--out", default="benchmark_runs/ppo_learning")
    parser.add_argument("--overrides", nargs="*", default=[], help="extra Hydra overrides of the train config")
    args = parser.parse_args()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    ratios: dict[str, list[float]] = {s: [] for s in SCENARIOS}
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    print(f"model={args.model}, {args.minutes} min per seed, {args.episodes} evaluation episodes per scenario")
    print(f"{'seed':>4} {'frames':>11} " + " ".join(f"{s + ' agent/greedy':>28}" for s in SCENARIOS))
    for seed in args.seeds:
        results, history = run_seed(args, seed, out_dir)
        write_json(out_dir / f"{args.model}_seed{seed}.json", {"results": results, "curve": history}, indent=None)
        cells = []
        for scenario in SCENARIOS:
            agent, greedy = results[scenario]["agent"]["mean"], results[scenario]["greedy"]["mean"]
            ratios[scenario].append(agent / greedy)
            cells.append(f"{agent:6.2f} / {greedy:5.2f} = {agent / greedy:5.3f}")
        print(f"{seed:>4} {results['frames']:>11,} " + " ".join(f"{c:>28}" for c in cells))
        axes[0].plot([r["frames"] for r in history], [r["return"] for r in history], label=f"seed {seed}")
        axes[1].plot([r["seconds"] / 60 for r in history], [r["return"] for r in history], label=f"seed {seed}")
        greedy_line = results[SCENARIOS[0]]["greedy"]["mean"]
    for scenario in SCENARIOS:
        values = ratios[scenario]
        spread = f" (min {min(values):.3f}, max {max(values):.3f}, sd {statistics.pstdev(values):.3f})"
        print(f"{scenario:>10}: mean agent/greedy {statistics.fmean(values):.3f}{spread}")
    for ax, label in ((axes[0], "environment steps"), (axes[1], "wall time (minutes)")):
        ax.axhline(greedy_line, color="grey", linestyle="--", label="greedy")
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel(f"evaluation return ({SCENARIOS[0]} gaze)")
    fig.suptitle(f"PPO {args.model} on the seed protocol")
    fig.tight_layout()
    fig.savefig(out_dir / f"{args.model}_learning_curves.png", dpi=120)
    print(f"learning curves: {out_dir / f'{args.model}_learning_curves.png'}")


if __name__ == "__main__":
    main()
