"""Builders shared by the training recipes: device, env, algorithm, collector, checkpoints of a run.

A run's config (``bikkle_rl/conf/train.yaml``) holds the env stack fields of
:class:`~bikkle_rl.envs.make_env.EnvStackConfig` at its top level (``env``, ``num_envs``, ``device``, ``stack``,
``transforms``, ``gaze``, ``reward_norm``, ``oracle``) beside ``model``, ``algo``, ``logger`` and the run's
own settings. PPO and SAC share everything here and differ only in their ``algo`` object.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torchrl.collectors import Collector
from torchrl.envs import TransformedEnv

from bikkle_rl.algorithms import Algorithm
from bikkle_rl.algorithms.greedy_guide import GreedyGuide
from bikkle_rl.algorithms.optim import quiet_compile
from bikkle_rl.algorithms.ppo import PPO, PPOConfig
from bikkle_rl.algorithms.sac import SAC, SACConfig
from bikkle_rl.checkpoint import (
    CheckpointError,
    capture_rng_state,
    load_buffer_snapshot,
    load_checkpoint,
    load_state,
    restore_rng_state,
    save_buffer_snapshot,
)
from bikkle_rl.envs.stack import EnvStackConfig, make_env
from bikkle_rl.envs.transforms import RewardNormalization
from bikkle_rl.fused_collector import FusedCollector, whole_batches
from bikkle_rl.modules import ModelConfig, algorithm_model_config, gaze_parameters, make_networks
from bikkle_rl.plain_config import plain_config

ENV_STACK_KEYS = tuple(f.name for f in dataclasses.fields(EnvStackConfig))
CHECKPOINT_KEYS = ("algo", "transforms", "frames", "iterations", "rng", "config")


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:1``... or ``auto`` (CUDA when available)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={name!r} but CUDA is not available; use device=cpu or device=auto")
    return device


def env_stack(cfg: Any, **overrides: Any) -> dict:
    """The env-stack part of a run config (what :func:`make_env` reads), with overrides applied."""
    plain = plain_config(cfg)
    return {**{key: plain[key] for key in ENV_STACK_KEYS if key in plain}, **overrides}


def make_train_env(cfg: Any, device: torch.device, seed: int) -> TransformedEnv:
    return make_env(env_stack(cfg, device=str(device)), seed=seed)


def cudagraphs_available(requested: bool, device: torch.device) -> bool:
    """CUDA graphs only run on CUDA: on other devices a request warns and falls back to eager."""
    if requested and device.type != "cuda":
        warnings.warn(f"cudagraphs=true needs a CUDA device, got {device}; running eagerly", stacklevel=2)
        return False
    return requested


def freeze_non_gaze(*networks: torch.nn.Module) -> None:
    """Freezes every parameter of ``networks`` except their ``gaze_parameters`` (a gaze-only fine-tune).

    Frozen parameters get ``requires_grad=False``: optimizers built afterwards leave them out, so they stay
    bit-identical through training.
    """
    keep = {id(parameter) for network in networks for parameter in gaze_parameters(network)}
    if not keep:
        raise ValueError("freeze_non_gaze=true but the networks have no gaze parameters (train with a gaze config)")
    for network in networks:
        for parameter in network.parameters():
            parameter.requires_grad_(id(parameter) in keep)


def built_model_config(cfg: Any) -> ModelConfig:
    """The model config a run's networks are built with: its ``model`` with the fields its algorithm fixes
    (:func:`~bikkle_rl.modules.algorithm_model_config`). Checkpoints store it as ``model``."""
    plain = plain_config(cfg)
    return algorithm_model_config(ModelConfig(**plain["model"]), plain["algo"].get("name"))


def make_algorithm(cfg: Any, env: TransformedEnv, device: torch.device) -> Algorithm:
    """The training algorithm (PPO or SAC), handed fresh networks for ``env`` on ``device``
    (:func:`~bikkle_rl.modules.make_networks`).

    ``freeze_non_gaze: true`` (PPO only) trains only the gaze parameters of actor and critic.
    """
    plain = plain_config(cfg)
    model_cfg = ModelConfig(**plain["model"])
    algo_cfg = dict(plain["algo"])
    name = algo_cfg.get("name")
    cudagraphs = cudagraphs_available(plain.get("cudagraphs", False), device)
    compiled = plain.get("compile", False)
    freeze = plain.get("freeze_non_gaze", False)
    if freeze and name != "ppo":
        raise ValueError(f"freeze_non_gaze=true needs algo.name='ppo', got {name!r}")
    if name == "ppo" and cudagraphs and not compiled and model_cfg.distribution != "tanh_normal":
        raise ValueError(f"cudagraphs=true with compile=false needs model.distribution=tanh_normal under PPO, got "
                         f"{model_cfg.distribution!r}: ClipPPOLoss checks a Gaussian's analytic entropy for NaN on "
                         "the host, which a CUDA graph cannot capture (compile=true skips that check)")
    actor, critics = make_networks(model_cfg, env, name, device)
    if freeze:
        freeze_non_gaze(actor, *critics)
    if name == "ppo":
        (critic,) = critics
        ppo_cfg = PPOConfig(**algo_cfg)
        guide = GreedyGuide(env.base_env.config) if ppo_cfg.guided else None
        return PPO(ppo_cfg, actor, critic, compile=compiled, cudagraphs=cudagraphs, guide=guide)
    return SAC(SACConfig(**algo_cfg), actor, critics, compile=compiled, cudagraphs=cudagraphs)


def make_collector(cfg: Any, env: TransformedEnv, algo: Algorithm, total_frames: int,
                   device: torch.device) -> Collector | FusedCollector:
    """A torchrl ``Collector`` stepping the batched env in-process on the training device, or with
    ``collector: fused`` a :class:`~bikkle_rl.fused_collector.FusedCollector` (the same batches, each env step one
    compiled function when ``compile`` is on; on CUDA with ``cudagraphs`` its steps replay as CUDA graphs).

    ``total_frames`` is rounded up to whole batches (a run ends after the batch that reaches its budget); -1
    collects without end (throughput benchmarks). Any other value below 1 is an error: torchrl would read a
    negative budget as endless. SAC's ``init_random_frames`` are rounded up to whole batches too, as torchrl
    collects them (it would warn).
    """
    plain = plain_config(cfg)
    frames_per_batch = env.batch_size.numel() * int(plain["algo"]["frames_per_env"])
    if total_frames != -1 and total_frames < 1:
        raise ValueError(f"the collector needs a frame budget >= 1 (or -1: endless), got {total_frames}")
    compile_policy = {"fullgraph": False} if plain.get("compile", False) else None
    if compile_policy:
        quiet_compile()
    cudagraph_policy = cudagraphs_available(plain.get("cudagraphs", False), device) or None
    if plain.get("collector", "torchrl") == "fused":
        return FusedCollector(env, algo.collection_policy, frames_per_batch, total_frames=total_frames,
                              init_random_frames=algo.init_random_frames, compile=bool(compile_policy),
                              compile_options={"mode": "reduce-overhead"} if cudagraph_policy else None)
    return Collector(
        env,
        algo.collection_policy,
        frames_per_batch=frames_per_batch,
        total_frames=total_frames if total_frames == -1 else whole_batches(total_frames, frames_per_batch),
        device=device,
        init_random_frames=whole_batches(algo.init_random_frames, frames_per_batch) or None,
        compile_policy=compile_policy,
        cudagraph_policy=cudagraph_policy,
    )


def reward_normalizer(env: TransformedEnv) -> RewardNormalization | None:
    """The env's reward normaliser, if its stack has one."""
    found = [t for t in env.transform if isinstance(t, RewardNormalization)]
    return found[0] if found else None


