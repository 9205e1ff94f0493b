"""``bikkle-fit-gaze``: fit a person's gaze model to their recordings, then train or evaluate against it.

Examples::

    bikkle-fit-gaze recordings/p01-*.npz -o p01.yaml
    bikkle-fit-gaze recordings/p01-*.npz -o p01.yaml --bootstrap 1000 --seed 1
    bikkle-train gaze=fitted gaze.path=p01.yaml                         # train against the model
    bikkle-finetune checkpoint=final.pt gaze=fitted gaze.path=p01.yaml  # fine-tune on it
    bikkle-eval checkpoint=final.pt "scenarios=[fitted:p01.yaml]"       # evaluate with it

Prints every parameter of the realistic gaze source with its 95 % bootstrap interval, how much of the data
each estimator used and what the data left open, and writes the model (:mod:`bikkle_rl.gaze.fitted`). The
estimators and their accuracy: :mod:`bikkle_rl.gaze.fit`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from bikkle_rl.gaze.fit import GazeFit, GazeFitError, fit_gaze
from bikkle_rl.gaze.fitted import save_fitted
from bikkle_rl.recording import RecordingError, load_recording


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bikkle-fit-gaze", description=__doc__.split("\n\n")[0])
    parser.add_argument("recordings", nargs="+", help="the person's recordings (bikkle-play .npz files)")
    parser.add_argument("-o", "--out", required=True, help="where to write the fitted model (YAML)")
    parser.add_argument("--step-ms", type=float, default=None,
                        help="the duration of a step (default: 1000 / the recordings' step_rate_hz)")
    parser.add_argument("--max-latency-steps", type=int, default=8, help="the longest latency considered")
    parser.add_argument("--bootstrap", type=int, default=200, help="bootstrap replicates for the 95 %% intervals")
    parser.add_argument("--seed", type=int, default=0, help="seeds the bootstrap")
    return parser


def format_fit(fit: GazeFit) -> str:
    """The fit as a table: each parameter, its value and 95 % interval; then the data used and the notes."""
    counts = fit.counts
    plural = "s" if counts["recordings"] != 1 else ""
    header = (f"{counts['recordings']} recording{plural}, {counts['steps']} steps of {fit.step_ms:g} ms, "
              f"{counts['valid_samples']} valid gaze samples")
    lines = [header, f"{'parameter':<18} {'value':>9}   95 % interval"]
    for name, estimate in fit.estimates.items():
        line = f"{name:<18} {estimate.value:>9.4g}   [{estimate.low:.4g}, {estimate.high:.4g}]"
        if name == "latency_steps":
            line += f"   ({estimate.value * fit.step_ms:g} ms)"
        lines.append(line)
    lines.append(f"used: {counts['bias_samples']} samples for the bias, {counts['offset_values']} axis values and "
                 f"{counts['pairs']} pairs for the noise, {counts['runs']} runs for the durations; "
                 f"{counts['bootstrap']} bootstrap replicates over {counts['blocks']} blocks")
    lines += [f"note: {note}" for note in fit.notes]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        recordings = [load_recording(path) for path in args.recordings]
        fit = fit_gaze(recordings, args.recordings, step_ms=args.step_ms, max_latency_steps=args.max_latency_steps,
                       bootstrap=args.bootstrap, seed=args.seed)
    except (FileNotFoundError, RecordingError, GazeFitError) as error:
        raise SystemExit(f"bikkle-fit-gaze: {error}") from None
    print(format_fit(fit))
    path = save_fitted(fit, args.out, args.recordings)
    print(f"wrote {path} (use: gaze=fitted gaze.path={path})")


if __name__ == "__main__":
    main()
