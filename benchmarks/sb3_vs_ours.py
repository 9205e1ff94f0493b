"""Stable-Baselines3 PPO against our PPO recipe for the same wall time, read against greedy in the same run.

Both train on the recipe's training arena (``bikkle_rl/conf/env/train.yaml``: 1 pink + 1 blue, episodic, small
shaping) for ``--minutes`` each, without gaze, with the hyper-parameters of ``experiment=ppo_mlp`` where SB3
has the knob (a 16 k-step batch in 4 minibatches, 4 epochs, lr 1e-3, gamma 0.97, ReLU [64, 64], a normalised
reward). SB3 steps ``make_vec``'s batched vector env through a small VecEnv adapter (same-step autoreset). Then
each is evaluated on the seed protocol (``bikkle_rl/Bikkle-v0``: continuing, 200 steps, unshaped) on
``--episodes`` seeded episodes, SB3 and greedy through the gymnasium vector env, ours and greedy through the
project's evaluator.

    python benchmarks/sb3_vs_ours.py --minutes 2
    python benchmarks/sb3_vs_ours.py --minutes 10 --seed 1 --overrides compile=false
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from omegaconf import OmegaConf, open_dict
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv, VecNormalize
from torch import nn

import bikkle_rl  # noqa: F401  (registers the ids)
from bikkle_rl.conf import compose_config
from bikkle_rl.evaluation import summarize
from bikkle_rl.evaluation.cells import evaluate_table, reference_factory
from bikkle_rl.evaluation.protocols import EVALUATION_SEED_OFFSET
from bikkle_rl.experiment import env_stack
from bikkle_rl.policies.greedy import GreedyActor
from bikkle_rl.training import train

EVALUATION_ID = "bikkle_rl/Bikkle-v0"


class VectorEnvForSB3(VecEnv):
    """A gymnasium vector env with same-step autoreset behind SB3's ``VecEnv`` API."""

    def __init__(self, envs: gymnasium.vector.VectorEnv, seed: int):
        if envs.metadata["autoreset_mode"] != AutoresetMode.SAME_STEP:
            raise ValueError("SB3 needs same-step autoreset (final observations in the step's info)")
        self.envs, self.first_seed, self.actions = envs, seed, None
        super().__init__(envs.num_envs, envs.single_observation_space, envs.single_action_space)

    def reset(self):
        obs, _ = self.envs.reset(seed=self.first_seed)
        self.first_seed = None
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self.actions = actions

    def step_wait(self):
        obs, reward, terminated, truncated, info = self.envs.step(self.actions)
        done = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for arena in np.flatnonzero(done):
            infos[arena] = {"terminal_observation": info["final_obs"][arena],
                            "TimeLimit.truncated": bool(truncated[arena] and not terminated[arena])}
        return obs, reward, done, infos

    def close(self) -> None:
        self.envs.close()

    def get_attr(self, attr_name: str, indices=None) -> list[Any]:
        return [getattr(self.envs, attr_name, None)] * len(self._get_indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        setattr(self.envs, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs) -> list[Any]:
        raise NotImplementedError("the arenas are one batched env: there are no per-arena methods")

    def env_is_wrapped(self, wrapper_class, indices=None) -> list[bool]:
        return [False] * len(self._get_indices(indices))


class StopAfter(BaseCallback):
    """Ends ``learn`` once ``seconds`` of wall time have passed (checked every step)."""

    def __init__(self, seconds: float):
        super().__init__()
        self.deadline = time.perf_counter() + seconds

    def _on_step(self) -> bool:
        return time.perf_counter() < self.deadline


def train_ours(args, out_dir: Path) -> tuple[dict, Any]:
    overrides = ["experiment=ppo_mlp", "gaze=none", f"seed={args.seed}", f"time_limit_minutes={args.minutes}",
                 "total_frames=1_000_000_000", "evaluation.video=false", *args.overrides]
    cfg = compose_config("train", overrides)
    with open_dict(cfg):
        cfg.logger.log_dir = str(out_dir / "ours")
    start = time.perf_counter()
    run = train(cfg, out_dir / "ours")
    return {"frames": run.frames, "seconds": time.perf_counter() - start, "actor": run.algo.actor}, cfg


def train_sb3(args, cfg) -> dict:
    torch.set_num_threads(cfg.cpu_threads)
    arena = OmegaConf.to_container(cfg.env, resolve=True)
    envs = gymnasium.make_vec("bikkle_rl/BikkleEpisodic-v0", num_envs=args.sb3_envs, config=arena,
                              autoreset_mode=AutoresetMode.SAME_STEP)
    venv = VecNormalize(VectorEnvForSB3(envs, seed=args.seed), norm_obs=False, norm_reward=True, gamma=0.97)
    batch = args.sb3_envs * args.sb3_steps
    model = PPO("MultiInputPolicy", venv, n_steps=args.sb3_steps, batch_size=batch // 4, n_epochs=4,
                learning_rate=1e-3, gamma=0.97, gae_lambda=0.95, clip_range=0.2, ent_coef=0.0, max_grad_norm=0.5,
                policy_kwargs={"net_arch": [64, 64], "activation_fn": nn.ReLU}, seed=args.seed, verbose=0)
    start = time.perf_counter()
    model.learn(total_timesteps=10**12, callback=StopAfter(60 * args.minutes))
    return {"frames": model.num_timesteps, "seconds": time.perf_counter() - start, "model": model}


def gym_returns(act, episodes: int, seed: int) -> torch.Tensor:
    """Per-episode returns [E] of ``act(observation batch) -> actions`` on ``episodes`` seed-protocol arenas."""
    envs = gymnasium.make_vec(EVALUATION_ID, num_envs=episodes, autoreset_mode=AutoresetMode.DISABLED)
    obs, _ = envs.reset(seed=seed)
    total, done = np.zeros(episodes), np.zeros(episodes, bool)
    while not done.all():  # continuing: every arena is truncated at step 200
        obs, reward, terminated, truncated, _ = envs.step(act(obs))
        total, done = total + reward, terminated | truncated
    return torch.as_tensor(total)


def greedy_act(config):
    greedy = GreedyActor(config.action_mode, config.touch_distance)
    keys = ("pellet_rel", "pellet_kind", "pellet_mask")
    return lambda obs: greedy(*(torch.as_tensor(obs[key]) for key in keys)).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=2.0, help="training wall time of each library")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--episodes", type=int, default=1000, help="evaluation episodes per policy")
    parser.add_argument("--sb3-envs", type=int, default=256, help="arenas SB3 steps together")
    parser.add_argument("--sb3-steps", type=int, default=64, help="SB3's n_steps per arena and rollout")
    parser.add_argument("--out", default="benchmark_runs/sb3_vs_ours")
    parser.add_argument("--overrides", nargs="*", default=[], help="extra Hydra overrides of our train config")
    args = parser.parse_args()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    ours, cfg = train_ours(args, out_dir)
    sb3 = train_sb3(args, cfg)
    seed = EVALUATION_SEED_OFFSET + args.seed
    config = gymnasium.make(EVALUATION_ID).unwrapped.config
    model = sb3["model"]
    gym_results = {
        "SB3 PPO (make_vec)": gym_returns(lambda obs: model.predict(obs, deterministic=True)[0], args.episodes, seed),
        "greedy (make_vec)": gym_returns(greedy_act(config), args.episodes, seed),
    }
    table = evaluate_table({"ours": lambda env: ours["actor"], "greedy": reference_factory("greedy")},
                           env_stack(cfg), "seed", ["none"], args.episodes, seed=seed)["none"]
    rows = {name: summarize(returns) for name, returns in gym_results.items()}
    rows = {"ours (PPO recipe, MLP)": table["ours"], **rows, "greedy (our evaluator)": table["greedy"]}
    greedy = rows["greedy (make_vec)"]["mean"]
    trained = {"ours (PPO recipe, MLP)": ours, "SB3 PPO (make_vec)": sb3}

    print(f"\n{args.minutes} min of training each, seed {args.seed}, torch_threads={torch.get_num_threads()}; "
          f"seed protocol, {args.episodes} episodes")
    print(f"{'policy':<24}{'frames':>12}{'steps/s':>10}{'return':>9}{'+- s.e.':>9}{'x greedy':>10}")
    for name, row in rows.items():
        run = trained.get(name)
        frames = f"{run['frames']:>12,}{run['frames'] / run['seconds']:>10,.0f}" if run else f"{'':>22}"
        print(f"{name:<24}{frames}{row['mean']:>9.2f}{row['stderr']:>9.2f}{row['mean'] / greedy:>10.3f}")


if __name__ == "__main__":
    main()
