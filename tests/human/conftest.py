"""Fixtures of the human-side tests."""

from __future__ import annotations

import numpy as np
import pytest

from bikkle_rl.envs.config import BikkleConfig
from bikkle_rl.recording import RecordingWriter


@pytest.fixture
def write_session():
    """``write_session(steps_per_episode=(4, 3), seed=0)``: a :class:`RecordingWriter` filled with made-up steps
    of a 2 pink + 1 blue arena; the gaze walks along a diagonal and every third one is invalid."""

    def write(steps_per_episode: tuple[int, ...] = (4, 3), seed: int = 0) -> RecordingWriter:
        config = BikkleConfig(num_pink=2, num_blue=1)
        writer = RecordingWriter({"config": config, "seed": seed, "step_rate_hz": 10.0, "driver": "test"})
        rng = np.random.default_rng(seed)
        t = 0
        for episode, length in enumerate(steps_per_episode):
            for step in range(length):
                writer.append(
                    time=0.1 * t, episode=episode, episode_step=step, agent_pos=rng.random(2),
                    pellet_pos=rng.random((3, 2)), pellet_kind=[0, 0, 1], pellet_mask=[True, True, True],
                    high_value=step % 2, round_step=step, action=rng.uniform(-1, 1, 2), reward=float(step == 2),
                    done=step == length - 1, gaze=[0.01 * t + 0.1, 0.9 - 0.01 * t], gaze_valid=t % 3 != 2,
                    gaze_latency=0.02,
                )
                t += 1
        return writer

    return write
