"""Simulated sessions: the columns of a real recording, episodes split where the arenas' episodes end."""

from __future__ import annotations

import numpy as np

from bikkle_rl.envs.config import BikkleConfig
from bikkle_rl.gaze import OracleGaze
from bikkle_rl.human.simulate import simulate_recording


def test_continuing_arenas_become_one_episode_each_with_the_state_the_gaze_saw():
    config = BikkleConfig(num_pink=3, num_blue=1, episode_mode="continuing", max_steps=30)
    recording = simulate_recording(config, OracleGaze(), driver="greedy", num_arenas=3, seed=4)
    assert recording.num_steps == 90 and recording.num_episodes == 3
    assert recording["episode"].tolist() == [e for e in range(3) for _ in range(30)]
    assert recording["episode_step"].tolist() == list(range(30)) * 3
    rows = np.arange(90)
    high_value_pos = recording["pellet_pos"][rows, recording["high_value"]]
    assert recording["gaze_valid"].all()
    np.testing.assert_array_equal(recording["gaze"], high_value_pos)  # oracle gaze: exactly the high-value pellet
    assert recording["gaze_target_high_value"].all()
    assert recording["round_step"].tolist()[:30] == list(range(30))
    assert (recording["reward"].reshape(3, 30).sum(1) > 0).all()  # greedy collects pinks


def test_episodic_arenas_split_into_episodes_where_they_end():
    config = BikkleConfig(num_pink=2, num_blue=2, episode_mode="episodic", max_steps=200)
    recording = simulate_recording(config, OracleGaze(), driver="greedy", num_arenas=2, steps=60, seed=0)
    done = recording["done"].reshape(2, 60)
    assert done.sum() >= 2  # greedy touches a pink within 60 steps
    starts = np.concatenate((np.ones((2, 1), bool), done[:, :-1]), 1).reshape(-1)
    assert ((recording["episode_step"] == 0) == starts).all()
    assert recording["episode"].tolist() == (np.cumsum(starts) - 1).tolist()
