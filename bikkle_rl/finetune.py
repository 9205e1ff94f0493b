"""A gaze fine-tune of a pretrained agent: train only the parameters that read gaze, then evaluate before and after.

The story of a fine-tune (learn the arena first, then learn to read a person's gaze): read the pretrained run's
config from its checkpoint, swap in this run's gaze source, budget and seed (:func:`finetune_config`), and
:func:`~bikkle_rl.training.train` from the checkpoint's weights with every parameter but ``gaze_parameters`` of
actor and critic frozen (``freeze_non_gaze``). Then evaluate the agent before (the checkpoint's weights in the
fine-tune's network, as training starts) and after, beside the reference policies, and write ``report/`` (table,
bars, learning curve, value of gaze). ``bikkle-finetune`` (:mod:`bikkle_rl.recipes.finetune_gaze`) runs
:func:`run_finetune`; the live fine-tune (:mod:`bikkle_rl.human.live_finetune`) trains with
:func:`finetune_config`'s config.

A person's recordings (``gaze=replay``, closed loop by default, or ``gaze=fitted``) make it a fine-tune on that
person's gaze; ``heldout`` recordings (sessions not trained on) then come first among the evaluation scenarios,
replayed closed loop, so "after" is measured on gaze the fine-tune never saw.
"""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from bikkle_rl.agent_io import load_agent
from bikkle_rl.evaluation.cells import PolicyFactory, evaluate_returns, reference_factory, summarize_returns
from bikkle_rl.evaluation.curves import plot_learning_curve
from bikkle_rl.evaluation.gaze_value import format_gaze_value, gaze_value_from_returns
from bikkle_rl.evaluation.protocols import EVALUATION_SEED_OFFSET, held_gaze, replay_scenario, scenario_label
from bikkle_rl.evaluation.report import write_report
from bikkle_rl.experiment import env_stack, resolve_device
from bikkle_rl.modules import ModelConfig
from bikkle_rl.plain_config import plain_config
from bikkle_rl.run_config import check_finetune_config
from bikkle_rl.training import train


def finetune_config(cfg: DictConfig, pretrained: dict, run_dir: Path) -> DictConfig:
    """The fine-tune's training config: the pretrained run's, with this run's gaze, budget, seed and device.

    The gaze source is this run's; the pretrained run's ``hold`` and ``max_age`` stay unless this run sets them.
    A transformer without a gaze-pellet adapter gets one of width ``cfg.gaze_adapter`` (0: none); if it was
    trained without gaze and ``cfg.drop_unseen_gaze_token``, its gaze token (never learned) leaves attention, so
    the fine-tune starts at exactly the agent's play without gaze and gaze reaches it through the adapter alone.
    ``cfg.min_scale`` (unless null) raises the policy's exploration floor: its mean action is unchanged.

    Its learning curve follows the agent on the first scenario of this run's evaluation protocol.
    """
    train_cfg = dict(pretrained)
    train_cfg |= {
        "gaze": {**held_gaze(pretrained.get("gaze")), **plain_config(cfg.gaze)},
        "init_from": str(cfg.checkpoint),
        "resume": None,
        "freeze_non_gaze": bool(cfg.freeze),
        "total_frames": int(cfg.total_frames),
        "time_limit_minutes": cfg.time_limit_minutes,
        "seed": int(cfg.seed),
        "device": cfg.device,
        "cpu_threads": int(cfg.cpu_threads),
        "logger": {**pretrained["logger"], "log_dir": str(run_dir), "exp_name": "finetune_gaze"},
        "evaluation": {**pretrained["evaluation"], "protocol": cfg.evaluation.protocol,
                       "scenarios": evaluation_scenarios(cfg), "video": False},
    }
    if pretrained["model"]["encoder"] == "transformer" and not pretrained["model"].get("gaze_adapter"):
        train_cfg["model"] = {**pretrained["model"], "gaze_adapter": int(cfg.gaze_adapter)}
        if cfg.gaze_adapter and cfg.drop_unseen_gaze_token and trained_without_gaze(pretrained):
            train_cfg["model"]["gaze_token"] = False
    if cfg.get("min_scale") is not None:
        train_cfg["model"] = {**train_cfg["model"], "min_scale": cfg.min_scale}
        ModelConfig(**train_cfg["model"])  # a bad floor fails here, named, rather than as the checkpoint's fault
    algo = OmegaConf.merge(pretrained["algo"], cfg.get("algo") or {})
    if cfg.lr is not None:
        algo.optim.lr = float(cfg.lr)
    train_cfg["algo"] = plain_config(algo)
    return OmegaConf.create(train_cfg)


