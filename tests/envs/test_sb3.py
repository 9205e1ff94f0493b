"""Stable-Baselines3 on the gymnasium adapter: its env checker passes and a short PPO run learns.

Skipped unless the ``sb3`` extra is installed.
"""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
import torch

import bikkle_rl  # noqa: F401  (registers the ids)

stable_baselines3 = pytest.importorskip("stable_baselines3")
from stable_baselines3.common.env_checker import check_env
from stable_baselines3.common.env_util import make_vec_env

ENV_ID = "bikkle_rl/Bikkle-v0"
EASY_ARENA = {"num_pink": 1, "num_blue": 0, "max_speed": 0.05}
"""One pink, no blue, 2.5x the speed: an arena where a 30-second PPO run learns to collect pellets."""


def test_sb3_env_checker_accepts_the_adapter():
    with pytest.warns(UserWarning, match="pellet_rel has an unconventional shape"):  # [P, 2]: SB3 flattens it
        check_env(gymnasium.make(ENV_ID))


def mean_return(act, episodes: int = 8) -> float:
    """Mean unshaped return of ``act(observation) -> action`` over seeded episodes of the easy arena."""
    env = gymnasium.make(ENV_ID, **EASY_ARENA)
    returns = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=1000 + episode)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(act(obs))
            total, done = total + reward, terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


def test_ppo_learns_to_collect_pellets_on_the_adapter():
    """PPO (SB3's defaults but a shorter rollout) trains 30 k steps on a shaped easy arena, then collects far more
    pellets than a uniformly random policy on the unshaped one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # SB3's small networks run faster on one thread
    envs = make_vec_env(ENV_ID, n_envs=8, seed=0, env_kwargs={**EASY_ARENA, "shaping": 0.5})
    model = stable_baselines3.PPO("MultiInputPolicy", envs, n_steps=256, batch_size=256, n_epochs=4,
                                  learning_rate=1e-3, gamma=0.97, seed=0)
    try:
        model.learn(30_000)
    finally:
        torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    trained = mean_return(lambda obs: model.predict(obs, deterministic=True)[0])
    random = mean_return(lambda obs: rng.uniform(-1.0, 1.0, 2).astype(np.float32))
    assert trained > random + 10.0, (trained, random)
