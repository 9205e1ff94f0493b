"""Greedy and random reference returns on the task's evaluation protocol, next to the prototype's figures.

The original prototype measured a scripted greedy policy on its env over 8 000 episodes (``docs/task.md``):
24.75 +- 0.06 with 1 pink + 1 blue and 20.63 +- 0.07 with 3 pink + 3 blue; a random policy scored -0.62 and -2.15. This
script runs our ``greedy`` and ``random`` reference policies through the batched evaluator under the same protocol
(continuing, 200 steps) and prints mean +- standard error, the 95 % bootstrap CI and the prototype's number.

    python benchmarks/greedy_reference.py --episodes 8000
"""

from __future__ import annotations

import argparse
import time

import torch

from bikkle_rl.envs import BikkleEnv
from bikkle_rl.evaluation import evaluate_policy, summarize
from bikkle_rl.policies import make_reference_policy

PROTOCOLS = {
    "1 pink + 1 blue": {"num_pink": 1, "num_blue": 1},
    "3 pink + 3 blue": {"num_pink": 3, "num_blue": 3},
}
PROTOTYPE_RETURNS = {
    ("1 pink + 1 blue", "greedy"): "24.75 +- 0.06",
    ("1 pink + 1 blue", "random"): "-0.62",
    ("3 pink + 3 blue", "greedy"): "20.63 +- 0.07",
    ("3 pink + 3 blue", "random"): "-2.15",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=8000, help="episodes per protocol and policy (one batch)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    print(f"{'protocol':<16} {'policy':<7} {'return (mean +- s.e.)':>22} {'95% bootstrap CI':>18} "
          f"{'prototype':>14} {'pink/ep':>8} {'blue/ep':>8} {'time':>6}")
    for protocol, counts in PROTOCOLS.items():
        for offset, name in enumerate(("greedy", "random")):
            seed = args.seed + 1000 * offset
            env = BikkleEnv(args.episodes, device=args.device, seed=seed, episode_mode="continuing",
                            max_steps=200, **counts)
            generator = torch.Generator(device=args.device).manual_seed(seed)
            policy = make_reference_policy(name, env.config, generator=generator)
            start = time.perf_counter()
            results = evaluate_policy(policy, env)
            elapsed = time.perf_counter() - start
            summary = summarize(results["return"], generator=torch.Generator().manual_seed(seed))
            print(f"{protocol:<16} {name:<7} {summary['mean']:>13.2f} +- {summary['stderr']:.2f}"
                  f" [{summary['ci_low']:>6.2f}, {summary['ci_high']:>6.2f}]"
                  f" {PROTOTYPE_RETURNS[protocol, name]:>14}"
                  f" {results['pink'].float().mean():>8.2f} {results['blue'].float().mean():>8.3f} {elapsed:>5.1f}s")


if __name__ == "__main__":
    main()
