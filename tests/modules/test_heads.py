import pytest
import torch
from synthetic_scenes import SpecOnlyEnv, random_scenes
from torchrl.data import Composite
from torchrl.envs.utils import ExplorationType, set_exploration_type

from bikkle_rl.modules import ModelConfig, make_actor, make_critic, make_encoder, make_q

ENCODERS = ["mlp", "transformer", "cnn"]


@pytest.mark.parametrize("encoder", ENCODERS)
@pytest.mark.parametrize("distribution", ["tanh_normal", "normal"])
def test_actor_writes_actions_and_log_probs(encoder, distribution, generator):
    actor = make_actor(ModelConfig(encoder=encoder, distribution=distribution), SpecOnlyEnv())
    out = actor(random_scenes(32, generator))
    assert out["loc"].shape == out["scale"].shape == out["action"].shape == (32, 2)
    assert out["action_log_prob"].shape == (32,) and torch.isfinite(out["action_log_prob"]).all()
    assert out["action"].std() > 0.3, "a fresh policy should explore with scale ~ init_scale"
    if distribution == "tanh_normal":
        assert out["action"].abs().max() <= 1.0
    with set_exploration_type(ExplorationType.DETERMINISTIC):
        mean = actor(random_scenes(32, generator))
    expected = mean["loc"].tanh() if distribution == "tanh_normal" else mean["loc"]
    torch.testing.assert_close(mean["action"], expected)


def test_tanh_normal_bounds_are_the_action_spec_as_tensors():
    """TanhNormal turns a float bound into a device tensor at every call, a host-to-device copy that a CUDA graph
    cannot capture: the actor passes the spec's bounds as tensors on the spec's device."""
    env = SpecOnlyEnv()
    actor = make_actor(ModelConfig(distribution="tanh_normal"), env)
    bounds = actor.module[-1].distribution_kwargs
    space = env.action_spec_unbatched.space
    for name, expected in (("low", space.low), ("high", space.high)):
        assert torch.is_tensor(bounds[name]) and bounds[name].device == expected.device
        torch.testing.assert_close(bounds[name], expected)


@pytest.mark.parametrize("scale", ["state", "global"])
def test_fresh_policy_has_near_zero_mean_and_the_initial_scale(scale, generator):
    actor = make_actor(ModelConfig(scale=scale, init_scale=0.5), SpecOnlyEnv())
    out = actor(random_scenes(64, generator))
    assert out["loc"].abs().max() < 0.1
    torch.testing.assert_close(out["scale"], torch.full((64, 2), 0.5), atol=0.02, rtol=0)


def test_heading_mode_actor_has_one_action_dimension(generator):
    actor = make_actor(ModelConfig(), SpecOnlyEnv(action_dim=1))
    assert actor(random_scenes(8, generator))["action"].shape == (8, 1)


@pytest.mark.parametrize("encoder", ENCODERS)
def test_critic_and_q_on_flat_and_two_dim_batches(encoder, generator):
    cfg, env = ModelConfig(encoder=encoder), SpecOnlyEnv()
    critic, q = make_critic(cfg, env), make_q(cfg, env)
    scenes = random_scenes(12, generator)
    scenes["action"] = torch.rand(12, 2) * 2 - 1
    assert critic(scenes.clone())["state_value"].shape == (12, 1)
    assert q(scenes.clone())["state_action_value"].shape == (12, 1)
    grid = scenes.reshape(3, 4)
    torch.testing.assert_close(critic(grid.clone())["state_value"].reshape(12, 1),
                               critic(scenes.clone())["state_value"])
    other_action = scenes.clone()
    other_action["action"] = -scenes["action"]
    assert not torch.allclose(q(other_action)["state_action_value"], q(scenes.clone())["state_action_value"])


def test_q_with_the_action_in_the_encoder_reads_it_in_the_first_layer(generator):
    cfg, env = ModelConfig(encoder="mlp", q_action_input="encoder"), SpecOnlyEnv()
    q = make_q(cfg, env)
    net = q.module
    first = net.encoder.layers[0]  # action, observation (gaze columns last, through their own weight)
    assert first.split + first.gaze.in_features == env.observation_spec["observation_vector"].shape[-1] + 2
    assert net.head[0].in_features == net.encoder.out_features
    scenes = random_scenes(12, generator)
    scenes["action"] = torch.rand(12, 2) * 2 - 1
    assert q(scenes.clone())["state_action_value"].shape == (12, 1)
    with torch.no_grad():
        first.main.weight[:, :2] = 0.0  # the action's columns: without them, Q no longer depends on the action
    other_action = scenes.clone()
    other_action["action"] = -scenes["action"]
    torch.testing.assert_close(q(other_action)["state_action_value"], q(scenes.clone())["state_action_value"])


def test_actor_and_critic_own_separate_encoders():
    cfg, env = ModelConfig(), SpecOnlyEnv()
    actor, critic = make_actor(cfg, env), make_critic(cfg, env)
    assert not {id(p) for p in actor.parameters()} & {id(p) for p in critic.parameters()}


def test_missing_observation_key_names_it():
    with pytest.raises(KeyError, match="observation_vector"):
        make_encoder(ModelConfig(encoder="mlp"), Composite(shape=(4,)))
