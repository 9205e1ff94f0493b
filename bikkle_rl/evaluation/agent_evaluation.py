"""A trained agent's evaluation from its checkpoint, beside the reference policies, on a protocol's gaze scenarios.

The story of an evaluation (``bikkle-eval``, :mod:`bikkle_rl.recipes.evaluate`): load the agent (and an oracle
agent if given) from its checkpoint, run every policy on every scenario as one batched env from the same seeded
layouts, summarise each cell (mean, std, 95 % bootstrap CI) and how each policy moves (progress toward pinks near,
around and clear of blues, summed while the same episodes run), state the value of gaze when the scenarios allow,
and write eval.json, eval.md, eval.png and a video per scenario, with ``video=attention`` also one with the agent's
attention drawn (:mod:`bikkle_rl.evaluation.attention_video`; see ``bikkle_rl/conf/evaluate.yaml``). With
``pool_earlier`` the run's earlier checkpoints add their episodes to every cell (:mod:`bikkle_rl.evaluation.pooling`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from omegaconf import DictConfig
from torch import nn

from bikkle_rl.agent_io import load_agent
from bikkle_rl.evaluation.attention_video import ATTENTION_LEGEND, AttentionOverlay
from bikkle_rl.evaluation.cells import (
    Cells,
    evaluate_cells,
    reference_factory,
    returns_of,
    summarize_returns,
)
from bikkle_rl.evaluation.gaze_value import format_gaze_value, gaze_value_from_returns
from bikkle_rl.evaluation.pooling import (
    earlier_checkpoints,
    format_pooled_parts,
    pool_cells,
    pooled_parts,
    pooled_seed,
)
from bikkle_rl.evaluation.protocols import evaluation_stack, scenario_label
from bikkle_rl.evaluation.report import record_video, write_report
from bikkle_rl.evaluation.rollout import episode_movement
from bikkle_rl.experiment import env_stack, resolve_device
from bikkle_rl.run_config import ConfigError, check_evaluate_config


def merge_cells(first: Cells, second: Cells) -> Cells:
    """The cells of both evaluations (same scenarios, different policies)."""
    return {scenario: {**first[scenario], **second.get(scenario, {})} for scenario in first}


def movement_table(cells: Cells) -> tuple[dict[str, dict[str, dict[str, float]]], str]:
    """Each cell's movement figures (:mod:`bikkle_rl.evaluation.behaviour`), ``{scenario: {policy: figures}}``,
    and their markdown table."""
    figures = {scenario: {name: episode_movement(results) for name, results in row.items()}
               for scenario, row in cells.items()}
    columns = list(next(iter(next(iter(figures.values())).values())))
    lines = ["\nMovement (progress: Chebyshev distance to the nearest pink covered per step, in max-speed units):\n",
             "| scenario | policy | " + " | ".join(columns) + " |", "|---|---|" + "---|" * len(columns)]
    lines += [f"| {scenario} | {name} | " + " | ".join(f"{row[c]:.3f}" for c in columns) + " |"
              for scenario, by_policy in figures.items() for name, row in by_policy.items()]
    return figures, "\n".join(lines) + "\n"


def attention_overlay(actor: nn.Module, run_config: Mapping) -> AttentionOverlay:
    """The attention overlay of ``video=attention`` for ``actor``; a :class:`ConfigError` naming the model when the
    agent has no token transformer, before anything is evaluated."""
    try:
        return AttentionOverlay(actor)
    except ValueError as error:
        model = run_config.get("model", {}).get("encoder", "?")
        raise ConfigError(f"video='attention': the agent's model is {model!r}: {error}") from None


def pooled_actor(path: Path, stack: dict, device: torch.device) -> nn.Module:
    """The actor of an earlier checkpoint of the run being evaluated; a :class:`ConfigError` naming it when its
    run's arena differs (a run continued with other settings: its episodes would not be the same cells)."""
    actor, run_config = load_agent(path, device)
    if env_stack(run_config) != stack:
        raise ConfigError(f"pool_earlier: {str(path)!r} was trained on another arena or gaze than the checkpoint "
                          "evaluated; evaluate it on its own")
    return actor


