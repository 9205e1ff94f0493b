"""Where in an episode a trained agent's return under each gaze scenario is made or lost, and what it believes of
the gaze there.

An agent cannot tell uninformative gaze from informative gaze on its first looks: only rewards show how the looks
fared (the track record) and only many looks show how they spread. If uniform gaze costs an agent against no gaze,
this tells whether the cost is in the first steps (the price of a prior that trusts looks, which only the mixture's
weights move) or later (gaze the agent could have learned to ignore and did not). Per checkpoint and gaze case it
prints the mean return, pinks collected and blues touched per episode in each phase (the first 20 steps, steps
20-99, steps 100 on), of those blues the ones that led the looks (:func:`looked_blue_touches`: the agent following a
look into a blue), and each case's return against no gaze per phase, the agent acting with its mean action on the
evaluation protocol's arenas. For a run trained with ``algo.reliability_coeff`` > 0 it adds the mean P(informative)
its probe reads from the policy's encoding (:mod:`bikkle_rl.algorithms.gaze_reliability`): whether an agent misled
by uniform gaze lacks the knowledge or does not act on it; for a run with a trust gate on its gaze path
(``model.gaze_gate``, :mod:`bikkle_rl.modules.gaze_gate`) the gate's mean trust, how far it let gaze in.
``--biases`` adds realistic gaze at those high-value biases (the share of fixations on the high-value pellet; 1/6 is
chance among six pellets)::

    python benchmarks/gaze_trust_phases.py outputs/benchmarks/gaze_value_trust_uniform/seed_*/mixture/final.pt \
        --plot gaze_trust_phases.png --labels "seed 0" "seed 1" "seed 2"
    python benchmarks/gaze_trust_phases.py outputs/benchmarks/gaze_value_trust_reliability/seed_*/mixture/final.pt \
        --biases 0.15 0.3 0.6 0.9
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from tensordict import TensorDictBase
from tensordict.nn import TensorDictModuleBase

from bikkle_rl.agent_io import load_agent
from bikkle_rl.algorithms.gaze_reliability import GazeReliabilityProbe
from bikkle_rl.checkpoint import load_checkpoint
from bikkle_rl.envs.dynamics import BLUE
from bikkle_rl.evaluation.rollout import EPISODE_PHASES, gaze_cases, phase_label, raw_reward, record_scenario
from bikkle_rl.experiment import env_stack
from bikkle_rl.modules.token_transformer import gated_encoder

BELIEF = "P(informative)"
"""The probe's belief, averaged over a phase's steps."""

TRUST = "gate trust"
"""The gaze gate's trust, averaged over a phase's steps."""

FIGURES = ("return", "pink", "blue", "looked-at blue", BELIEF, TRUST)
AVERAGED = (BELIEF, TRUST)
"""The figures averaged over a phase's steps; the others are sums per episode within the phase."""


def looked_blue_touches(rollout: TensorDictBase) -> torch.Tensor:
    """Per step ([arenas, steps] float), the blue touches where the touched blue, the blue nearest the agent before
    the step, held the largest share of the looks (``pellet_gaze_share``, written by the gaze-evidence transforms);
    zero where no look has landed yet."""
    kind, mask, share = rollout["pellet_kind"], rollout["pellet_mask"], rollout["pellet_gaze_share"]
    blue_distance = torch.where(mask & (kind == BLUE), rollout["pellet_rel"].norm(dim=-1), torch.inf)
    led = (share.argmax(-1) == blue_distance.argmin(-1)) & (share.amax(-1) > 0)
    return rollout["next", "events", "blue"].squeeze(-1).float() * led


def saved_probe(path: str, actor: TensorDictModuleBase) -> GazeReliabilityProbe | None:
    """The reliability probe a run saved with its algorithm's state, on ``actor``'s encoder; None if it had none."""
    state = load_checkpoint(path, expected={"algo": None})["algo"].get("reliability_probe")
    if state is None:
        return None
    probe = GazeReliabilityProbe(actor)
    probe.load_state_dict(state)
    return probe


