"""What a trained agent's gaze-reliability probe believes under each gaze scenario, early and late in an episode.

A run trained with ``algo.reliability_coeff`` > 0 saves a probe that predicts, from the policy's encoding, whether
the episode's gaze is informative (:mod:`bikkle_rl.algorithms.gaze_reliability`). Whether the encoding tells
uniform gaze from correlated gaze, and how soon in an episode, says whether an agent misled by uniform gaze lacks
the knowledge or does not act on it. Per checkpoint and scenario this prints the probe's mean P(informative) over
three phases of the episode (its first 20 steps, steps 20-99, steps 100 on), the agent acting with its mean action
on the evaluation protocol's arenas; ``--biases`` adds realistic gaze at those high-value biases (the share of
fixations on the high-value pellet; 1/6 is chance among six pellets)::

    python benchmarks/gaze_reliability_probe.py outputs/benchmarks/gaze_value_trust_reliability/seed_*/mixture/final.pt \
        --biases 0.15 0.3 0.6 0.9
"""

from __future__ import annotations

import argparse

import torch

from bikkle_rl.agent_io import load_agent
from bikkle_rl.algorithms.gaze_reliability import GazeReliabilityProbe
from bikkle_rl.checkpoint import load_checkpoint
from bikkle_rl.evaluation.rollout import EPISODE_PHASES, gaze_cases, phase_label, record_scenario
from bikkle_rl.experiment import env_stack


def probe_beliefs(path: str, protocol: str, arenas: int, seed: int,
                  biases: tuple[float, ...] = ()) -> dict[str, list[float]]:
    """Per gaze case (:func:`~bikkle_rl.evaluation.rollout.gaze_cases`), the probe's mean P(informative) in each
    of :data:`~bikkle_rl.evaluation.rollout.EPISODE_PHASES` of one episode of ``arenas`` arenas."""
    actor, run_config = load_agent(path)
    algo_state = load_checkpoint(path, expected={"algo": None})["algo"]
    if "reliability_probe" not in algo_state:
        raise SystemExit(f"{path}: the run had no reliability probe (train with algo.reliability_coeff > 0)")
    probe = GazeReliabilityProbe(actor)
    probe.load_state_dict(algo_state["reliability_probe"])
    beliefs = {}
    for label, scenario, gaze in gaze_cases(biases):
        rollout = record_scenario(actor, env_stack(run_config), protocol, scenario, arenas, seed, gaze)
        with torch.no_grad():
            belief = torch.sigmoid(probe.logits(rollout))[..., 0]  # [arenas, steps]
        beliefs[label] = [belief[:, start:end].mean().item() for start, end in EPISODE_PHASES]
    return beliefs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+", help="final.pt or checkpoint files of runs trained with a probe")
    parser.add_argument("--protocol", default="gaze-value")
    parser.add_argument("--arenas", type=int, default=256, help="episodes per scenario (one batch)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--biases", type=float, nargs="*", default=(),
                        help="also realistic gaze at these high-value biases")
    args = parser.parse_args()
    header = " / ".join(phase_label(phase) for phase in EPISODE_PHASES)
    for path in args.checkpoints:
        print(f"{path}\n  P(informative) by scenario: {header}")
        for scenario, phases in probe_beliefs(path, args.protocol, args.arenas, args.seed,
                                                  tuple(args.biases)).items():
            print(f"  {scenario:<22}" + " / ".join(f"{value:.2f}" for value in phases))


if __name__ == "__main__":
    main()
