"""A training run, start to finish: ``train(cfg, run_dir) -> Run``, then the report of the trained agent.

The story of a run: build the env stack and the algorithm, collect batches with torchrl's Collector, update,
log, checkpoint every ``checkpoint.every_frames``; :func:`evaluate_run` then evaluates the agent beside the
reference policies on the configured protocol and writes ``report/`` (table, bar chart, learning curve, video).
``bikkle-train`` (:mod:`bikkle_rl.recipes.train`) runs both; the fine-tune, the benchmarks and the tests call
:func:`train` directly.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig
from torchrl.envs import TransformedEnv
from tqdm.contrib.logging import logging_redirect_tqdm

from bikkle_rl.algorithms.base import Algorithm
from bikkle_rl.checkpoint import CheckpointManager, save_checkpoint
from bikkle_rl.envs.stack import make_env
from bikkle_rl.evaluation.cells import evaluate_table, reference_factory
from bikkle_rl.evaluation.curves import LearningCurve, plot_learning_curve
from bikkle_rl.evaluation.protocols import EVALUATION_SEED_OFFSET, evaluation_stack
from bikkle_rl.evaluation.report import record_video, write_report
from bikkle_rl.experiment import (
    checkpoint_payload,
    env_stack,
    init_weights_from,
    load_run_checkpoint,
    make_algorithm,
    make_collector,
    make_train_env,
    resolve_device,
    resume_from,
)
from bikkle_rl.metrics import batch_metrics, gate_trust_metrics
from bikkle_rl.modules.token_transformer import gated_encoder
from bikkle_rl.plain_config import plain_config
from bikkle_rl.progress import TrainingProgress
from bikkle_rl.resume import check_resumable
from bikkle_rl.run_config import check_train_config, with_schema_defaults
from bikkle_rl.run_directory import claim_run_dir, resume_checkpoint
from bikkle_rl.run_logging import LoggerConfig, make_logger
from bikkle_rl.stop_signals import StopRequest

log = logging.getLogger("bikkle_rl.train")


@dataclass
class Run:
    """What :func:`train` leaves: the trained algorithm (its ``actor`` is the agent) and its env, the learning
    curve (rows of ``frames``, ``seconds``, ``return``), the frames trained in all (a resumed run's earlier ones
    included), and the signal that stopped training early (``"SIGTERM"``, ``"SIGINT"``; None: it ran to its end)."""

    algo: Algorithm
    env: TransformedEnv
    history: list[dict]
    frames: int
    stopped: str | None = None


def run_progress(cfg: DictConfig, frames: int, elapsed_s: float) -> float:
    """The fraction of the run done: of its frame budget, or of its time limit if that comes first.

    After a resume the time limit counts from the restart, like the limit itself.
    """
    fraction = frames / cfg.total_frames
    if cfg.time_limit_minutes:
        fraction = max(fraction, elapsed_s / (60 * cfg.time_limit_minutes))
    return min(fraction, 1.0)


def run_summary(cfg: DictConfig) -> str:
    """One line saying what a run trains."""
    gaze = cfg.gaze.get("source", "none") if cfg.get("gaze") else "none"
    return (f"{cfg.model.encoder} {cfg.algo.name}, gaze {gaze}, {cfg.num_envs} arenas, {cfg.total_frames:,} frames on "
            f"{cfg.device}, seed {cfg.seed}, evaluated on protocol {cfg.evaluation.protocol}")


def train(cfg: DictConfig, run_dir: Path) -> Run:
    """Trains as configured, writing checkpoints (``checkpoints/``, then ``final.pt``) and logs into ``run_dir``.

    The config is checked first (:func:`~bikkle_rl.run_config.check_train_config`): a bad value fails before
    anything is built, naming its field. A resumed run (``resume``) whose budget is already spent trains nothing
    and says so. SIGTERM or SIGINT during training writes a checkpoint at the end of the current batch and returns
    with :attr:`Run.stopped` set.
    """
    check_train_config(cfg)
    claim_run_dir(run_dir, cfg.resume)
    resumed = None
    if cfg.resume:
        resume_path = resume_checkpoint(cfg.resume)
        resumed = load_run_checkpoint(resume_path)
        check_resumable(plain_config(cfg), with_schema_defaults(resumed["config"]), str(resume_path))
    device = resolve_device(cfg.device)
    if device.type == "cpu":
        torch.set_num_threads(cfg.cpu_threads)
    torch.manual_seed(cfg.seed)
    env = make_train_env(cfg, device, seed=cfg.seed)
    algo = make_algorithm(cfg, env, device)

    frames = iterations = 0
    earlier_curve: list[dict] = []
    if resumed is not None:
        frames, iterations, earlier_curve = resume_from(resume_path, algo, env, payload=resumed)
        log.info(f"resumed from {resume_path} at {frames:,} frames")
    elif cfg.init_from:
        init_weights_from(cfg.init_from, algo)
    if frames >= cfg.total_frames:
        log.info(f"nothing to train: the run has done {frames:,} frames of its budget total_frames="
                 f"{cfg.total_frames:,} (pass a larger total_frames to train on)")
        return Run(algo, env, earlier_curve, frames)
    collector = make_collector(cfg, env, algo, cfg.total_frames - frames, device)
    checkpoints = CheckpointManager(run_dir / "checkpoints", keep_last=cfg.checkpoint.keep_last)
    logger = make_logger(LoggerConfig(**cfg.logger), resume_step=frames if resumed is not None else None)
    logger.log_hparams(plain_config(cfg))
    curve_stack = evaluation_stack(env_stack(cfg, device=str(device)), cfg.evaluation.protocol,
                                   cfg.evaluation.scenarios[0], cfg.evaluation.curve_episodes)
    curve = LearningCurve(make_env(curve_stack), seed=cfg.seed + EVALUATION_SEED_OFFSET,
                          every_frames=cfg.evaluation.every_frames, rows=earlier_curve)
    last_checkpoint = frames
    start = last = time.perf_counter()

    budget = frames + collector.total_frames  # rounded up to whole batches
    gate = gated_encoder(algo.actor)
    with StopRequest() as stop, logging_redirect_tqdm(), TrainingProgress(budget, frames) as progress:
        for batch in collector:
            collected = time.perf_counter()
            metrics = algo.update(batch, run_progress(cfg, frames, collected - start))  # done before this batch
            frames += batch.numel()
            iterations += 1
            now = time.perf_counter()
            metrics |= batch_metrics(batch, env.base_env.config.max_speed) | gate_trust_metrics(gate, batch)
            metrics |= {"time/steps_per_s": batch.numel() / (now - last), "time/collect_s": collected - last,
                        "time/update_s": now - collected}
            if (eval_return := curve.maybe_evaluate(algo.actor, frames)) is not None:
                metrics["eval/return"] = eval_return
                log.info(f"{frames:,} frames: evaluation return {eval_return:.2f} ({cfg.evaluation.curve_episodes} "
                         f"episodes of {cfg.evaluation.scenarios[0]!r}), {metrics['time/steps_per_s']:,.0f} steps/s")
            logger.log(metrics, step=frames)
            elapsed, last = time.perf_counter() - start, time.perf_counter()
            shown = {"train_reward/step": metrics["train/reward_per_step"], "eval_return": curve.latest}
            if cfg.time_limit_minutes:  # the bar's own estimate counts toward a frame budget the limit cuts short
                shown["min_left"] = max(cfg.time_limit_minutes - elapsed / 60, 0.0)
            progress.update(batch.numel(), shown)
            if stop.received or frames - last_checkpoint >= cfg.checkpoint.every_frames:
                path = checkpoints.save(frames, checkpoint_payload(cfg, algo, env, frames, iterations, curve.rows))
                log.info(f"{frames:,} frames: checkpoint {path}")
                last_checkpoint = frames
            if stop.received or (cfg.time_limit_minutes and elapsed > 60 * cfg.time_limit_minutes):
                break
    collector.shutdown()
    logger.close()
    if stop.received:
        log.warning(f"{stop.received} received: stopped at {frames:,} frames after writing a checkpoint; continue "
                    f"with resume={run_dir}")
        return Run(algo, env, curve.rows, frames, stopped=stop.received)
    curve.evaluate_final(algo.actor, frames)
    final = checkpoint_payload(cfg, algo, env, frames, iterations, curve.rows)
    checkpoints.save(frames, final)
    save_checkpoint(run_dir / "final.pt", final)
    return Run(algo, env, curve.rows, frames)


def evaluate_run(cfg: DictConfig, run: Run, run_dir: Path) -> dict:
    """The trained agent beside the reference policies on the configured protocol and scenarios; writes
    ``run_dir/report/`` (table, bars, learning curve, video) and prints the table. Returns the results by scenario
    and policy."""
    stack = env_stack(cfg)
    policies = {"agent": lambda env: run.algo.actor}
    policies |= {name: reference_factory(name) for name in cfg.evaluation.references}
    results = evaluate_table(policies, stack, cfg.evaluation.protocol, list(cfg.evaluation.scenarios),
                             cfg.evaluation.episodes, seed=cfg.seed + EVALUATION_SEED_OFFSET,
                             device=str(resolve_device(cfg.device)))
    report_dir = run_dir / "report"
    title = f"{cfg.model.encoder} {cfg.algo.name}, protocol {cfg.evaluation.protocol}"
    paths = write_report(results, report_dir, title, protocol=cfg.evaluation.protocol, config=plain_config(cfg))
    greedy = results[cfg.evaluation.scenarios[0]].get("greedy", {}).get("mean")
    plot_learning_curve(run.history, report_dir / "learning_curve.png", reference=greedy)
    if cfg.evaluation.video:
        scenario = cfg.evaluation.scenarios[0]
        video_stack = evaluation_stack(stack, cfg.evaluation.protocol, scenario, num_envs=4)
        record_video(policies["agent"], video_stack, report_dir / f"agent_{scenario}.mp4", seed=cfg.seed)
    print(paths["table"].read_text())
    return results
