"""Actor, state-value critic and Q(s, a) critic as TorchRL modules, each over its own configured encoder.

Every network is ``encoder -> head``; the heads are orthogonally initialised with a small gain on the
policy's last layer (near-zero mean actions at the start, as in PPO practice) and gain 1 on value outputs.
"""

from __future__ import annotations

import math

import torch
from tensordict.nn import AddStateIndependentNormalScale, NormalParamExtractor, TensorDictModule
from torch import nn
from torchrl.envs import EnvBase
from torchrl.envs.utils import ExplorationType
from torchrl.modules import IndependentNormal, ProbabilisticActor, TanhNormal, ValueOperator

from bikkle_rl.modules.config import ModelConfig
from bikkle_rl.modules.encoders import make_encoder
from bikkle_rl.modules.mlp import HIDDEN_GAIN, make_activation, orthogonal_init


class PolicyNet(nn.Module):
    """Observations -> (``loc``, ``scale``) [..., action_dim] of a Gaussian over actions."""

    def __init__(self, encoder: nn.Module, action_dim: int, cfg: ModelConfig):
        super().__init__()
        self.encoder = encoder
        if cfg.scale == "state":
            self.out = nn.Linear(encoder.out_features, 2 * action_dim)
            self.normal_params = NormalParamExtractor(f"biased_softplus_{cfg.init_scale}_{cfg.min_scale}")
        else:
            self.out = nn.Linear(encoder.out_features, action_dim)
            self.normal_params = AddStateIndependentNormalScale(
                action_dim, scale_mapping="exp", scale_lb=cfg.min_scale, init_value=math.log(cfg.init_scale)
            )
        orthogonal_init(self.out, cfg.policy_init_gain)

    def forward(self, *observations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.normal_params(self.out(self.encoder(*observations)))


class ValueNet(nn.Module):
    """Observations -> state value [..., 1]."""

    def __init__(self, encoder: nn.Module, cfg: ModelConfig):
        super().__init__()
        self.encoder = encoder
        self.out = orthogonal_init(nn.Linear(encoder.out_features, 1), cfg.value_init_gain)

    def forward(self, *observations: torch.Tensor) -> torch.Tensor:
        return self.out(self.encoder(*observations))


class QNet(nn.Module):
    """Observations and ``action`` [..., action_dim] (the last input) -> Q value [..., 1].

    The action joins the encoded observation and goes through ``cfg.q_layers`` hidden layers, or, with
    ``cfg.q_action_input == "encoder"``, enters the encoder's first layer beside the observation (the encoder was
    built that much wider: :func:`make_q`).
    """

    def __init__(self, encoder: nn.Module, action_dim: int, cfg: ModelConfig):
        super().__init__()
        self.encoder = encoder
        self.action_in_encoder = cfg.q_action_input == "encoder"
        layers: list[nn.Module] = []
        width = encoder.out_features + (0 if self.action_in_encoder else action_dim)
        for _ in range(cfg.q_layers):
            layers += [orthogonal_init(nn.Linear(width, cfg.hidden), HIDDEN_GAIN), make_activation(cfg.activation)]
            width = cfg.hidden
        layers.append(orthogonal_init(nn.Linear(width, 1), cfg.value_init_gain))
        self.head = nn.Sequential(*layers)

    def forward(self, *observations_and_action: torch.Tensor) -> torch.Tensor:
        *observations, action = observations_and_action
        if self.action_in_encoder:
            return self.head(self.encoder(torch.cat([action, *observations], dim=-1)))
        return self.head(torch.cat([self.encoder(*observations), action], dim=-1))


def make_actor(cfg: ModelConfig, env: EnvBase) -> ProbabilisticActor:
    """The Gaussian policy: writes ``loc``, ``scale``, ``action`` and its log-prob (``actor.log_prob_key``).

    ``tanh_normal`` samples inside the action spec's bounds; ``normal`` samples may leave them and the env
    clips. Samples by default; under ``set_exploration_type(ExplorationType.DETERMINISTIC)`` it returns the
    mean action (``tanh(loc)`` rescaled, or ``loc``).
    """
    encoder, in_keys = make_encoder(cfg, env.observation_spec)
    action_spec = env.action_spec_unbatched
    if cfg.distribution == "tanh_normal":
        distribution_class = TanhNormal
        # the bounds as tensors on the env's device: TanhNormal turns a float bound into a tensor at every call,
        # a host-to-device copy that a CUDA graph cannot capture
        distribution_kwargs = {"low": action_spec.space.low, "high": action_spec.space.high}
    else:
        distribution_class, distribution_kwargs = IndependentNormal, {}
    module = TensorDictModule(PolicyNet(encoder, action_spec.shape[-1], cfg), in_keys, ["loc", "scale"])
    return ProbabilisticActor(
        module,
        in_keys=["loc", "scale"],
        spec=env.full_action_spec_unbatched,
        distribution_class=distribution_class,
        distribution_kwargs=distribution_kwargs,
        return_log_prob=True,
        default_interaction_type=ExplorationType.RANDOM,
    )


def make_critic(cfg: ModelConfig, env: EnvBase) -> ValueOperator:
    """The state-value critic: observations -> ``state_value`` [..., 1]."""
    encoder, in_keys = make_encoder(cfg, env.observation_spec)
    return ValueOperator(ValueNet(encoder, cfg), in_keys=in_keys, out_keys=["state_value"])


def make_q(cfg: ModelConfig, env: EnvBase) -> ValueOperator:
    """One Q critic: observations and ``action`` -> ``state_action_value`` [..., 1].

    SAC's loss makes the twin copies itself (``num_qvalue_nets``).
    """
    action_dim = env.action_spec_unbatched.shape[-1]
    encoder_action_inputs = action_dim if cfg.q_action_input == "encoder" else 0
    encoder, in_keys = make_encoder(cfg, env.observation_spec, extra_inputs=encoder_action_inputs)
    return ValueOperator(QNet(encoder, action_dim, cfg), in_keys=[*in_keys, "action"],
                         out_keys=["state_action_value"])