def evaluation_scenarios(cfg: DictConfig) -> list[str]:
    """The evaluation's scenarios, the held-out recordings (closed-loop replay) first when there are any.

    A held-out file that is also trained on is refused by name: "after" would not be held out.
    """
    heldout = [str(path) for path in cfg.get("heldout") or []]
    trained = cfg.gaze.get("path") if cfg.gaze.get("source") == "replay" else None
    trained = {str(path) for path in ([trained] if isinstance(trained, str) else trained or [])}
    for path in heldout:
        if path in trained:
            raise ValueError(f"heldout recording {path} is also in gaze.path: hold out sessions not trained on")
    return ([replay_scenario(heldout)] if heldout else []) + list(cfg.evaluation.scenarios)


def trained_without_gaze(run_config: dict) -> bool:
    """Whether the run never saw gaze: no gaze source, or ``none``."""
    return (run_config.get("gaze") or {}).get("source", "none") == "none"


def improved(results: dict, before: str, after: str) -> dict[str, bool]:
    """Per scenario: the CI of ``after``'s mean return lies above the CI of ``before``'s."""
    return {scenario: row[after]["ci_low"] > row[before]["ci_high"] for scenario, row in results.items()}


def run_finetune(cfg: DictConfig) -> dict:
    """Fine-tunes as configured into ``cfg.out_dir``; returns the evaluation results and the training run.

    The config is checked first (:func:`~bikkle_rl.run_config.check_finetune_config`): a bad value fails before
    anything runs, naming its field."""
    check_finetune_config(cfg)
    run_dir = Path(cfg.out_dir)
    device = resolve_device(cfg.device)
    _, pretrained = load_agent(cfg.checkpoint, device)
    train_cfg = finetune_config(cfg, pretrained, run_dir)
    start_actor, _ = load_agent(cfg.checkpoint, device, model=plain_config(train_cfg.model))
    run = train(train_cfg, run_dir)

    evaluation = cfg.evaluation
    seed = int(cfg.seed) + EVALUATION_SEED_OFFSET
    policies: dict[str, PolicyFactory] = {"before": lambda env: start_actor,
                                          "after": lambda env: run.algo.actor}
    policies |= {name: reference_factory(name) for name in evaluation.references}
    scenarios = list(train_cfg.evaluation.scenarios)
    returns = evaluate_returns(policies, env_stack(train_cfg), evaluation.protocol, scenarios,
                               evaluation.episodes, seed, str(device))
    results = summarize_returns(returns, seed)
    gaze_value = {when: gaze_value_from_returns(returns, agent=when, generator=torch.Generator().manual_seed(seed))
                  for when in ("before", "after")}

    freeze = train_cfg.freeze_non_gaze
    mode = "gaze-only" if freeze else "unfrozen"
    title = f"{mode} fine-tune on {cfg.gaze.source} gaze, protocol {evaluation.protocol}"
    extra = {"finetune": {"checkpoint": str(cfg.checkpoint), "freeze": freeze,
                          "gaze": plain_config(cfg.gaze), "frames": run.frames},
             "gaze_value": gaze_value["after"], "gaze_value_before": gaze_value["before"],
             "improved": improved(results, "before", "after")}
    report_dir = run_dir / "report"
    paths = write_report(results, report_dir, title, extra, protocol=evaluation.protocol,
                         config=plain_config(train_cfg))
    with paths["table"].open("a") as table:
        for when, report in gaze_value.items():
            if report is not None:
                table.write(f"\n{when} the fine-tune:\n```\n{format_gaze_value(report)}\n```\n")
    first = scenarios[0]
    plot_learning_curve(run.history, report_dir / "learning_curve.png",
                        reference=results[first]["before"]["mean"],
                        reference_label=f"before the fine-tune, {scenario_label(first)} gaze (evaluation)")
    print(paths["table"].read_text())
    return {"results": results, "gaze_value": gaze_value, "improved": extra["improved"], "run": run,
            "paths": paths}
