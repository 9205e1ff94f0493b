"""make_env: presets, explicit stacks, gaze options and mixtures, episode statistics, config forms, errors."""

import pytest
import torch
from omegaconf import OmegaConf
from torchrl.envs.utils import check_env_specs

from bikkle_rl.envs import BikkleConfig
from bikkle_rl.envs.stack import EnvStackConfig, GazeConfig, make_env
from bikkle_rl.envs.transforms import Flatten, GazeInjection, MaxNormAction, RewardNormalization, SortPellets
from bikkle_rl.gaze import MixtureGaze, RealisticGaze

ENV = {"num_pink": [1, 3], "num_blue": [0, 3], "max_steps": 6}
VIEW = {"mlp": "observation_vector", "transformer": "tokens", "cnn": "image"}


@pytest.mark.parametrize("stack", sorted(VIEW))
@pytest.mark.parametrize("gaze", [None, {"source": "correlated", "hold": True}])
def test_presets_build_valid_envs(stack, gaze):
    env = make_env({"env": ENV, "num_envs": 4, "stack": stack, "gaze": gaze, "reward_norm": {"gamma": 0.99}},
                   seed=0)
    check_env_specs(env)
    keys = env.observation_spec.keys()
    assert VIEW[stack] in keys and ("gaze" in keys) == (gaze is not None)
    for key in ("step_count", "is_init", "episode_return", "episode_pink", "episode_blue", "episode_high_value",
                "raw_reward"):
        assert key in keys, key


def test_preset_order_and_oracle_flag():
    env = make_env({"stack": "mlp", "gaze": {"source": "uniform"}, "oracle": True, "env": {"num_pink": 3,
                                                                                         "num_blue": 3}})
    kinds = [type(t) for t in env.transform]
    assert kinds.index(SortPellets) < kinds.index(GazeInjection) < kinds.index(Flatten)
    assert env.observation_spec["observation_vector"].shape[-1] == 2 + 7 * 6 + 1 + 3 + 6  # polar view


@pytest.mark.parametrize("scaling, full_speed", [("max_norm", False), ("full_speed", True), ("clip", None)])
def test_action_scaling_picks_the_action_transform(scaling, full_speed):
    env = make_env({"env": ENV, "action_scaling": scaling})
    scalers = [t for t in env.transform if isinstance(t, MaxNormAction)]
    assert [t.full_speed for t in scalers] == ([] if full_speed is None else [full_speed])


def test_episode_return_sums_the_raw_reward_under_normalisation():
    env = make_env({"env": {"num_pink": 3, "num_blue": 3, "pellet_radius": 0.07, "episode_mode": "continuing",
                            "max_steps": 10},
                    "num_envs": 16, "reward_norm": {"gamma": 0.99, "clip": 10.0}}, seed=0)
    rollout = env.rollout(30, break_when_any_done=False)
    raw = rollout["next", "raw_reward"]
    assert torch.equal(rollout["next", "episode_return"], rollout["episode_return"] + raw)
    assert (rollout["episode_return"][rollout["is_init"]] == 0).all()
    assert raw.abs().sum() > 0 and not torch.allclose(raw, rollout["next", "reward"])


def test_explicit_transform_list_with_options_and_gaze_overrides():
    cfg = {"stack": None, "gaze": {"source": "correlated", "std": 0.1},
           "transforms": [{"name": "gaze", "hold": True, "max_age": 3}, {"name": "semantic_image", "size": 12}]}
    env = make_env(cfg, num_envs=3)
    gaze = next(t for t in env.transform if isinstance(t, GazeInjection))
    assert gaze.hold and gaze.max_age == 3 and gaze.source.std == 0.1
    assert env.observation_spec["image"].shape == (3, 4, 12, 12)
    check_env_specs(env)


