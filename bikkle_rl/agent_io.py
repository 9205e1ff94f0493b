"""Loads a trained agent from a run's checkpoint: the actor with its weights and the run's config.

The checkpoint (``final.pt`` or ``checkpoints/checkpoint_*.pt`` of a training run) stores the resolved run
config and the model config the networks were built with beside the networks, so the actor is rebuilt exactly as
trained: the env stack of the config sizes it (observation keys and widths, oracle flags), the model config shapes
it, the weights fill it. Example::

    actor, run_config = load_agent("outputs/2026-01-01/12-00-00/final.pt")
    env = make_env(env_stack(run_config, num_envs=64, reward_norm=None), seed=0)
    results = evaluate_policy(actor, env)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torchrl.modules import ProbabilisticActor

from bikkle_rl.checkpoint import CheckpointError, load_checkpoint, load_state
from bikkle_rl.envs.stack import make_env
from bikkle_rl.experiment import built_model_config, env_stack
from bikkle_rl.modules import ModelConfig, make_actor
from bikkle_rl.modules.gaze_adapter import with_fresh_adapters


def load_agent(path: str | Path, device: str | torch.device = "cpu",
               model: Mapping[str, Any] | None = None) -> tuple[ProbabilisticActor, dict[str, Any]]:
    """``(actor, run_config)`` from the checkpoint at ``path``, the actor on ``device`` in eval mode.

    ``model`` builds the actor with another model config than the run's (a fine-tune's, which may add a gaze
    adapter: it stays fresh, so the actor computes the checkpoint's function as the fine-tune starts it), with
    the fields the run's algorithm fixes (:func:`~bikkle_rl.modules.algorithm_model_config`).

    The actor samples by default; run it under ``set_exploration_type(ExplorationType.DETERMINISTIC)`` (as
    :func:`~bikkle_rl.evaluation.evaluate_policy` does) for its mean action. ``run_config`` is the training
    run's config as a plain dict; :func:`~bikkle_rl.experiment.env_stack` turns it into an env config.
    Raises :class:`CheckpointError` naming the file when it is missing, corrupt, holds no actor, or holds a
    config or weights that do not build the actor.
    """
    payload = load_checkpoint(path, expected={"algo": None, "config": None}, map_location=device)
    run_config, algo_state = payload["config"], payload["algo"]
    if not isinstance(run_config, Mapping) or not isinstance(run_config.get("model"), Mapping):
        raise CheckpointError(f"checkpoint {str(path)!r}: entry 'config' holds no model config")
    if not isinstance(algo_state, Mapping) or "actor" not in algo_state:
        raise CheckpointError(f"checkpoint {str(path)!r}: entry 'algo' holds no actor weights")
    try:
        env = make_env(env_stack(run_config, num_envs=1, device=str(device), reward_norm=None))
        if model is not None:
            model_cfg = built_model_config({**run_config, "model": model})
        elif "model" in payload:
            model_cfg = ModelConfig(**payload["model"])
        else:  # a checkpoint written before checkpoints stored the built model config
            model_cfg = built_model_config(run_config)
        actor = make_actor(model_cfg, env).to(device)
    except (ValueError, TypeError, KeyError) as error:
        raise CheckpointError(f"checkpoint {str(path)!r}: its config does not build an agent: {error}") from error
    state = algo_state["actor"] if model is None else with_fresh_adapters(actor, algo_state["actor"])
    load_state(actor, state, path, "algo.actor")
    return actor.eval(), dict(run_config)
