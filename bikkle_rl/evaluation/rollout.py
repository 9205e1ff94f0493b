"""Batched evaluation: one episode per arena of a batched env, all arenas stepped together."""

from __future__ import annotations

import math

import torch
from tensordict import TensorDictBase
from tensordict.nn import TensorDictModuleBase
from torchrl.envs import EnvBase
from torchrl.envs.utils import ExplorationType, set_exploration_type

from bikkle_rl.envs.stack import make_env
from bikkle_rl.evaluation.behaviour import TERMS, movement_figures, movement_terms
from bikkle_rl.evaluation.protocols import evaluation_stack

EVENT_NAMES = ("pink", "blue", "high_value")
"""Per-step touch counts under ``("next", "events", name)``, summed per episode when the env reports them."""

RAW_REWARD_KEY = "raw_reward"
"""Summed instead of ``reward`` when present, so that reward scaling or shaping never leaks into results."""

EPISODE_PHASES = ((0, 20), (20, 100), (100, None))
"""Step ranges of an episode for diagnostics of trust in gaze: its first looks, before rewards can have shown how
far they deserve it; the middle; the rest."""

GAZE_SCENARIOS = ("correlated", "realistic", "uniform", "none")
"""The gaze scenarios the trust targets are read on."""

MOVEMENT_PREFIX = "movement/"
"""Per-episode sums of the movement terms (:mod:`bikkle_rl.evaluation.behaviour`) are returned under this prefix."""


def raw_reward(step: TensorDictBase) -> torch.Tensor:
    """A step's ``("next", ...)`` reward as results count it: :data:`RAW_REWARD_KEY` where the stack scales or
    shapes the reward, else ``reward``."""
    reward = step.get(RAW_REWARD_KEY, None)
    return step["reward"] if reward is None else reward


def accumulate(totals: dict[str, torch.Tensor], transition: TensorDictBase, active: torch.Tensor,
               max_speed: float | None = None) -> None:
    """Adds one transition's raw reward, touch counts and length to ``totals`` for the ``active`` [N] arenas,
    and its movement terms when given the arena's ``max_speed``."""
    step = transition["next"]
    totals["return"] += raw_reward(step).reshape(-1) * active
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


def gaze_cases(biases: tuple[float, ...] = ()) -> list[tuple[str, str, dict]]:
    """``(label, scenario, gaze overrides)`` for each of :data:`GAZE_SCENARIOS`, then realistic gaze at each
    high-value bias (the share of fixations on the high-value pellet; 1/6 is chance among six pellets)."""
    cases = [(scenario, scenario, {}) for scenario in GAZE_SCENARIOS]
    return cases + [(f"realistic, bias {bias}", "realistic", {"high_value_bias": bias}) for bias in biases]


def phase_label(phase: tuple[int, int | None]) -> str:
    """``steps 0-19`` for ``(0, 20)``, ``steps 100-end`` for ``(100, None)``."""
    start, end = phase
    return f"steps {start}-{end - 1 if end else 'end'}"


@torch.no_grad()
def record_scenario(policy: TensorDictModuleBase, train_stack: dict, protocol: str, scenario: str, arenas: int,
                    seed: int, gaze: dict | None = None) -> TensorDictBase:
    """One whole episode in each of ``arenas`` arenas of a protocol's gaze scenario, recorded step by step
    ([arenas, max_steps]), the policy acting with its mean action; ``gaze`` overrides the scenario's gaze
    settings (e.g. ``{"high_value_bias": 0.3}``). For diagnostics that need more than per-episode totals."""
    stack = evaluation_stack(train_stack, protocol, scenario, arenas)
    env = make_env({**stack, "device": "cpu", "gaze": {**stack["gaze"], **(gaze or {})}}, seed=seed)
    with set_exploration_type(ExplorationType.DETERMINISTIC):
        return env.rollout(env.base_env.config.max_steps, policy, break_when_any_done=False)
