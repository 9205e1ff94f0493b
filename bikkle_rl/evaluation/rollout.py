"""Batched evaluation: one episode per arena of a batched env, all arenas stepped together."""

from __future__ import annotations

import math

import torch
from tensordict import TensorDictBase
from tensordict.nn import TensorDictModuleBase
from torchrl.envs import EnvBase
from torchrl.envs.utils import ExplorationType, set_exploration_type

from bikkle_rl.evaluation.behaviour import TERMS, movement_figures, movement_terms

EVENT_NAMES = ("pink", "blue", "high_value")
"""Per-step touch counts under ``("next", "events", name)``, summed per episode when the env reports them."""

RAW_REWARD_KEY = "raw_reward"
"""Summed instead of ``reward`` when present, so that reward scaling or shaping never leaks into results."""

MOVEMENT_PREFIX = "movement/"
"""Per-episode sums of the movement terms (:mod:`bikkle_rl.evaluation.behaviour`) are returned under this prefix."""


def accumulate(totals: dict[str, torch.Tensor], transition: TensorDictBase, active: torch.Tensor,
               max_speed: float | None = None) -> None:
    """Adds one transition's raw reward, touch counts and length to ``totals`` for the ``active`` [N] arenas,
    and its movement terms when given the arena's ``max_speed``."""
    step = transition["next"]
    reward = step.get(RAW_REWARD_KEY, None)
    if reward is None:
        reward = step["reward"]
    totals["return"] += reward.reshape(-1) * active
    totals["length"] += active
    for name in EVENT_NAMES:
        if ("events", name) in step.keys(include_nested=True):
            totals.setdefault(name, torch.zeros_like(totals["length"]))
            totals[name] += step["events", name].reshape(-1) * active
    if max_speed is not None:
        for name, value in movement_terms(transition, max_speed).items():
            totals.setdefault(MOVEMENT_PREFIX + name, torch.zeros_like(totals["return"]))
            totals[MOVEMENT_PREFIX + name] += value.reshape(-1) * active


def run_batch(policy: TensorDictModuleBase, env: EnvBase, movement: bool = False) -> dict[str, torch.Tensor]:
    """One episode in each of the env's arenas; returns per-arena totals ([N] tensors on the env's device).

    Arenas whose episode is done keep stepping (the env is batch-locked) but stop counting. Under ``movement``
    the totals include the movement terms (the env must be a BikkleEnv-based stack).
    """
    tensordict = env.reset()
    max_speed = env.base_env.config.max_speed if movement else None
    num_arenas = tensordict.batch_size.numel()
    active = torch.ones(num_arenas, dtype=torch.bool, device=env.device)
    totals = {
        "return": torch.zeros(num_arenas, device=env.device),
        "length": torch.zeros(num_arenas, dtype=torch.long, device=env.device),
    }
    while True:
        tensordict = env.step(policy(tensordict))
        accumulate(totals, tensordict, active, max_speed)
        active = active & ~tensordict["next", "done"].reshape(-1)
        if not active.any():
            return totals
        tensordict = env.step_mdp(tensordict)


@torch.no_grad()
def evaluate_policy(policy: TensorDictModuleBase, env: EnvBase, num_episodes: int | None = None,
                    deterministic: bool = True, movement: bool = False) -> dict[str, torch.Tensor]:
    """Runs ``num_episodes`` episodes of ``policy`` on ``env`` and returns per-episode results on CPU.

    The env's batch holds the episodes that run together: ``num_episodes`` defaults to its batch size, and a
    larger number runs several batches one after the other (each from a fresh ``env.reset()``). Seed the env
    beforehand for reproducible results. Under ``deterministic`` the policy acts with its mode/mean
    (``ExplorationType.DETERMINISTIC``), else it samples.

    Returns a dict of [E] tensors: ``return`` (undiscounted sum of the raw reward), ``length`` (steps), and
    the touch counts ``pink``, ``blue``, ``high_value`` when the env reports ``("events", ...)``; under
    ``movement`` also each episode's sums of the movement terms, ``movement/<term>`` (see
    :func:`episode_movement`).
    """
    batch = env.batch_size.numel()
    num_episodes = batch if num_episodes is None else int(num_episodes)
    if num_episodes < 1:
        raise ValueError(f"num_episodes must be >= 1, got {num_episodes!r}")
    exploration = ExplorationType.DETERMINISTIC if deterministic else ExplorationType.RANDOM
    batches = []
    with set_exploration_type(exploration):
        for _ in range(math.ceil(num_episodes / batch)):
            batches.append(run_batch(policy, env, movement))
    return {key: torch.cat([b[key] for b in batches])[:num_episodes].cpu() for key in batches[0]}


def episode_movement(results: dict[str, torch.Tensor]) -> dict[str, float]:
    """The movement figures over all episodes of an :func:`evaluate_policy` result taken with ``movement``."""
    return movement_figures({name: results[MOVEMENT_PREFIX + name].sum().item() for name in TERMS})
