"""Recordings without a person: many arenas played at once by a scripted driver under a model of gaze.

A simulated session has exactly the columns of a real one (:mod:`bikkle_rl.recording`), so everything
downstream of a recording (fitting a gaze model, closed-loop replay, fine-tuning, BIDS export) can be tested
against gaze whose generating parameters are known. Each arena plays ``steps`` steps; its episodes (one in
``continuing`` mode, several when ``episodic`` episodes end early) become the recording's episodes, arena by
arena.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from tensordict.nn import TensorDictModule
from torchrl.envs import TransformedEnv
from torchrl.envs.utils import ExplorationType, set_exploration_type

from bikkle_rl.envs.bikkle import BikkleEnv
from bikkle_rl.envs.config import BikkleConfig
from bikkle_rl.envs.keys import PRIVILEGED
from bikkle_rl.envs.transforms.gaze_injection import GazeInjection
from bikkle_rl.gaze.source import GazeSource
from bikkle_rl.policies import make_reference_policy
from bikkle_rl.recording import Recording


def simulate_recording(config: BikkleConfig, source: GazeSource, driver: str | TensorDictModule = "greedy-gaze",
                       num_arenas: int = 16, steps: int | None = None, seed: int = 0,
                       step_rate_hz: float = 10.0) -> Recording:
    """Plays ``num_arenas`` arenas for ``steps`` steps (default ``config.max_steps``) and records them.

    Args:
        config: the arena.
        source: the gaze (its own validity: ``p_valid`` is the source's default, 1 for realistic gaze).
        driver: a reference policy's name (``greedy``, ``greedy-gaze``, ``random``) or a module reading the raw
            observation plus ``gaze`` / ``gaze_valid`` and writing ``action`` (played deterministically).
        seed: seeds the arenas (``seed``) and the gaze (``seed + 1``).
        step_rate_hz: the session's nominal step rate (the ``time`` column is ``step / step_rate_hz``).
    """
    steps = config.max_steps if steps is None else int(steps)
    env = TransformedEnv(BikkleEnv(num_arenas, config=config, seed=seed), GazeInjection(source, seed=seed + 1))
    policy = make_reference_policy(driver, config) if isinstance(driver, str) else driver
    with torch.no_grad(), set_exploration_type(ExplorationType.DETERMINISTIC):
        rollout = env.rollout(steps, policy, break_when_any_done=False).cpu()  # [N, T]
    done = rollout["next", "done"][..., 0]
    started = torch.cat((torch.zeros(num_arenas, 1, dtype=torch.long), done[:, :-1].long().cumsum(1)), 1)
    arena_episodes = started[:, -1] + 1
    first_episode = torch.cat((torch.zeros(1, dtype=torch.long), arena_episodes.cumsum(0)[:-1]))
    episode = first_episode[:, None] + started
    step_in_run = torch.arange(steps).expand(num_arenas, steps)
    episode_start = torch.where(torch.cat((torch.ones(num_arenas, 1, dtype=torch.bool), done[:, :-1]), 1),
                                step_in_run, 0).cummax(1).values
    columns = {
        "time": step_in_run / step_rate_hz,
        "episode": episode,
        "episode_step": step_in_run - episode_start,
        "agent_pos": rollout["agent_pos"],
        "pellet_pos": rollout[PRIVILEGED, "pellet_pos"],
        "pellet_kind": rollout["pellet_kind"],
        "pellet_mask": rollout["pellet_mask"],
        "high_value": rollout[PRIVILEGED, "is_high_value"].long().argmax(-1),
        "round_step": (rollout["round_progress"][..., 0] * config.round_len).round().long(),
        "action": rollout["action"],
        "reward": rollout["next", "reward"][..., 0],
        "done": done,
        "gaze": rollout["gaze"],
        "gaze_valid": rollout["gaze_valid"][..., 0],
        "gaze_latency": torch.full((num_arenas, steps), math.nan, dtype=torch.float64),
    }
    columns = {name: np.asarray(value.flatten(0, 1).numpy()) for name, value in columns.items()}
    driver_name = driver if isinstance(driver, str) else type(getattr(driver, "module", driver)).__name__
    metadata = {"config": config.to_dict(), "seed": seed, "step_rate_hz": step_rate_hz,
                "driver": f"simulated:{driver_name}", "gaze_source": repr(source)}
    return Recording.from_columns(columns, metadata)
