"""An evaluation's results (:mod:`bikkle_rl.evaluation.cells`) written as eval.json, a bar chart, a table that says
what its numbers are, and videos with a legend."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from tensordict import TensorDictBase
from torchrl.envs.utils import ExplorationType, set_exploration_type

from bikkle_rl.atomic_write import write_json
from bikkle_rl.envs import BikkleConfig, save_video
from bikkle_rl.envs.stack import make_env
from bikkle_rl.envs.video import LEGEND, LegendEntry, with_legend
from bikkle_rl.evaluation.cells import PolicyFactory
from bikkle_rl.evaluation.protocols import (
    EVALUATION_ARENA,
    FITTED_PREFIX,
    PROTOCOLS,
    REPLAY_PREFIXES,
    SELF_TIMED_SOURCES,
    scenario_label,
)
from bikkle_rl.evaluation.stats import CONFIDENCE, NUM_RESAMPLES
from bikkle_rl.gaze import CorrelatedGaze


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
    fig_width = max(4.5, 1.8 + 1.6 * len(scenarios))
    fig, ax = plt.subplots(figsize=(fig_width, 3.6), layout="constrained")
    for i, policy in enumerate(policies):
        means = [results[s][policy]["mean"] for s in scenarios]
        errors = [[m - results[s][policy]["ci_low"] for s, m in zip(scenarios, means)],
                  [results[s][policy]["ci_high"] - m for s, m in zip(scenarios, means)]]
        xs = [j + (i - (len(policies) - 1) / 2) * width for j in range(len(scenarios))]
        ax.bar(xs, means, width, yerr=errors, capsize=3, label=policy)
    labels = [textwrap.fill(scenario_label(scenario), width=18) for scenario in scenarios]  # recordings: file names
    ax.set_xticks(range(len(scenarios)), labels)
    ax.set_ylabel("average return (95 % CI)")
    ax.set_title(textwrap.fill(title, width=int(9 * fig_width)))  # a long title wraps instead of being cut
    ax.axhline(0, color="black", linewidth=0.5)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


SCENARIO_MEANINGS = {
    "correlated": f"gaze points at the high-value pellet (a Gaussian around it, std {CorrelatedGaze().std} "
                  "arena units)",
    "uniform": "gaze is a uniform point in the arena, independent of everything: same timing as `correlated`, "
               "no information",
    "none": "no gaze: it is invalid on every step, so no policy is given a gaze point",
    "oracle": "gaze is exactly the high-value pellet on every step: the most gaze can tell",
    "realistic": "a simulated webcam tracker: fixations and saccades biased toward the high-value pellet, noise, "
                 "latency and dropouts",
}
REPLAY_MEANINGS = {
    "step": "a person's recorded gaze points, replayed step by step on the same seeds (open loop)",
    "pellet": "a person's recorded looks, replayed on the pellets in the same roles (closed loop)",
}
PREFIXED_SCENARIO_MEANINGS = {
    **{prefix: REPLAY_MEANINGS[options["align"]] for prefix, options in REPLAY_PREFIXES.items()},
    FITTED_PREFIX: "a gaze model fitted to a person's recordings, simulated",
}
"""Scenario prefix (``replay:PATH``...) -> what its gaze is."""
SINGLE_PINK_NOTE = ("the high-value pellet is always that pink, which every policy sees: gaze carries no "
                    "information here. Differences between scenarios are not a value of gaze: within their CIs they "
                    "are noise, beyond them a policy reacting to an uninformative input. Protocol `gaze-value` "
                    "(several pinks) measures what gaze is worth.")
"""Follows "With a single pink pellet": why scenarios cannot differ by what gaze tells under such a protocol."""


def percent(fraction: float) -> str:
    """``0.025`` -> ``"2.5 %"``."""
    return f"{100 * fraction:g} %"


def describe_scenario(scenario: str, p_valid: float | None) -> str:
    """What the gaze of ``scenario`` is; ``p_valid`` is the protocol's share of steps with valid gaze."""
    prefix = next((prefix for prefix in PREFIXED_SCENARIO_MEANINGS if scenario.startswith(prefix)), None)
    if prefix is not None:
        return f"{PREFIXED_SCENARIO_MEANINGS[prefix]}, with its own dropouts"
    meaning = SCENARIO_MEANINGS.get(scenario, "a gaze scenario this report does not describe")
    if scenario in SCENARIO_MEANINGS and scenario not in (*SELF_TIMED_SOURCES, "none") and p_valid is not None:
        meaning += f"; valid on {percent(p_valid)} of steps"
    return meaning


