"""The networks each algorithm gets: PPO's actor and state-value critic, SAC's tanh actor and twin Q critics."""

import pytest
import torch
from synthetic_scenes import SpecOnlyEnv, random_scenes
from torchrl.modules import IndependentNormal, TanhNormal

from bikkle_rl.modules import ModelConfig, algorithm_model_config, make_actor, make_critic, make_networks

CLIPPED_GAUSSIAN = ModelConfig(encoder="mlp", distribution="normal", scale="global")


def test_ppo_gets_the_configured_actor_and_one_state_value_critic(generator):
    actor, critics = make_networks(CLIPPED_GAUSSIAN, SpecOnlyEnv(), "ppo")
    assert actor.module[-1].distribution_class is IndependentNormal
    assert len(critics) == 1 and critics[0](random_scenes(8, generator))["state_value"].shape == (8, 1)


def test_sac_gets_a_tanh_actor_with_a_state_scale_and_two_independent_q_critics(generator):
    actor, critics = make_networks(CLIPPED_GAUSSIAN, SpecOnlyEnv(), "sac")
    assert actor.module[-1].distribution_class is TanhNormal
    assert algorithm_model_config(CLIPPED_GAUSSIAN, "sac").scale == "state"
    scenes = random_scenes(8, generator).set("action", torch.zeros(8, 2))
    first, second = (critic(scenes.clone())["state_action_value"] for critic in critics)
    assert first.shape == (8, 1) and not torch.equal(first, second)


def test_a_seed_gives_the_weights_of_building_actor_then_critic():
    env = SpecOnlyEnv()
    torch.manual_seed(0)
    actor, (critic,) = make_networks(CLIPPED_GAUSSIAN, env, "ppo")
    torch.manual_seed(0)
    expected = (make_actor(CLIPPED_GAUSSIAN, env), make_critic(CLIPPED_GAUSSIAN, env))
    for built, reference in zip((actor, critic), expected):
        for name, value in reference.state_dict().items():
            assert torch.equal(built.state_dict()[name], value), name


def test_an_unknown_algorithm_is_named():
    with pytest.raises(ValueError, match="algo.name.*'dqn'"):
        make_networks(CLIPPED_GAUSSIAN, SpecOnlyEnv(), "dqn")
