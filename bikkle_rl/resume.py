"""Resuming a run with the config it was started with.

``bikkle-train resume=<checkpoint>`` trains on with the checkpoint's config, not the defaults: an MLP run resumed
without ``model=mlp`` stays an MLP run. Settings given on the resuming command line apply on top; those that
cannot change in the middle of a run (the model, the algorithm, the arena, the gaze...) are refused by name
unless ``force_resume=true``. Budgets, devices, checkpointing, evaluation and logging may change.
:func:`command_line_config` builds that config inside ``bikkle-train``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from hydra import compose
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from bikkle_rl.experiment import load_run_checkpoint
from bikkle_rl.plain_config import flatten_config, plain_config
from bikkle_rl.run_config import with_schema_defaults
from bikkle_rl.run_directory import resume_checkpoint

ADJUSTABLE = ("total_frames", "time_limit_minutes", "device", "cpu_threads", "compile", "cudagraphs", "checkpoint",
              "evaluation")
"""Settings a resumed run may change: they decide how long, where and how fast it runs and what it reports."""

RUN_LOCAL = ("resume", "force_resume", "init_from", "logger")
"""Settings of this invocation, never taken from the checkpoint (e.g. the logger writes into this run's directory)."""

_MISSING = object()


class ResumeConfigError(ValueError):
    """A resuming command line contradicts the checkpoint's config."""


def _under(path: str, keys: Iterable[str]) -> bool:
    return any(path == key or path.startswith(f"{key}.") for key in keys)


def changed_paths(config: Mapping[str, Any], reference: Mapping[str, Any]) -> set[str]:
    """The dotted settings whose values differ between two configs (present in only one counts)."""
    a, b = flatten_config(config), flatten_config(reference)
    return {path for path in a.keys() | b.keys() if a.get(path, _MISSING) != b.get(path, _MISSING)}


def contradictions(config: Mapping[str, Any], checkpoint: Mapping[str, Any]) -> list[str]:
    """``config``'s settings that differ from the checkpoint's and may not change when resuming, as
    ``name: checkpoint -> now`` lines. Top-level settings the checkpoint lacks (added to the recipe since) do not
    count."""
    a, b = flatten_config(config), flatten_config(checkpoint)
    fixed = sorted(path for path in changed_paths(config, checkpoint)
                   if not _under(path, ADJUSTABLE + RUN_LOCAL) and path.split(".")[0] in checkpoint)
    return [f"{path}: {_shown(b.get(path, _MISSING))} -> {_shown(a.get(path, _MISSING))}" for path in fixed]


def _shown(value: Any) -> str:
    return "(unset)" if value is _MISSING else repr(value)


def check_resumable(config: Mapping[str, Any], checkpoint: Mapping[str, Any], checkpoint_path: str) -> None:
    """Raises :class:`ResumeConfigError` listing the settings a resume would change that may not change."""
    found = contradictions(config, checkpoint)
    if found and not config.get("force_resume", False):
        raise ResumeConfigError(
            f"resume={checkpoint_path!r}: these settings differ from the checkpoint's and cannot change in the middle "
            f"of a run: {'; '.join(found)}. Drop them from the command line (the checkpoint's are used), or pass "
            "force_resume=true to resume anyway")


def resumed_config(current: Mapping[str, Any], defaults: Mapping[str, Any], checkpoint: Mapping[str, Any],
                   overridden: Iterable[str] = ()) -> dict[str, Any]:
    """The config a resumed run trains with: the checkpoint's, with what this command line changed on top.

    ``current`` is this command line's config, ``defaults`` the recipe's without the command line's overrides,
    ``overridden`` the keys the command line names (e.g. ``model`` for ``model=mlp``, so that restating a default
    counts too). Settings added to the recipe after the checkpoint was written take the current value.
    """
    requested = {path for path in flatten_config(current) if _under(path, overridden)} | changed_paths(current, defaults)
    effective = {key: copy.deepcopy(checkpoint[key] if key in checkpoint and key not in RUN_LOCAL else value)
                 for key, value in current.items()}
    effective |= {key: copy.deepcopy(value) for key, value in checkpoint.items() if key not in effective}
    for key in overridden:  # a whole group named on the command line (model=mlp) replaces the checkpoint's
        if key in current and isinstance(current[key], Mapping):
            effective[key] = copy.deepcopy(current[key])
    current_flat = flatten_config(current)
    for path in sorted(requested):
        _set_path(effective, path, current_flat.get(path, _MISSING))
    return effective


def _set_path(config: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node = config
    for part in parents:
        if not isinstance(node.get(part), dict):
            if value is _MISSING:
                return
            node[part] = {}
        node = node[part]
    if value is _MISSING:
        node.pop(leaf, None)
    else:
        node[leaf] = copy.deepcopy(value)


def override_keys(overrides: Iterable[str]) -> list[str]:
    """The config keys Hydra command-line overrides name: ``model=mlp`` -> ``model``, ``+gaze.hold=1`` ->
    ``gaze.hold``, ``~x`` -> ``x``."""
    return [override.split("=", 1)[0].lstrip("+~") for override in overrides]


def command_line_config(cfg: DictConfig) -> DictConfig:
    """The config this command line asks for; when resuming, the checkpoint's with this command line's changes
    on top (:func:`resumed_config`). Runs inside a Hydra app (it reads the command line's overrides)."""
    if not cfg.resume:
        return cfg
    overrides = list(HydraConfig.get().overrides.task)
    defaults = compose(config_name="train", overrides=[o for o in overrides if override_keys([o])[0] == "resume"])
    checkpoint = with_schema_defaults(load_run_checkpoint(resume_checkpoint(cfg.resume))["config"])
    return OmegaConf.create(resumed_config(plain_config(cfg), plain_config(defaults), checkpoint,
                                           override_keys(overrides)))
