"""Tables and plots across runs (seeds) from their eval.json files, one per group of comparable runs: interquartile
mean with bootstrap CIs.

    bikkle-train -m seed=0,1,2,3,4 hydra/launcher=local      # a sweep; each run writes report/eval.json
    bikkle-aggregate multirun/2026-01-01/12-00-00            # every eval.json below; writes aggregate.*
    bikkle-aggregate runs/a/report/eval.json runs/b/report/eval.json --out results/ppo_mlp
    bikkle-aggregate outputs/ --strict                       # refuse unless the runs are one comparable group

Runs are grouped by what makes them comparable (evaluation protocol and scenarios, the training config but for the
seed: model, algorithm, gaze, arena, budget...; see :mod:`bikkle_rl.evaluation.aggregate`), each training run
counted once. For every group the command prints its settings, its runs (seed, run directory, evaluation file) and
its table.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from bikkle_rl.evaluation.aggregate import (
    aggregate_groups,
    count,
    describe_group,
    describe_run,
    distinguishing_settings,
    find_eval_files,
    group_runs,
    unlike_runs,
    write_aggregate,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="eval.json files or directories searched for them")
    parser.add_argument("--out", type=Path, default=None,
                        help="where aggregate.json/.md/.png go (default: the first directory given)")
    parser.add_argument("--strict", action="store_true",
                        help="refuse unless every run is in one group, counted once, with its run config found")
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0, help="seeds the bootstrap")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    files = find_eval_files(args.paths)
    if not files:
        raise SystemExit(f"no eval.json found under {args.paths}")
    groups = group_runs(describe_run(path) for path in files)
    if args.strict and (problems := unlike_runs(groups)):
        differing = distinguishing_settings(groups)
        for index, group in enumerate(groups, start=1):
            print(f"group {index} of {len(groups)}:\n{describe_group(group, differing)}\n")
        raise SystemExit("refusing to pool these runs (--strict):\n- " + "\n- ".join(problems))
    aggregated = aggregate_groups(groups, args.confidence, args.resamples, args.seed)
    first = Path(args.paths[0])
    out_dir = args.out or (first if first.is_dir() else first.parent)
    paths = write_aggregate(groups, aggregated, out_dir)
    print(paths["table"].read_text())
    runs = sum(len(group.runs) for group in groups)
    print(f"{count(runs, 'run')} in {count(len(groups), 'group')}; written to {out_dir}")


if __name__ == "__main__":
    main()
