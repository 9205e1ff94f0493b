"""Env-steps/s of the gymnasium adapters with random actions, beside gymnasium's Pendulum.

Single arena: the adapter's NumPy step (``gymnasium.make``, bare and with make's wrappers), and a batch-of-one
``BikkleEnv`` stepped through TensorDicts with NumPy observations, the path the adapter took before its NumPy
step. Many arenas: ``make_vec``'s batched vector env per autoreset mode, beside gymnasium's SyncVectorEnv of
single adapters.

    python benchmarks/gym_adapter_speed.py
    python benchmarks/gym_adapter_speed.py --arenas 64 4096 65536 --seconds 5 --device cuda
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import gymnasium
import torch
from env_throughput import timed_rate  # this folder's env benchmark: the same timing loop
from tensordict import TensorDict

import bikkle_rl  # noqa: F401  (registers the ids)
from bikkle_rl.envs import BikkleEnv

ENV_ID = "bikkle_rl/Bikkle-v0"
CPU = torch.device("cpu")


def gym_stepper(env: gymnasium.Env) -> Callable[[], None]:
    """One random step of a single gymnasium env, resetting when its episode ends."""
    env.reset(seed=0)
    env.action_space.seed(0)
    actions = [env.action_space.sample() for _ in range(1000)]
    count = 0

    def step() -> None:
        nonlocal count
        count += 1
        _, _, terminated, truncated, _ = env.step(actions[count % len(actions)])
        if terminated or truncated:
            env.reset()

    return step


def tensordict_stepper(config) -> Callable[[], tuple[dict, float]]:
    """A batch-of-one BikkleEnv stepped with a TensorDict per step, its observation read out as NumPy."""
    env = BikkleEnv(num_envs=1, seed=0, config=config)
    td = env.reset()
    keys = ("agent_pos", "pellet_rel", "pellet_kind", "pellet_mask", "round_progress")

    def step() -> tuple[dict, float]:
        nonlocal td
        action = torch.rand(1, 2) * 2 - 1
        td = env.step(TensorDict(action=action, batch_size=env.batch_size))["next"]
        observation, reward = {key: td[key][0].numpy().copy() for key in keys}, float(td["reward"][0, 0])
        if td["done"].item():
            td = env.reset()
        return observation, reward

    return step


def vector_stepper(envs: gymnasium.vector.VectorEnv) -> Callable[[], None]:
    """One random step of every arena of a vector env (actions drawn ahead)."""
    envs.reset(seed=0)
    envs.action_space.seed(0)
    actions = [envs.action_space.sample() for _ in range(8)]
    count = 0

    def step() -> None:
        nonlocal count
        count += 1
        envs.step(actions[count % len(actions)])

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arenas", type=int, nargs="+", default=[16, 256, 4096])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--device", default="cpu", help="where make_vec's arenas are stepped")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{ENV_ID}, random actions, torch_threads={torch.get_num_threads()}, make_vec device={args.device}")

    single = {
        "gymnasium.make(...).unwrapped (NumPy step)": gym_stepper(gymnasium.make(ENV_ID).unwrapped),
        "gymnasium.make(...) (checker, order, TimeLimit)": gym_stepper(gymnasium.make(ENV_ID)),
        "BikkleEnv(num_envs=1) via TensorDict (before)": tensordict_stepper(gymnasium.make(ENV_ID).unwrapped.config),
        "Pendulum-v1 (reference)": gym_stepper(gymnasium.make("Pendulum-v1").unwrapped),
    }
    print(f"\n{'one arena':<50}{'steps/s':>12}")
    for name, step in single.items():
        print(f"{name:<50}{timed_rate(step, 1, args.seconds, CPU):>12,.0f}")

    print(f"\n{'vector env':<50}{'arenas':>8}{'steps/s':>14}")
    for arenas in args.arenas:
        for mode in ("NextStep", "SameStep"):
            envs = gymnasium.make_vec(ENV_ID, num_envs=arenas, autoreset_mode=mode, device=args.device)
            rate = timed_rate(vector_stepper(envs), arenas, args.seconds, torch.device(args.device))
            print(f"{'make_vec, autoreset ' + mode:<50}{arenas:>8}{rate:>14,.0f}")
        if arenas <= 256:
            envs = gymnasium.make_vec(ENV_ID, num_envs=arenas, vectorization_mode="sync")
            rate = timed_rate(vector_stepper(envs), arenas, args.seconds, CPU)
            print(f"{'make_vec, SyncVectorEnv of single adapters':<50}{arenas:>8}{rate:>14,.0f}")


if __name__ == "__main__":
    main()
