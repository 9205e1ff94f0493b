"""Env-steps/s of BikkleEnv with random actions, beside a bare loop of the same tensor operations.

The bare loop calls the same pure dynamics functions (step, observe, termination, partial reset) with no
TorchRL machinery (no specs, no TensorDict step/reset bookkeeping), so the ratio shows the env's overhead.

    python benchmarks/env_throughput.py                       # 1, 64, 4096, 65536 arenas, both episode modes
    python benchmarks/env_throughput.py --arenas 4096 --seconds 5 --device cuda
"""

from __future__ import annotations

import argparse
import time

import torch

from bikkle_rl.envs import BikkleConfig, BikkleEnv, dynamics
from bikkle_rl.envs.random import ArenaRNG


def timed_rate(step_fn, num_envs: int, seconds: float, device: torch.device) -> float:
    """Env-steps/s of ``step_fn`` run repeatedly for about ``seconds`` after a warm-up."""
    for _ in range(5):
        step_fn()
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(10):
            step_fn()
        steps += 10
        if device.type == "cuda":
            torch.cuda.synchronize()
    return steps * num_envs / (time.perf_counter() - start)


def torchrl_stepper(cfg: BikkleConfig, num_envs: int, device: torch.device):
    env = BikkleEnv(num_envs, device=device, seed=0, config=cfg)
    td = env.reset()

    def step():
        nonlocal td
        td["action"] = torch.rand(num_envs, env.action_spec.shape[-1], device=device) * 2 - 1
        _, td = env.step_and_maybe_reset(td)

    return step


def bare_stepper(cfg: BikkleConfig, num_envs: int, device: torch.device):
    generator = ArenaRNG(0, device, num_arenas=num_envs)
    state = dynamics.new_arena(cfg, num_envs, generator, device)
    action_dim = 2 if cfg.action_mode == "velocity" else 1

    def step():
        nonlocal state
        action = torch.rand(num_envs, action_dim, device=device) * 2 - 1
        state, _, events = dynamics.step_arena(cfg, state, action, generator)
        done = dynamics.is_terminated(cfg, events) | dynamics.is_truncated(cfg, state)
        dynamics.observe(cfg, state)
        state = dynamics.reset_arenas(cfg, state, done, generator)
        dynamics.observe(cfg, state)

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arenas", type=int, nargs="+", default=[1, 64, 4096, 65536])
    parser.add_argument("--modes", nargs="+", default=["episodic", "continuing"])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"device={device} torch_threads={torch.get_num_threads()} (env-steps/s, random actions)")
    print(f"{'mode':<11}{'arenas':>8}{'BikkleEnv':>14}{'bare loop':>14}{'ratio':>8}")
    for mode in args.modes:
        cfg = BikkleConfig(episode_mode=mode)
        for num_envs in args.arenas:
            env_rate = timed_rate(torchrl_stepper(cfg, num_envs, device), num_envs, args.seconds, device)
            bare_rate = timed_rate(bare_stepper(cfg, num_envs, device), num_envs, args.seconds, device)
            print(f"{mode:<11}{num_envs:>8}{env_rate:>14,.0f}{bare_rate:>14,.0f}{env_rate / bare_rate:>8.2f}")


if __name__ == "__main__":
    main()
