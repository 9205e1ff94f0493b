"""The Hydra configs of the commands (``train.yaml``, ``evaluate.yaml``, ``finetune_gaze.yaml``) and their groups.

The commands load them as a package (``config_path="pkg://bikkle_rl.conf"``), so they run from any directory.
Importing this package registers the configs' typed schemas (:mod:`bikkle_rl.run_config`), which each YAML lists
first among its defaults; :func:`compose_config` composes a config outside a command (tests, benchmarks, the live
fine-tune).
"""

from __future__ import annotations

from collections.abc import Sequence

from hydra import compose, initialize_config_module
from omegaconf import DictConfig

from bikkle_rl.run_config import register_configs

CONFIG_MODULE = __name__
register_configs()


def compose_config(name: str, overrides: Sequence[str] = ()) -> DictConfig:
    """The config ``name`` (``train``, ``evaluate`` or ``finetune_gaze``) with command-line style ``overrides``,
    as its command would get it (without the ``hydra`` node)."""
    with initialize_config_module(config_module=CONFIG_MODULE, version_base=None):
        return compose(name, overrides=list(overrides))