def test_gaze_options_reach_the_source_and_mixtures_build():
    env = make_env({"gaze": {"source": "realistic", "latency_steps": 4, "availability": "episode"}})
    gaze = next(t for t in env.transform if isinstance(t, GazeInjection))
    assert isinstance(gaze.source, RealisticGaze) and gaze.source.latency_steps == 4
    assert gaze.availability == "episode" and gaze.p_valid == 1.0

    mixture = {"source": "mixture", "p_valid": 0.25,
               "components": [{"source": "correlated", "weight": 0.5}, {"source": "uniform", "weight": 0.3},
                              {"source": "none", "weight": 0.2}]}
    env = make_env({"stack": "transformer", "gaze": mixture}, num_envs=4, seed=1)
    gaze = next(t for t in env.transform if isinstance(t, GazeInjection))
    assert isinstance(gaze.source, MixtureGaze) and gaze.source.weights == [0.5, 0.3, 0.2]
    check_env_specs(env)


def test_a_yaml_p_valid_range_reaches_the_injection_and_bad_ones_fail_early():
    env = make_env(OmegaConf.create({"stack": "transformer", "gaze": {"source": "correlated", "p_valid": [0.25, 1]}}))
    gaze = next(t for t in env.transform if isinstance(t, GazeInjection))
    assert gaze.p_valid == (0.25, 1.0)
    check_env_specs(env)
    with pytest.raises(ValueError, match=r"gaze\.p_valid must lie in \[0, 1\]"):
        GazeConfig(p_valid=[1.0, 0.25])


def test_config_forms_and_overrides():
    yaml = OmegaConf.create({"env": {"num_pink": 2}, "num_envs": 2, "stack": "cnn", "gaze": {"source": "none"}})
    assert make_env(yaml, num_envs=5).batch_size == (5,)
    structured = EnvStackConfig(env=BikkleConfig(num_pink=2, num_blue=1), stack="transformer",
                                gaze=GazeConfig(source="oracle"))
    env = make_env(structured)
    assert env.base_env.config.num_blue == 1 and "tokens" in env.observation_spec
    assert make_env(None).batch_size == (1,)


def test_seeded_envs_are_reproducible():
    def rollout():
        env = make_env({"num_envs": 4, "gaze": {"source": "realistic"}}, seed=3)
        torch.manual_seed(0)  # the random actions
        return env.rollout(8, break_when_any_done=False)

    first, second = rollout(), rollout()
    assert torch.equal(first["next", "gaze"], second["next", "gaze"])
    assert torch.equal(first["next", "agent_pos"], second["next", "agent_pos"])


@pytest.mark.parametrize(
    "cfg, message",
    [
        ({"stack": "rnn"}, "unknown stack preset 'rnn'"),
        ({"transforms": [{"name": "blur"}]}, "unknown transform 'blur'"),
        ({"transforms": [{"name": "flatten", "size": 3}]}, "bad options"),
        ({"gaze": {"source": "webcam"}}, "unknown gaze source 'webcam'"),
        ({"gaze": {"source": "correlated", "sigma": 1}}, "bad options"),
        ({"gaze": {"source": "uniform", "availability": "never"}}, "availability"),
        ({"reward_norm": {"gamma": 0.9, "scale": 2}}, "bad reward_norm options"),
        ({"env": {"num_pink": 0}}, "num_pink"),
        ({"num_env": 4}, "unknown make_env config keys"),
        ({"action_scaling": "tanh"}, "action_scaling must be one of"),
        ({"action_bound": 0.5}, "action_bound must be >= 1"),
        ({"action_scaling": "clip", "action_bound": 2.0}, "needs action_scaling=max_norm or full_speed"),
        ({"stack": None, "transforms": [{"name": "gaze"}]}, "needs a gaze config"),
        ({"gaze": {"source": "uniform"}, "transforms": [{"name": "flatten"}]}, "no `gaze` entry"),
    ],
)
def test_clear_errors(cfg, message):
    with pytest.raises(ValueError, match=message):
        make_env(cfg)


def test_reward_normalization_is_last_and_sees_the_raw_reward_after_episode_sums():
    env = make_env({"reward_norm": {}})
    assert isinstance(env.transform[-1], RewardNormalization)
