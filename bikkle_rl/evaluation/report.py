"""Evaluation tables across policies and gaze scenarios, written as eval.json, a bar chart, a table and videos."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from tensordict.nn import TensorDictModuleBase
from torchrl.envs import TransformedEnv
from torchrl.envs.utils import ExplorationType, set_exploration_type

from bikkle_rl.atomic_write import write_json
from bikkle_rl.envs import save_video
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


def format_table(results: Mapping[str, Mapping[str, Mapping]]) -> str:
    """A Markdown table: one row per scenario, one column per policy, ``mean [95 % CI]``."""
    policies = list(next(iter(results.values())))
    lines = ["| scenario | " + " | ".join(policies) + " |", "|---" * (len(policies) + 1) + "|"]
    for scenario, row in results.items():
        cells = [f"{row[p]['mean']:.2f} [{row[p]['ci_low']:.2f}, {row[p]['ci_high']:.2f}]" for p in policies]
        lines.append(f"| {scenario} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_bars(results: Mapping[str, Mapping[str, Mapping]], path: Path, title: str) -> Path:
    """Grouped bars of mean return per scenario and policy, with 95 % bootstrap CIs as error bars."""
    scenarios = list(results)
    policies = list(next(iter(results.values())))
    width = 0.8 / len(policies)
    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(scenarios), 3.6))
    for i, policy in enumerate(policies):
        means = [results[s][policy]["mean"] for s in scenarios]
        errors = [[m - results[s][policy]["ci_low"] for s, m in zip(scenarios, means)],
                  [results[s][policy]["ci_high"] - m for s, m in zip(scenarios, means)]]
        xs = [j + (i - (len(policies) - 1) / 2) * width for j in range(len(scenarios))]
        ax.bar(xs, means, width, yerr=errors, capsize=3, label=policy)
    ax.set_xticks(range(len(scenarios)), scenarios)
    ax.set_ylabel("average return (95 % CI)")
    ax.set_title(title)
    ax.axhline(0, color="black", linewidth=0.5)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_report(results: Mapping, out_dir: str | Path, title: str, extra: Mapping | None = None) -> dict[str, Path]:
    """Writes ``eval.json`` (results and ``extra``), ``eval.md`` (the table) and ``eval.png`` (the bars)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "eval.json", "table": out_dir / "eval.md", "plot": out_dir / "eval.png"}
    write_json(paths["json"], {"title": title, "results": results, **(extra or {})})
    paths["table"].write_text(f"# {title}\n\n{format_table(results)}\n")
    plot_bars(results, paths["plot"], title)
    return paths


@torch.no_grad()
def record_video(policy_factory: PolicyFactory, stack: dict, path: str | Path, seed: int, arenas: int = 4,
                 size: int = 128, fps: float = 20.0) -> Path:
    """An MP4 of ``arenas`` episodes side by side in the human view (high-value pellet green, gaze cross)."""
    env = make_env({**stack, "num_envs": arenas}, seed=seed)
    policy = policy_factory(env)
    td = env.reset()
    frames = []
    with set_exploration_type(ExplorationType.DETERMINISTIC):
        for _ in range(env.base_env.config.max_steps):
            gaze = td.get("gaze", None)
            valid = td.get("gaze_valid", None)
            view = env.base_env.render(mode="human", size=size, gaze=gaze, gaze_valid=valid)
            frames.append(torch.cat(list(view), dim=1))  # arenas side by side
            td = env.step(policy(td))
            if td["next", "done"].all():
                break
            td = env.step_mdp(td)
    return save_video(torch.stack(frames), path, fps=fps)
