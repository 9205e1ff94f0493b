"""Shared test fixtures."""

from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict

from bikkle_rl.envs import BikkleEnv


@pytest.fixture
def place():
    """``place(env, agent, pellets, high_value=0, mask=None, round_step=0)``: installs one hand-placed layout in
    every arena of a :class:`BikkleEnv` (pink slots first) and returns its raw observation [N]."""

    def install(env: BikkleEnv, agent, pellets, high_value: int = 0, mask=None, round_step: int = 0) -> TensorDict:
        n, p = env.num_envs, env.config.num_pellets
        state = env.get_state()
        state["agent_pos"] = torch.tensor(agent, dtype=torch.float32).expand(n, 2).clone()
        state["pellet_pos"] = torch.tensor(pellets, dtype=torch.float32).expand(n, p, 2).clone()
        state["pellet_mask"] = torch.ones(n, p, dtype=torch.bool) if mask is None else torch.tensor(mask).expand(n, p)
        state["high_value"] = torch.full((n,), high_value)
        state["round_step"] = torch.full((n,), round_step)
        state["step_count"] = torch.zeros(n, dtype=torch.long)
        return env.set_state(state)

    return install
