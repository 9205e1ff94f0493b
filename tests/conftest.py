"""Shared test fixtures: hand-placed arenas, the training recipe's Hydra config with small overrides, and a
tiny pretrained agent."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig, open_dict
from tensordict import TensorDict

from bikkle_rl.conf import compose_config
from bikkle_rl.envs import BikkleEnv
from bikkle_rl.training import train


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


@pytest.fixture
def trust_cells():
    """``trust_cells(none, uniform, correlated, realistic, exact, greedy=22.0, half_width=0.3)``: an evaluation's
    cells for the trust targets, the agent's mean under each scenario (``exact``: under exact gaze, the oracle) with
    greedy beside it, every CI ``mean +- half_width``."""

    def build(none, uniform, correlated, realistic, exact, greedy=22.0, half_width=0.3) -> dict:
        agent = {"none": none, "uniform": uniform, "correlated": correlated, "realistic": realistic, "oracle": exact}
        return {scenario: {policy: {"mean": mean, "ci_low": mean - half_width, "ci_high": mean + half_width}
                           for policy, mean in (("agent", value), ("greedy", greedy))}
                for scenario, value in agent.items()}

    return build


TINY = [
    "model=mlp",
    "num_envs=32",
    "algo.frames_per_env=16",
    "evaluation.episodes=32",
    "evaluation.curve_episodes=16",
    "evaluation.video=false",
    "checkpoint.every_frames=512",
    "compile=false",  # a compile warm-up costs more than these tiny runs; one test compiles on purpose
]


def _compose(*overrides: str) -> DictConfig:
    return compose_config("train", overrides)


@pytest.fixture
def compose_defaults():
    """``compose_defaults(*overrides)`` -> the train config a user's command line gets: the recipe's defaults."""
    return _compose


@pytest.fixture
def compose_train():
    """``compose_train(tmp_path, *overrides)`` -> the resolved train config writing into ``tmp_path``."""

    def build(run_dir: Path, *overrides: str) -> DictConfig:
        cfg = _compose(*TINY, *overrides)
        with open_dict(cfg):
            cfg.logger.log_dir = str(run_dir)
        return cfg

    return build


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """The directory of a finished tiny training run (the recipe's config with ``TINY``, 512 frames), trained once
    for the tests that read its checkpoints; a test that writes into a run directory copies it first."""
    run_dir = tmp_path_factory.mktemp("tiny_run")
    cfg = _compose(*TINY, "total_frames=512")
    with open_dict(cfg):
        cfg.logger.log_dir = str(run_dir)
    train(cfg, run_dir)
    return run_dir


@pytest.fixture(scope="session")
def pretrained_gaze_agent(tmp_path_factory) -> Path:
    """A tiny MLP agent of the gaze-value arena (3 pink + 3 blue), trained without gaze for a few hundred steps:
    the ``final.pt`` a gaze-only fine-tune starts from (shared by the tests that only need its shapes)."""
    run_dir = tmp_path_factory.mktemp("pretrained_gaze_agent")
    cfg = _compose(*TINY, "env=gaze_value", "gaze=none", "total_frames=256", "evaluation.protocol=gaze-value",
                   "evaluation.curve_episodes=4")
    with open_dict(cfg):
        cfg.logger.log_dir = str(run_dir)
    train(cfg, run_dir)
    return run_dir / "final.pt"
