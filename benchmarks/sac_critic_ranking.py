"""Is SAC's gap to greedy the critic's or the actor's? Its critics rank the agent's action against greedy's move.

Rolls out a SAC checkpoint's deterministic policy on the seed protocol without gaze and asks the twin
critics (their minimum, as the actor's loss does) on every step for Q(s, the agent's action) and Q(s, greedy's
move). Printed per band of the nearest blue's distance (:mod:`bikkle_rl.evaluation.behaviour`): the agent's
progress toward the pink, how often the critic ranks greedy's move above the agent's action and the mean
difference, and the critic's own disagreement between two actions the arena makes into one move (greedy's
direction at the agent's action norm and at norm 2). Where the critic prefers the agent's action although
greedy's makes more progress, the actor does its job and the critic is what limits it.

    python benchmarks/sac_critic_ranking.py outputs/.../final.pt
    python benchmarks/sac_critic_ranking.py outputs/.../final.pt --episodes 64
"""

from __future__ import annotations

import argparse

import torch
from omegaconf import OmegaConf
from tensordict import TensorDictBase
from torchrl.envs.utils import ExplorationType, set_exploration_type

from bikkle_rl.checkpoint import load_checkpoint
from bikkle_rl.envs.stack import make_env
from bikkle_rl.evaluation.behaviour import chebyshev, movement_terms
from bikkle_rl.evaluation.cells import reference_factory
from bikkle_rl.evaluation.protocols import EVALUATION_SEED_OFFSET, evaluation_stack
from bikkle_rl.experiment import env_stack, init_weights_from, make_algorithm

STEPS = 200


def critic_value(algo, transitions: TensorDictBase, action: torch.Tensor) -> torch.Tensor:
    """min over the twin critics of Q(s, ``action``) for every transition."""
    qnet, params = algo.loss.qvalue_network, algo.loss.qvalue_network_params
    values = []
    for index in range(params.batch_size[0]):
        with params[index].to_module(qnet):
            values.append(qnet(transitions.clone().set("action", action))["state_action_value"].squeeze(-1))
    return torch.stack(values).amin(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a SAC run's final.pt or checkpoints/checkpoint_*.pt")
    parser.add_argument("--episodes", type=int, default=128, help="arenas rolled out together, 200 steps each")
    args = parser.parse_args()
    if args.episodes < 1:
        parser.error(f"--episodes must be >= 1, got {args.episodes}")
    torch.set_num_threads(1)

    config = OmegaConf.create(load_checkpoint(args.checkpoint, expected={"config": None})["config"])
    if config.algo.name != "sac":
        raise SystemExit(f"{args.checkpoint}: a {config.algo.name!r} run has no Q critics; this needs a SAC run")
    config.compile = False
    env = make_env(evaluation_stack(env_stack(config), "seed", "none", args.episodes), seed=EVALUATION_SEED_OFFSET)
    algo = make_algorithm(config, env, torch.device("cpu"))
    init_weights_from(args.checkpoint, algo)
    with set_exploration_type(ExplorationType.DETERMINISTIC), torch.no_grad():
        rollout = env.rollout(STEPS, algo.actor, break_when_any_done=False)
        steps = rollout.reshape(-1)
        agent = steps["action"]
        greedy = reference_factory("greedy")(env)(steps.clone())["action"]
        greedy_direction = greedy / chebyshev(greedy).clamp_min(1e-6)[:, None]  # max-norm 1: greedy's move
        agent_q = critic_value(algo, steps, agent)
        greedy_q = critic_value(algo, steps, greedy_direction * chebyshev(agent)[:, None])
        same_move_gap = (critic_value(algo, steps, 2 * greedy_direction) - greedy_q).abs()
    terms = {name: value.reshape(-1) for name, value in movement_terms(rollout, env.base_env.config.max_speed).items()}
    near, around = terms["near"].bool(), terms["around"].bool()
    bands = {"near (< 0.2)": near, "around (0.2-0.4)": around,
             "clear (> 0.4)": terms["counted"].bool() & ~near & ~around}

    print(f"{args.checkpoint}: {args.episodes} episodes x {STEPS} steps, seed protocol, no gaze")
    print("| nearest blue | steps | agent's progress | critic ranks greedy's move higher | "
          "Q(greedy) - Q(agent), mean | same move, |Q gap| mean |")
    print("|---|---|---|---|---|---|")
    for name, band in bands.items():
        preference = (greedy_q - agent_q)[band]
        progress = terms["progress"][band].mean()
        print(f"| {name} | {int(band.sum())} | {progress:.3f} | {(preference > 0).float().mean():.0%} | "
              f"{preference.mean():+.4f} | {same_move_gap[band].mean():.4f} |")
    print(f"mean Q(s, agent's action): {agent_q.mean():.3f}")


if __name__ == "__main__":
    main()
