"""The networks each algorithm trains, built in one place: PPO's actor and state-value critic, SAC's actor and
twin Q critics.

Example::

    networks = make_networks(ModelConfig(encoder="mlp"), env, "sac")
    sac = SAC(SACConfig(), *networks)
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import torch
from torchrl.envs import EnvBase
from torchrl.modules import ProbabilisticActor, ValueOperator

from bikkle_rl.modules.config import ModelConfig
from bikkle_rl.modules.heads import make_actor, make_critic, make_q

ALGORITHM_MODEL_FIELDS = {"ppo": {}, "sac": {"distribution": "tanh_normal", "scale": "state"}}
"""The model fields an algorithm fixes whatever the config says. SAC's actor is always a tanh-squashed Gaussian
with a state-dependent scale: its entropy term and reparametrised actions need a bounded, state-conditioned
distribution (a clipped Gaussian would train on actions the env never applies)."""


class Networks(NamedTuple):
    """What :func:`make_networks` builds: the policy and its critics."""

    actor: ProbabilisticActor
    critics: tuple[ValueOperator, ...]
    """PPO: one state-value critic (``state_value``); SAC: two independently initialised Q critics
    (``state_action_value``)."""


def algorithm_model_config(cfg: ModelConfig, algorithm: str) -> ModelConfig:
    """``cfg`` with the fields ``algorithm`` fixes (:data:`ALGORITHM_MODEL_FIELDS`): the config its networks are
    built with, which a checkpoint stores so that the actor can be rebuilt without the algorithm."""
    if algorithm not in ALGORITHM_MODEL_FIELDS:
        raise ValueError(f"algo.name must be one of {tuple(ALGORITHM_MODEL_FIELDS)}, got {algorithm!r}")
    return dataclasses.replace(cfg, **ALGORITHM_MODEL_FIELDS[algorithm])


def make_networks(cfg: ModelConfig, env: EnvBase, algorithm: str, device: torch.device | str = "cpu") -> Networks:
    """Fresh networks sized by ``env``'s specs for ``algorithm`` (``ppo`` or ``sac``), on ``device``, built with
    :func:`algorithm_model_config`.

    The actor is built first, then the critics (the order fixes which weights a seed gives).
    """
    model = algorithm_model_config(cfg, algorithm)
    actor = make_actor(model, env).to(device)
    if algorithm == "ppo":
        critics = (make_critic(model, env).to(device),)
    else:
        critics = tuple(make_q(model, env).to(device) for _ in range(2))
    return Networks(actor, critics)