def describe_protocol(protocol: str | None) -> list[str]:
    """The arena of ``protocol`` and, with a single pink pellet, why gaze carries no information there."""
    if protocol not in PROTOCOLS:
        named = "not recorded" if protocol is None else f"`{protocol}`"
        return [f"Protocol: {named}. If it has a single pink pellet (as protocol `seed`), {SINGLE_PINK_NOTE}"]
    arena = PROTOCOLS[protocol]["env"]
    pellets = ("the training arena's pellets" if arena is None
               else f"{arena['num_pink']} pink + {arena['num_blue']} blue pellets")
    arena_line = (f"Protocol `{protocol}`: {pellets}, {EVALUATION_ARENA['episode_mode']} episodes of "
                  f"{EVALUATION_ARENA['max_steps']} steps, unshaped reward.")
    lines = [arena_line]
    if arena is not None and arena["num_pink"] == 1:
        lines += ["", f"With a single pink pellet {SINGLE_PINK_NOTE}"]
    return lines


def describe_results(results: Mapping[str, Mapping[str, Mapping]], protocol: str | None = None) -> str:
    """Markdown saying what the table's numbers are: statistic and CI, episodes per cell, scenarios, protocol."""
    tail = (1 - CONFIDENCE) / 2
    statistic = (f"Each cell: the mean undiscounted return over its episodes [{percent(CONFIDENCE)} CI]. The CI is a "
                 f"percentile bootstrap of the mean: the episodes are resampled with replacement {NUM_RESAMPLES} "
                 f"times and the interval spans the {percent(tail)} to {percent(1 - tail)} quantiles of the "
                 "resampled means.")
    lines = [statistic, ""]
    episodes = {(scenario, policy): summary.get("episodes") for scenario, row in results.items()
                for policy, summary in row.items()}
    if len(set(episodes.values())) == 1:
        lines.append(f"Episodes per cell: {next(iter(episodes.values()))}.")
    else:
        lines.append("Episodes per cell: " + ", ".join(f"{scenario} / {policy}: {count}"
                                                      for (scenario, policy), count in episodes.items()) + ".")
    p_valid = PROTOCOLS[protocol]["p_valid"] if protocol in PROTOCOLS else None
    lines += ["", "Scenarios (the gaze every policy is given):", ""]
    lines += [f"- `{scenario}`: {describe_scenario(scenario, p_valid)}." for scenario in results]
    lines += ["", *describe_protocol(protocol)]
    return "\n".join(lines) + "\n"


def write_report(results: Mapping, out_dir: str | Path, title: str, extra: Mapping | None = None,
                 protocol: str | None = None, config: Mapping | None = None) -> dict[str, Path]:
    """Writes ``eval.json`` (results, ``extra``, ``protocol`` and ``config``), ``eval.md`` (the table and what its
    numbers are, see :func:`describe_results`) and ``eval.png`` (the bars).

    ``protocol`` (else ``extra["protocol"]``) names the evaluation protocol, described in ``eval.md``. ``config``,
    the evaluated agent's run config, lets ``bikkle-aggregate`` tell which runs are comparable even once the
    checkpoint is gone.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "eval.json", "table": out_dir / "eval.md", "plot": out_dir / "eval.png"}
    protocol = protocol or (extra or {}).get("protocol")
    stated = {"protocol": protocol, "config": None if config is None else dict(config)}
    write_json(paths["json"], {"title": title, "results": results, **(extra or {}),
                               **{key: value for key, value in stated.items() if value is not None}})
    paths["table"].write_text(f"# {title}\n\n{format_table(results)}\n\n{describe_results(results, protocol)}")
    plot_bars(results, paths["plot"], title)
    return paths


FrameOverlay = Callable[[TensorDictBase, torch.Tensor, BikkleConfig], torch.Tensor]
"""``overlay(observation, frames, config) -> frames``: draws on the frames uint8 [N, H, W, 3] of the arenas (of
``config``) what the policy makes of ``observation`` [N], the observation it acts on in those frames."""


@torch.no_grad()
def record_video(policy_factory: PolicyFactory, stack: dict, path: str | Path, seed: int, arenas: int = 4,
                 size: int = 128, fps: float = 20.0, overlay: FrameOverlay | None = None,
                 legend: Sequence[LegendEntry] = LEGEND) -> Path:
    """An MP4 of ``arenas`` episodes side by side in the human view (high-value pellet green, gaze cross), with
    the strip of ``legend`` (:func:`~bikkle_rl.envs.video.with_legend`) below them; ``overlay`` draws on each
    frame before the arenas are laid side by side (its glyphs belong in ``legend``)."""
    env = make_env({**stack, "num_envs": arenas}, seed=seed)
    policy = policy_factory(env)
    td = env.reset()
    frames = []
    with set_exploration_type(ExplorationType.DETERMINISTIC):
        for _ in range(env.base_env.config.max_steps):
            gaze = td.get("gaze", None)
            valid = td.get("gaze_valid", None)
            view = env.base_env.render(mode="human", size=size, gaze=gaze, gaze_valid=valid)
            if overlay is not None:
                view = overlay(td, view, env.base_env.config)
            frames.append(torch.cat(list(view), dim=1))  # arenas side by side
            td = env.step(policy(td))
            if td["next", "done"].all():
                break
            td = env.step_mdp(td)
    return save_video(with_legend(torch.stack(frames), legend), path, fps=fps)