@torch.no_grad()
def phase_figures(policy: TensorDictModuleBase, train_stack: dict, protocol: str, arenas: int, seed: int,
                  biases: tuple[float, ...] = (),
                  probe: GazeReliabilityProbe | None = None) -> dict[str, dict[str, list[float]]]:
    """``{case: {figure: [per phase]}}``: per gaze case (:func:`~bikkle_rl.evaluation.rollout.gaze_cases`), the
    mean per episode of the raw return, the pink and blue touches and the looked-at blue touches (where the stack
    keeps the gaze evidence) within each of :data:`~bikkle_rl.evaluation.rollout.EPISODE_PHASES`, and the
    ``probe``'s mean belief there when given and the policy's gaze gate's mean trust where it has one, over one
    episode of ``arenas`` arenas of ``train_stack`` (a run's env stack) on the protocol."""
    figures = {}
    gated = gated_encoder(policy)
    for label, scenario, gaze in gaze_cases(biases):
        rollout = record_scenario(policy, train_stack, protocol, scenario, arenas, seed, gaze)
        step = rollout["next"]
        per_step = {"return": raw_reward(step), "pink": step["events", "pink"],
                    "blue": step["events", "blue"]}
        if "pellet_gaze_share" in rollout:
            per_step["looked-at blue"] = looked_blue_touches(rollout)
        if probe is not None:
            per_step[BELIEF] = torch.sigmoid(probe.logits(rollout))
        if gated is not None:
            per_step[TRUST] = gated.gaze_trust(rollout["tokens"], rollout["token_type"])
        figures[label] = {
            name: [(values[:, start:end].float().mean() if name in AVERAGED
                    else values[:, start:end].float().sum(1).mean()).item() for start, end in EPISODE_PHASES]
            for name, values in per_step.items()
        }
    return figures


def against_no_gaze(figures: dict[str, dict[str, list[float]]]) -> dict[str, list[float]]:
    """Per gaze case but none, its return within each phase minus the return without gaze there."""
    return {case: [v - w for v, w in zip(values["return"], figures["none"]["return"])]
            for case, values in figures.items() if case != "none"}


def plot_phases(runs: dict[str, dict[str, dict[str, list[float]]]], path: Path) -> Path:
    """One panel per run (``{label: phase_figures(...)}``): grouped bars of each case's return against no gaze
    per phase of the episode."""
    fig, axes = plt.subplots(1, len(runs), figsize=(4.2 * len(runs), 3.6), sharey=True, layout="constrained",
                             squeeze=False)
    phases = [phase_label(phase).removeprefix("steps ") for phase in EPISODE_PHASES]
    for ax, (label, figures) in zip(axes[0], runs.items()):
        gaps = against_no_gaze(figures)
        width = 0.8 / len(gaps)
        for i, (case, values) in enumerate(gaps.items()):
            ax.bar([j + (i - (len(gaps) - 1) / 2) * width for j in range(len(phases))], values, width, label=case)
        ax.set_xticks(range(len(phases)), [f"steps {phase}" for phase in phases])
        ax.axhline(0, color="black", linewidth=0.5)
        ax.set_title(textwrap.fill(label, width=40), fontsize=8)
    axes[0][0].set_ylabel("return per episode in the phase,\nagainst the same agent without gaze")
    axes[0][-1].legend(fontsize=8)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+", help="final.pt or checkpoint files of gaze-reading runs")
    parser.add_argument("--protocol", default="gaze-value")
    parser.add_argument("--arenas", type=int, default=500, help="episodes per case (one batch)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--biases", type=float, nargs="*", default=(),
                        help="also realistic gaze at these high-value biases")
    parser.add_argument("--plot", type=Path, help="also draw each case's return against no gaze per phase here")
    parser.add_argument("--labels", nargs="*", help="the plot's panel titles, one per checkpoint (default: the paths)")
    args = parser.parse_args()
    labels = args.labels or args.checkpoints
    if len(labels) != len(args.checkpoints):
        parser.error(f"--labels: {len(labels)} labels for {len(args.checkpoints)} checkpoints")
    phases = " / ".join(phase_label(phase) for phase in EPISODE_PHASES)
    runs = {}
    for path, label in zip(args.checkpoints, labels):
        actor, run_config = load_agent(path)
        figures = phase_figures(actor, env_stack(run_config), args.protocol, args.arenas, args.seed,
                                tuple(args.biases), saved_probe(path, actor))
        print(f"{path}\n  per episode in {phases} ({' and '.join(AVERAGED)}: the mean over the phase's steps)")
        names = [name for name in FIGURES if name in figures["none"]]
        print(f"  {'case':<22}" + "".join(f"{name:<26}" for name in names))
        for case, values in figures.items():
            print(f"  {case:<22}" + "".join(f"{' / '.join(f'{v:6.2f}' for v in values[name]):<26}" for name in names))
        print("  return against no gaze")
        for case, gaps in against_no_gaze(figures).items():
            print(f"  {case:<22}" + " / ".join(f"{gap:+6.2f}" for gap in gaps))
        runs[label] = figures
    if args.plot:
        print(f"plot: {plot_phases(runs, args.plot)}")


if __name__ == "__main__":
    main()
