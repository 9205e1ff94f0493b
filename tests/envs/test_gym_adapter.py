"""The gymnasium adapter: API conformance, registration, and identity with BikkleEnv's dynamics."""

from __future__ import annotations

import warnings

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import bikkle_rl  # noqa: F401  (registers bikkle_rl/Bikkle-v0)
from bikkle_rl.envs import BikkleEnv, render
from bikkle_rl.envs.gym_adapter import OBSERVATION_KEYS, BikkleGymEnv

ENV_ID = "bikkle_rl/Bikkle-v0"


@pytest.mark.parametrize(
    "config",
    [
        {"action_mode": "velocity"},
        {"action_mode": "heading", "episode_mode": "continuing"},
        {"num_pink": [1, 3], "num_blue": [0, 2], "start_round_step": "uniform"},
    ],
)
def test_passes_gymnasium_env_checker(config):
    env = gymnasium.make(ENV_ID, render_mode="rgb_array", **config)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the checker reports problems as warnings too
        check_env(env.unwrapped)


def test_make_applies_config_fields():
    env = gymnasium.make(ENV_ID, num_pink=3, num_blue=1, action_mode="heading", max_steps=50)
    assert isinstance(env.unwrapped, BikkleGymEnv)
    assert env.unwrapped.config.num_pink == 3 and env.unwrapped.config.max_steps == 50
    assert env.observation_space["pellet_rel"].shape == (4, 2)
    assert env.action_space.shape == (1,)
    obs, _info = env.reset(seed=0)
    assert obs["pellet_kind"].tolist() == [0, 0, 0, 1]


@pytest.mark.parametrize("bad", [{"num_pink": 0}, {"action_mode": "teleport"}, {"pellet_radius": 0.3}])
def test_bad_config_raises_the_config_error(bad):
    (name,) = bad
    with pytest.raises(ValueError, match=name):
        gymnasium.make(ENV_ID, **bad)


def test_matches_bikkle_env_step_by_step():
    """Same seed and actions: the adapter reproduces BikkleEnv's rewards and observations, resets included."""
    config = {"num_pink": 2, "num_blue": 2, "max_steps": 30}
    gym_env = BikkleGymEnv(**config)
    torch_env = BikkleEnv(num_envs=1, **config)
    torch_env.set_seed(7)
    td = torch_env.reset()
    obs, _ = gym_env.reset(seed=7)
    actions = torch.rand(120, 1, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1
    episodes = 0
    for action in actions:
        for key in OBSERVATION_KEYS:
            np.testing.assert_array_equal(obs[key], td[key][0].numpy().astype(obs[key].dtype), err_msg=key)
        td = torch_env.step(td.set("action", action))["next"]
        obs, reward, terminated, truncated, _ = gym_env.step(action[0].numpy())
        assert reward == td["reward"].item()
        assert terminated == td["terminated"].item() and truncated == td["truncated"].item()
        if terminated or truncated:
            episodes += 1
            td = torch_env.reset()
            obs, _ = gym_env.reset()
    assert episodes >= 2  # the comparison crossed episode boundaries


def test_same_seed_same_episode_different_seed_different_episode():
    env = BikkleGymEnv(num_pink=3, num_blue=3)
    first, _ = env.reset(seed=11)
    again, _ = env.reset(seed=11)
    other, _ = env.reset(seed=12)
    np.testing.assert_array_equal(first["pellet_rel"], again["pellet_rel"])
    assert not np.array_equal(first["pellet_rel"], other["pellet_rel"])


def test_truncates_at_max_steps():
    env = BikkleGymEnv(episode_mode="continuing", max_steps=5, num_pink=1, num_blue=0)
    env.reset(seed=0)
    truncations = [env.step(np.zeros(2, np.float32))[3] for _ in range(5)]
    assert truncations == [False] * 4 + [True]


def test_info_reports_events_and_privileged_state(place):
    env = BikkleGymEnv(num_pink=2, num_blue=1)
    env.reset(seed=0)
    place(env.env, (0.5, 0.5), [(0.59, 0.5), (0.2, 0.8), (0.8, 0.2)], high_value=0)
    obs, reward, terminated, _, info = env.step(np.zeros(2, np.float32))
    assert (reward, terminated) == (0.0, False)
    assert info["events"] == {"pink": 0, "blue": 0, "high_value": 0}
    assert info["privileged"]["high_value"] == 0
    np.testing.assert_allclose(info["privileged"]["pellet_pos"][1], (0.2, 0.8))
    assert set(obs) == set(OBSERVATION_KEYS)  # nothing privileged leaks into the observation

    obs, reward, terminated, truncated, info = env.step(np.array([1.0, 0.0], np.float32))
    assert reward == pytest.approx(5.0 * 99 / 100)  # the high-value pink at round step 1
    assert terminated and not truncated  # episodic: any touch ends the episode
    assert info["events"] == {"pink": 1, "blue": 0, "high_value": 1}


def test_render_views(place):
    agent_view = BikkleGymEnv(render_mode="rgb_array", render_size=64, num_pink=2, num_blue=1)
    human_view = BikkleGymEnv(render_mode="rgb_array", render_view="human", render_size=64, num_pink=2, num_blue=1)
    colours = {}
    for view, env in (("agent", agent_view), ("human", human_view)):
        env.reset(seed=0)
        place(env.env, (0.1, 0.1), [(0.25, 0.75), (0.75, 0.75), (0.75, 0.25)], high_value=1)
        frame = env.render()
        assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8
        colours[view] = tuple(frame[int(0.25 * 64), int(0.75 * 64)].tolist())  # the high-value pellet
    assert colours == {"agent": render.PINK_COLOUR, "human": render.HIGH_VALUE_COLOUR}
    assert BikkleGymEnv().render() is None


def test_rejects_unknown_render_options():
    with pytest.raises(ValueError, match="render_mode"):
        BikkleGymEnv(render_mode="human")
    with pytest.raises(ValueError, match="render_view"):
        BikkleGymEnv(render_view="oracle")
