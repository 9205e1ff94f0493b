"""Train a Bikkle agent (PPO or SAC) on the batched arena, then evaluate it and write a report.

    bikkle-train                       # defaults: token transformer, PPO, gaze mixture, CPU, a few minutes
    bikkle-train model=mlp algo=sac    # any config group or field can be overridden (recipes/conf/)

The story of a run: build the env stack and the algorithm, collect batches with torchrl's Collector, update,
log, checkpoint every ``checkpoint.every_frames``; at the end evaluate the agent beside the reference policies
on the configured protocol and write ``report/`` (table, bar chart, learning curve, video).
"""

from __future__ import annotations

import time
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from bikkle_rl.checkpoint import CheckpointManager, save_checkpoint
from bikkle_rl.envs.stack import make_env, plain_config
from bikkle_rl.evaluation.curves import LearningCurve, plot_learning_curve
from bikkle_rl.evaluation.protocols import EVALUATION_SEED_OFFSET, evaluation_stack
from bikkle_rl.evaluation.report import evaluate_table, record_video, reference_factory, write_report
from bikkle_rl.experiment import (
    checkpoint_payload,
    config_flag,
    env_stack,
    init_weights_from,
    make_algorithm,
    make_collector,
    make_train_env,
    resolve_device,
    resume_from,
)
from bikkle_rl.metrics import batch_metrics
from bikkle_rl.progress import TrainingProgress
from bikkle_rl.run_logging import LoggerConfig, make_logger

RUN_FLAGS = ("compile", "cudagraphs", "freeze_non_gaze", "evaluation.video")
"""The run's true/false settings: checked before training, so a bad value fails in seconds, not after the run."""


def run_progress(cfg: DictConfig, frames: int, elapsed_s: float) -> float:
    """The fraction of the run done: of its frame budget, or of its time limit if that comes first.

    After a resume the time limit counts from the restart, like the limit itself.
    """
    fraction = frames / cfg.total_frames
    if cfg.time_limit_minutes:
        fraction = max(fraction, elapsed_s / (60 * cfg.time_limit_minutes))
    return min(fraction, 1.0)


def train(cfg: DictConfig, run_dir: Path) -> dict:
    """Trains as configured; returns the final algorithm, env, learning-curve rows and frames done."""
    for name in RUN_FLAGS:
        config_flag(cfg, name)
    device = resolve_device(cfg.device)
    if device.type == "cpu":
        torch.set_num_threads(cfg.cpu_threads)
    torch.manual_seed(cfg.seed)
    env = make_train_env(cfg, device, seed=cfg.seed)
    algo = make_algorithm(cfg, env, device)

    frames = iterations = 0
    earlier_curve: list[dict] = []
    if cfg.resume:
        frames, iterations, earlier_curve = resume_from(cfg.resume, algo, env)
        print(f"resumed from {cfg.resume} at {frames} frames")
    elif cfg.init_from:
        init_weights_from(cfg.init_from, algo)
    collector = make_collector(cfg, env, algo, cfg.total_frames - frames, device)
    checkpoints = CheckpointManager(run_dir / "checkpoints", keep_last=cfg.checkpoint.keep_last)
    logger = make_logger(LoggerConfig(**cfg.logger))
    logger.log_hparams(plain_config(cfg))
    curve_stack = evaluation_stack(env_stack(cfg, device=str(device)), cfg.evaluation.protocol,
                                   cfg.evaluation.scenarios[0], cfg.evaluation.curve_episodes)
    curve = LearningCurve(make_env(curve_stack), seed=cfg.seed + EVALUATION_SEED_OFFSET,
                          every_frames=cfg.evaluation.every_frames, rows=earlier_curve)
    last_checkpoint = frames
    train_return = float("nan")  # the last ended episode's: in continuing mode most batches end none
    start = last = time.perf_counter()

    with TrainingProgress(cfg.total_frames, initial_steps=frames) as progress:
        for batch in collector:
            collected = time.perf_counter()
            metrics = algo.update(batch, run_progress(cfg, frames, collected - start))  # done before this batch
            frames += batch.numel()
            iterations += 1
            now = time.perf_counter()
            metrics |= batch_metrics(batch, env.base_env.config.max_speed)
            metrics |= {"time/steps_per_s": batch.numel() / (now - last), "time/collect_s": collected - last,
                        "time/update_s": now - collected}
            if (eval_return := curve.maybe_evaluate(algo.actor, frames)) is not None:
                metrics["eval/return"] = eval_return
            logger.log(metrics, step=frames)
            elapsed, last = time.perf_counter() - start, time.perf_counter()
            train_return = metrics.get("episode/return", train_return)
            shown = {"train_return": train_return, "eval_return": curve.latest}
            if cfg.time_limit_minutes:  # the bar's own estimate counts toward a frame budget the limit cuts short
                shown["min_left"] = max(cfg.time_limit_minutes - elapsed / 60, 0.0)
            progress.update(batch.numel(), shown)
            if frames - last_checkpoint >= cfg.checkpoint.every_frames:
                checkpoints.save(frames, checkpoint_payload(cfg, algo, env, frames, iterations, curve.rows))
                last_checkpoint = frames
            if cfg.time_limit_minutes and elapsed > 60 * cfg.time_limit_minutes:
                break
    collector.shutdown()
    curve.evaluate(algo.actor, frames)
    final = checkpoint_payload(cfg, algo, env, frames, iterations, curve.rows)
    checkpoints.save(frames, final)
    save_checkpoint(run_dir / "final.pt", final)
    logger.close()
    return {"algo": algo, "env": env, "history": curve.rows, "frames": frames}


def evaluate(cfg: DictConfig, algo, run_dir: Path, history: list[dict]) -> dict:
    """The agent beside the reference policies on the configured protocol and scenarios; writes report/."""
    stack = env_stack(cfg)
    policies = {"agent": lambda env: algo.actor}
    policies |= {name: reference_factory(name) for name in cfg.evaluation.references}
    results = evaluate_table(policies, stack, cfg.evaluation.protocol, list(cfg.evaluation.scenarios),
                             cfg.evaluation.episodes, seed=cfg.seed + EVALUATION_SEED_OFFSET,
                             device=str(resolve_device(cfg.device)))
    report_dir = run_dir / "report"
    title = f"{cfg.model.encoder} {cfg.algo.name}, protocol {cfg.evaluation.protocol}"
    paths = write_report(results, report_dir, title)
    greedy = results[cfg.evaluation.scenarios[0]].get("greedy", {}).get("mean")
    plot_learning_curve(history, report_dir / "learning_curve.png", reference=greedy)
    if config_flag(cfg, "evaluation.video"):
        scenario = cfg.evaluation.scenarios[0]
        video_stack = evaluation_stack(stack, cfg.evaluation.protocol, scenario, num_envs=4)
        record_video(policies["agent"], video_stack, report_dir / f"agent_{scenario}.mp4", seed=cfg.seed)
    print(paths["table"].read_text())
    return results


@hydra.main(version_base=None, config_path="conf", config_name="train")
def main(cfg: DictConfig) -> None:
    run_dir = Path(hydra.core.hydra_config.HydraConfig.get().runtime.output_dir)
    print(OmegaConf.to_yaml(cfg))
    run = train(cfg, run_dir)
    evaluate(cfg, run["algo"], run_dir, run["history"])
    print(f"run directory: {run_dir}")


if __name__ == "__main__":
    main()
