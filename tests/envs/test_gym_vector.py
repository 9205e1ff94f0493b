"""The gymnasium vector env: spaces, autoreset modes, identity with BikkleEnv's batch and with the single-arena
adapter, action validation, and TorchRL's GymWrapper on top."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode

import bikkle_rl  # noqa: F401  (registers the ids)
from bikkle_rl.envs import BikkleEnv
from bikkle_rl.envs.gym_adapter import EVENT_KEYS, OBSERVATION_KEYS, BikkleGymEnv
from bikkle_rl.envs.gym_vector import BikkleVectorEnv

ENV_ID = "bikkle_rl/Bikkle-v0"


def random_actions(steps: int, num_envs: int, dim: int = 2, seed: int = 0) -> np.ndarray:
    return (torch.rand(steps, num_envs, dim, generator=torch.Generator().manual_seed(seed)) * 2 - 1).numpy()


def test_make_vec_builds_one_batched_env_with_batched_spaces():
    envs = gymnasium.make_vec(ENV_ID, num_envs=6)  # the registered vector_entry_point is make_vec's default
    assert isinstance(envs, BikkleVectorEnv) and envs.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert envs.config == gymnasium.make(ENV_ID).unwrapped.config and envs.config.max_steps == 200
    assert envs.single_observation_space == BikkleGymEnv(config=envs.config).observation_space
    assert envs.action_space.shape == (6, 2)
    obs, info = envs.reset(seed=0)
    assert obs in envs.observation_space
    assert obs["pellet_mask"].dtype == np.bool_ and obs["pellet_rel"].shape == (6, 2, 2)
    assert set(info) == {*EVENT_KEYS, *(f"_{key}" for key in EVENT_KEYS)}
    obs, reward, terminated, truncated, info = envs.step(envs.action_space.sample())
    assert obs in envs.observation_space
    assert reward.shape == terminated.shape == truncated.shape == (6,)
    assert info["pink"].shape == (6,) and info["_pink"].all()


def test_same_step_autoreset_is_bikkle_envs_step_and_maybe_reset():
    """Draw for draw: the same layouts, rewards, flags, resets, and the ending observations in ``final_obs``."""
    config = {"num_pink": 2, "num_blue": 2, "episode_mode": "episodic", "max_steps": 30}
    envs = gymnasium.make_vec(ENV_ID, num_envs=16, autoreset_mode=AutoresetMode.SAME_STEP, **config)
    torch_env = BikkleEnv(num_envs=16, seed=5, **config)
    td = torch_env.reset()
    obs, _ = envs.reset(seed=5)
    endings = 0
    for action in random_actions(120, 16):
        for key in OBSERVATION_KEYS:
            np.testing.assert_array_equal(obs[key], td[key].numpy(), err_msg=key)
        out, td = torch_env.step_and_maybe_reset(td.set("action", torch.from_numpy(action)))
        obs, reward, terminated, truncated, info = envs.step(action)
        np.testing.assert_array_equal(reward, out["next", "reward"][:, 0].numpy())
        np.testing.assert_array_equal(terminated, out["next", "terminated"][:, 0].numpy())
        np.testing.assert_array_equal(truncated, out["next", "truncated"][:, 0].numpy())
        done = terminated | truncated
        if done.any():
            endings += done.sum()
            np.testing.assert_array_equal(info["_final_obs"], done)
            for arena in np.flatnonzero(done):
                for key in OBSERVATION_KEYS:
                    np.testing.assert_array_equal(info["final_obs"][arena][key], out["next", key][arena].numpy())
            np.testing.assert_array_equal(info["final_info"]["pink"][done],
                                          out["next", "events", "pink"][torch.from_numpy(done), 0].numpy())
        assert "final_obs" in info or not done.any()
    assert endings > 20  # episodic: touches and truncations ended many episodes


def test_next_step_autoreset_restarts_an_ended_arena_on_the_following_step():
    envs = gymnasium.make_vec(ENV_ID, num_envs=3, max_episode_steps=5)
    assert envs.config.max_steps == 5  # the shorter of max_steps and max_episode_steps, as make's TimeLimit
    envs.reset(seed=0)
    actions = np.ones((3, 2), np.float32)
    for _ in range(4):
        assert not envs.step(actions)[3].any()
    obs, _, _, truncated, _ = envs.step(actions)
    assert truncated.all()
    ended_position = obs["agent_pos"].copy()
    obs, reward, terminated, truncated, info = envs.step(actions)  # the reset step: action ignored
    assert (reward == 0).all() and not terminated.any() and not truncated.any()
    assert (obs["round_progress"] == 0).all() and (info["pink"] == 0).all()
    assert not np.allclose(obs["agent_pos"], ended_position + 0.02)
    obs_next = envs.step(actions)[0]
    np.testing.assert_allclose(obs_next["agent_pos"], np.minimum(obs["agent_pos"] + 0.02, 1.0), atol=1e-6)


def test_one_arena_vector_env_matches_the_single_arena_adapter():
    """The batched torch dynamics and the adapter's NumPy step agree draw for draw (resets included)."""
    config = {"num_pink": [1, 3], "num_blue": [0, 2], "episode_mode": "episodic", "max_steps": 40, "shaping": 0.05}
    envs = BikkleVectorEnv(num_envs=1, autoreset_mode=AutoresetMode.SAME_STEP, **config)
    env = BikkleGymEnv(**config)
    vector_obs, _ = envs.reset(seed=2)
    obs, _ = env.reset(seed=2)
    for action in random_actions(200, 1, seed=1):
        for key in OBSERVATION_KEYS:
            np.testing.assert_array_equal(vector_obs[key][0], obs[key], err_msg=key)
        vector_obs, vector_reward, vector_terminated, vector_truncated, _ = envs.step(action)
        obs, reward, terminated, truncated, _ = env.step(action[0])
        assert (vector_reward[0], vector_terminated[0], vector_truncated[0]) == (reward, terminated, truncated)
        if terminated or truncated:
            obs, _ = env.reset()


