"""Every policy on every gaze scenario: the cells of an evaluation table, run as batched episodes from the same
seeded layouts, and their returns and summaries. :mod:`bikkle_rl.evaluation.report` writes them to files."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from tensordict.nn import TensorDictModuleBase
from torchrl.envs import TransformedEnv

from bikkle_rl.envs.stack import make_env
from bikkle_rl.evaluation.protocols import evaluation_stack
from bikkle_rl.evaluation.rollout import evaluate_policy
from bikkle_rl.evaluation.stats import summarize
from bikkle_rl.policies import make_reference_policy

PolicyFactory = Callable[[TransformedEnv], TensorDictModuleBase]
"""Builds the policy to evaluate on a given env (reference policies need the env's config; the memory of
``greedy-gaze`` must start fresh for every scenario)."""


def reference_factory(name: str) -> PolicyFactory:
    """A scripted reference policy (``random``, ``greedy``, ``greedy-gaze``) as a factory."""
    return lambda env: make_reference_policy(name, env.base_env.config, generator=torch.Generator().manual_seed(0))


Returns = dict[str, dict[str, torch.Tensor]]
"""Per-episode returns [E] of an evaluation: ``{scenario: {policy: returns}}``."""

Cells = dict[str, dict[str, dict[str, torch.Tensor]]]
"""Everything :func:`~bikkle_rl.evaluation.evaluate_policy` returns, per cell: ``{scenario: {policy: results}}``."""


def evaluate_cells(policies: Mapping[str, PolicyFactory], train_stack: dict, protocol: str, scenarios: list[str],
                   episodes: int, seed: int, device: str = "cpu", deterministic: bool = True,
                   movement: bool = False) -> Cells:
    """Every policy on every scenario, ``episodes`` batched episodes each, from the same seeded layouts."""
    cells: Cells = {}
    for scenario in scenarios:
        stack = {**evaluation_stack(train_stack, protocol, scenario, episodes), "device": device}
        cells[scenario] = {}
        for name, factory in policies.items():
            env = make_env(stack, seed=seed)
            cells[scenario][name] = evaluate_policy(factory(env), env, deterministic=deterministic,
                                                    movement=movement)
    return cells


def returns_of(cells: Cells) -> Returns:
    """The per-episode returns of every cell."""
    return {scenario: {name: results["return"] for name, results in row.items()} for scenario, row in cells.items()}


def evaluate_returns(policies: Mapping[str, PolicyFactory], train_stack: dict, protocol: str, scenarios: list[str],
                     episodes: int, seed: int, device: str = "cpu", deterministic: bool = True) -> Returns:
    """:func:`evaluate_cells`, returns only."""
    return returns_of(evaluate_cells(policies, train_stack, protocol, scenarios, episodes, seed, device,
                                     deterministic))


def summarize_returns(returns: Returns, seed: int) -> dict[str, dict[str, dict]]:
    """``{scenario: {policy: summary}}`` (see :func:`~bikkle_rl.evaluation.summarize`)."""
    return {scenario: {name: summarize(values, generator=torch.Generator().manual_seed(seed))
                       for name, values in row.items()} for scenario, row in returns.items()}


def evaluate_table(policies: Mapping[str, PolicyFactory], train_stack: dict, protocol: str,
                   scenarios: list[str], episodes: int, seed: int, device: str = "cpu") -> dict:
    """``{scenario: {policy: summary}}``: every policy on every scenario, ``episodes`` batched episodes each."""
    returns = evaluate_returns(policies, train_stack, protocol, scenarios, episodes, seed, device)
    return summarize_returns(returns, seed)
