"""One table and plot across runs (seeds) from their eval.json files: interquartile mean with bootstrap CIs.

    bikkle-train -m seed=0,1,2,3,4 hydra/launcher=local      # a sweep; each run writes report/eval.json
    bikkle-aggregate multirun/2026-01-01/12-00-00            # every eval.json below; writes aggregate.*
    bikkle-aggregate runs/a/report/eval.json runs/b/report/eval.json --out results/ppo_mlp
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from bikkle_rl.evaluation.aggregate import aggregate, find_eval_files, load_eval, write_aggregate


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="eval.json files or directories searched for them")
    parser.add_argument("--out", type=Path, default=None,
                        help="where aggregate.json/.md/.png go (default: the first directory given)")
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0, help="seeds the bootstrap")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    files = find_eval_files(args.paths)
    if not files:
        raise SystemExit(f"no eval.json found under {args.paths}")
    aggregated = aggregate([load_eval(path) for path in files], args.confidence, args.resamples, args.seed)
    first = Path(args.paths[0])
    out_dir = args.out or (first if first.is_dir() else first.parent)
    paths = write_aggregate(aggregated, out_dir, files)
    print(paths["table"].read_text())
    print(f"{len(files)} runs; written to {out_dir}")


if __name__ == "__main__":
    main()