def checkpoint_payload(cfg: Any, algo: Algorithm, env: TransformedEnv, frames: int, iterations: int,
                       curve: list[dict] = ()) -> dict:
    """Everything a resumed run needs: networks, optimizers, env-transform statistics, counters, RNGs, config,
    the model config the networks were built with (what :func:`~bikkle_rl.agent_io.load_agent` rebuilds the
    actor from), and the learning curve so far (its ``LearningCurve.rows``).

    With ``algo.save_buffer`` the replay buffer is written now to a snapshot under ``algo.buffer_dir``, and
    ``buffer`` names it (:func:`~bikkle_rl.checkpoint.save_buffer_snapshot`); else ``buffer`` is None.
    """
    plain = plain_config(cfg)
    save_buffer = algo.buffer is not None and plain["algo"].get("save_buffer", False)
    return {
        "algo": algo.state_dict(),
        "buffer": save_buffer_snapshot(algo.buffer, plain["algo"]["buffer_dir"], frames) if save_buffer else None,
        "transforms": env.transform.state_dict(),
        "frames": frames,
        "iterations": iterations,
        "rng": capture_rng_state({"env": env.base_env.rng}),
        "config": plain,
        "model": dataclasses.asdict(built_model_config(plain)),
        "curve": list(curve),
    }


class ResumePoint(NamedTuple):
    """Where a resumed run stands: steps and updates done, and its learning curve so far."""

    frames: int
    iterations: int
    curve: list[dict]


def load_run_checkpoint(path: str | Path) -> dict:
    """A training checkpoint (:func:`checkpoint_payload`), checked to hold everything a resume needs."""
    return load_checkpoint(path, expected=dict.fromkeys(CHECKPOINT_KEYS))


def resume_from(path: str | Path, algo: Algorithm, env: TransformedEnv, payload: dict | None = None) -> ResumePoint:
    """Restores a run's checkpoint into ``algo`` and ``env``, its replay-buffer snapshot too if it names one;
    returns where the run stands.

    ``payload``: the checkpoint at ``path`` if already loaded. Episodes in flight at the checkpoint are not
    restored: the env starts fresh episodes. A checkpoint written before curves were saved resumes with an empty
    curve.
    """
    payload = load_run_checkpoint(path) if payload is None else payload
    load_state(algo, payload["algo"], path, "algo")
    # checkpoints written before the snapshot had its own entry name it inside the algorithm's state
    snapshot = payload.get("buffer", payload["algo"].get("buffer"))
    if snapshot is not None:
        load_buffer_snapshot(algo.buffer, snapshot)
    load_state(env.transform, payload["transforms"], path, "transforms")
    restore_rng_state(payload["rng"], {"env": env.base_env.rng})
    return ResumePoint(int(payload["frames"]), int(payload["iterations"]), list(payload.get("curve", [])))


def init_weights_from(path: str | Path, algo: Algorithm) -> None:
    """Starts a new run from a checkpoint's network weights (optimizer and counters start fresh)."""
    payload = load_checkpoint(path, expected={"algo": None})
    try:
        algo.load_weights(payload["algo"])
    except (RuntimeError, KeyError) as error:
        raise CheckpointError(f"checkpoint {str(path)!r}: weights do not fit this model: {error}") from error
