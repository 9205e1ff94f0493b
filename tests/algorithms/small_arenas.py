"""Small inputs for the algorithm tests: a few one-pink arenas of the MLP stack, batches collected on them, and
PPO and SAC with small MLP networks for them."""

from __future__ import annotations

import torch
from tensordict import TensorDictBase
from torchrl.envs import TransformedEnv
from torchrl.modules import ProbabilisticActor

from bikkle_rl.algorithms.greedy_guide import GreedyGuide
from bikkle_rl.algorithms.ppo import PPO, PPOConfig
from bikkle_rl.algorithms.sac import SAC, SACConfig
from bikkle_rl.envs.stack import make_env
from bikkle_rl.modules import ModelConfig, make_networks

ONE_PINK = {"num_pink": 1, "num_blue": 0}


def small_env(num_envs: int = 4) -> TransformedEnv:
    """``num_envs`` arenas of one pink pellet, observed as the flat ``observation_vector``."""
    return make_env({"env": ONE_PINK, "num_envs": num_envs, "stack": "mlp"}, seed=0)


def rollout(env: TransformedEnv, actor: ProbabilisticActor, steps: int = 8) -> TensorDictBase:
    """A collected batch [num_envs, steps] (episodes reset in place, as the collector does)."""
    with torch.no_grad():
        return env.rollout(steps, actor, break_when_any_done=False, auto_reset=True)


def small_ppo(env: TransformedEnv, guide: GreedyGuide | None = None, **fields) -> PPO:
    """PPO with a clipped-Gaussian MLP policy (analytic entropy: its losses are deterministic) and ``fields``."""
    torch.manual_seed(0)
    model = ModelConfig(encoder="mlp", hidden=16, distribution="normal", scale="global")
    actor, (critic,) = make_networks(model, env, "ppo")
    return PPO(PPOConfig(**{"frames_per_env": 8, **fields}), actor, critic, guide=guide)


def small_sac(env: TransformedEnv, seed: int = 0, **fields) -> SAC:
    """SAC with small MLP networks, no warm-up and a uniform buffer unless ``fields`` say otherwise."""
    torch.manual_seed(seed)
    cfg = SACConfig(**{"batch_size": 16, "init_random_frames": 0, "replay": {"kind": "uniform", "size": 1000},
                       **fields})
    return SAC(cfg, *make_networks(ModelConfig(encoder="mlp", hidden=16), env, "sac"))