def run_evaluation(cfg: DictConfig) -> dict:
    """Evaluates as configured and writes the report into ``cfg.out_dir``; returns results and paths.

    The config is checked first (:func:`~bikkle_rl.run_config.check_evaluate_config`): a bad value fails before
    anything runs, naming its field. With ``pool_earlier`` the cells pool the episodes of the checkpoint and of that
    many earlier ones of its run, each on layouts of its own (:mod:`bikkle_rl.evaluation.pooling`)."""
    check_evaluate_config(cfg)
    deterministic, movement, video = cfg.deterministic, cfg.movement, cfg.video
    device = resolve_device(cfg.device)
    if device.type == "cpu":
        torch.set_num_threads(cfg.cpu_threads)
    scenarios = list(cfg.scenarios)
    pooled = earlier_checkpoints(cfg.checkpoint, cfg.pool_earlier)
    actor, run_config = load_agent(cfg.checkpoint, device)
    attention = attention_overlay(actor, run_config) if video == "attention" else None
    stack = env_stack(run_config)
    references = {name: reference_factory(name) for name in cfg.references}
    oracle = load_agent(cfg.oracle_checkpoint, device) if cfg.oracle_checkpoint else None

    def checkpoint_cells(agent: nn.Module, seed: int) -> Cells:
        cells = evaluate_cells({"agent": lambda env: agent, **references}, stack, cfg.protocol, scenarios,
                               cfg.episodes, seed, str(device), deterministic, movement)
        if oracle is None:
            return cells
        oracle_actor, oracle_config = oracle
        return merge_cells(cells, evaluate_cells({"oracle": lambda env: oracle_actor}, env_stack(oracle_config),
                                                 cfg.protocol, scenarios, cfg.episodes, seed, str(device),
                                                 deterministic, movement))

    parts = [checkpoint_cells(actor, cfg.seed)]
    parts += [checkpoint_cells(pooled_actor(path, stack, device), pooled_seed(cfg.seed, index))
              for index, path in enumerate(pooled, start=1)]
    cells = pool_cells(parts)
    returns = returns_of(cells)
    results = summarize_returns(returns, cfg.seed)
    gaze_value = gaze_value_from_returns(returns, oracle="oracle" if cfg.oracle_checkpoint else None,
                                         generator=torch.Generator().manual_seed(cfg.seed))

    out_dir = Path(cfg.out_dir)
    model = run_config.get("model", {}).get("encoder", "?")
    title = f"{Path(cfg.checkpoint).name} ({model}), protocol {cfg.protocol}"
    title += f", pooled with {len(pooled)} earlier checkpoints" if pooled else ""
    figures, movement_md = movement_table(cells) if movement else (None, "")
    extra = {"checkpoint": str(cfg.checkpoint), "oracle_checkpoint": cfg.oracle_checkpoint,
             "protocol": cfg.protocol, "seed": cfg.seed, "deterministic": deterministic,
             "gaze_value": gaze_value, "movement": figures,
             "pooled": pooled_parts([cfg.checkpoint, *pooled], parts, cfg.seed) if pooled else []}
    paths = write_report(results, out_dir, title, extra, config=run_config)
    with paths["table"].open("a") as table:
        if gaze_value is not None:
            table.write(f"\n```\n{format_gaze_value(gaze_value)}\n```\n")
        table.write(movement_md)
        table.write(format_pooled_parts(extra["pooled"]))
    if video:
        for scenario in scenarios:
            video_stack = {**evaluation_stack(stack, cfg.protocol, scenario, num_envs=4), "device": str(device)}
            label = scenario_label(scenario)
            paths[f"video_{scenario}"] = record_video(lambda env: actor, video_stack, out_dir / f"agent_{label}.mp4",
                                                      seed=cfg.seed)
            if attention is not None:
                paths[f"attention_video_{scenario}"] = record_video(
                    lambda env: actor, video_stack, out_dir / f"agent_attention_{label}.mp4", seed=cfg.seed,
                    overlay=attention, legend=ATTENTION_LEGEND)
    print(paths["table"].read_text())
    return {"returns": returns, "results": results, "gaze_value": gaze_value, "movement": figures,
            "pooled": extra["pooled"], "paths": paths}
