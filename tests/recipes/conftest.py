"""Fixtures composing the training recipe's Hydra config with small overrides."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

CONF_DIR = Path(__file__).resolve().parents[2] / "recipes" / "conf"

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
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        return compose("train", overrides=list(overrides), return_hydra_config=False)


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