def test_disabled_autoreset_resets_only_masked_arenas():
    envs = BikkleVectorEnv(num_envs=4, max_episode_steps=2, autoreset_mode="Disabled", num_pink=1, num_blue=1)
    envs.reset(seed=0)
    for action in random_actions(2, 4):
        obs, _, _, truncated, _ = envs.step(action)
    assert truncated.all()
    mask = np.array([True, False, True, False])
    reset_obs, info = envs.reset(options={"reset_mask": mask})
    np.testing.assert_array_equal(info["_pink"], mask)
    np.testing.assert_array_equal(reset_obs["agent_pos"][~mask], obs["agent_pos"][~mask])
    assert not np.isclose(reset_obs["agent_pos"][mask], obs["agent_pos"][mask]).all(-1).any()
    with pytest.raises(ValueError, match="reset_mask"):
        envs.reset(options={"reset_mask": np.ones(3, bool)})


@pytest.mark.parametrize("bad, match", [
    (np.zeros((4, 1), np.float32), r"shape \(4, 2\), got \(4, 1\)"),
    (np.zeros(2, np.float32), r"shape \(4, 2\), got \(2,\)"),
    (np.array([[0.0, 0.0], [np.nan, 0.0], [0.0, 0.0], [0.0, 0.0]], np.float32), r"NaN in arenas \[1\]"),
])
def test_rejects_actions_of_the_wrong_shape_or_with_nan(bad, match):
    envs = BikkleVectorEnv(num_envs=4)
    envs.reset(seed=0)
    with pytest.raises(ValueError, match=match):
        envs.step(bad)


def test_privileged_info_only_when_asked():
    plain = gymnasium.make_vec(ENV_ID, num_envs=2)
    assert "pellet_pos" not in plain.reset(seed=0)[1]
    envs = gymnasium.make_vec(ENV_ID, num_envs=2, privileged_info=True)
    _, info = envs.reset(seed=0)
    state = envs.state
    np.testing.assert_array_equal(info["high_value_slot"], state["high_value"].numpy())
    np.testing.assert_array_equal(info["pellet_pos"], state["pellet_pos"].numpy())
    assert info["_pellet_pos"].all()


def test_torchrl_gym_wrapper_accepts_the_same_step_vector_env():
    from torchrl.envs import GymWrapper
    from torchrl.envs.utils import check_env_specs

    envs = gymnasium.make_vec(ENV_ID, num_envs=4, autoreset_mode=AutoresetMode.SAME_STEP, max_episode_steps=3)
    env = GymWrapper(envs)
    check_env_specs(env)
    rollout = env.rollout(7, break_when_any_done=False)
    assert rollout.batch_size == (4, 7) and rollout["next", "truncated"][:, 2].all()
