"""Train a Bikkle agent (PPO or SAC) on the batched arena, then evaluate it and write a report.

    bikkle-train                       # defaults: token transformer, PPO, gaze mixture, CPU, a few minutes
    bikkle-train model=mlp algo=sac    # any config group or field can be overridden (recipes/conf/)

The story of a run: build the env stack and the algorithm, collect batches with torchrl's Collector, update,
log, checkpoint every ``checkpoint.every_frames``; at the end evaluate the agent beside the reference policies
on the configured protocol and write ``report/`` (table, bar chart, learning curve, video).
"""

from __future__ import annotations

import logging
import signal
import time
from pathlib import Path

import hydra
import torch
from hydra import compose
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from tqdm.contrib.logging import logging_redirect_tqdm

from bikkle_rl.atomic_write import write_atomically
from bikkle_rl.checkpoint import CheckpointManager, save_checkpoint
from bikkle_rl.envs.stack import make_env, plain_config
from bikkle_rl.evaluation.curves import LearningCurve, plot_learning_curve
from bikkle_rl.evaluation.protocols import EVALUATION_SEED_OFFSET, evaluation_stack
from bikkle_rl.evaluation.report import evaluate_table, record_video, reference_factory, write_report
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
from bikkle_rl.metrics import batch_metrics
from bikkle_rl.progress import TrainingProgress
from bikkle_rl.resume import check_resumable, override_keys, resumed_config
from bikkle_rl.run_config import check_train_config
from bikkle_rl.run_directory import claim_run_dir, register_resolvers, resume_checkpoint
from bikkle_rl.run_logging import LoggerConfig, make_logger
from bikkle_rl.stop_signals import StopRequest

log = logging.getLogger("bikkle_rl.train")
register_resolvers()


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


def train(cfg: DictConfig, run_dir: Path) -> dict:
    """Trains as configured; returns the final algorithm, env, learning-curve rows, frames done, and the signal
    that stopped training early (``stopped``, else None).

    The config is checked first (:func:`~bikkle_rl.run_config.check_train_config`): a bad value fails before
    anything is built, naming its field. A resumed run (``resume``) whose budget is already spent trains nothing and says so. SIGTERM or SIGINT
    during training writes a checkpoint at the end of the current batch and returns.
    """
    check_train_config(cfg)
    claim_run_dir(run_dir, cfg.resume)
    resumed = None
    if cfg.resume:
        resume_path = resume_checkpoint(cfg.resume)
        resumed = load_run_checkpoint(resume_path)
        check_resumable(plain_config(cfg), resumed["config"], str(resume_path))
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
        return {"algo": algo, "env": env, "history": earlier_curve, "frames": frames, "stopped": None}
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
    with StopRequest() as stop, logging_redirect_tqdm(), TrainingProgress(budget, frames) as progress:
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
        return {"algo": algo, "env": env, "history": curve.rows, "frames": frames, "stopped": stop.received}
    curve.evaluate_final(algo.actor, frames)
    final = checkpoint_payload(cfg, algo, env, frames, iterations, curve.rows)
    checkpoints.save(frames, final)
    save_checkpoint(run_dir / "final.pt", final)
    return {"algo": algo, "env": env, "history": curve.rows, "frames": frames, "stopped": None}


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
    paths = write_report(results, report_dir, title, protocol=cfg.evaluation.protocol, config=plain_config(cfg))
    greedy = results[cfg.evaluation.scenarios[0]].get("greedy", {}).get("mean")
    plot_learning_curve(history, report_dir / "learning_curve.png", reference=greedy)
    if cfg.evaluation.video:
        scenario = cfg.evaluation.scenarios[0]
        video_stack = evaluation_stack(stack, cfg.evaluation.protocol, scenario, num_envs=4)
        record_video(policies["agent"], video_stack, report_dir / f"agent_{scenario}.mp4", seed=cfg.seed)
    print(paths["table"].read_text())
    return results


def command_line_config(cfg: DictConfig) -> DictConfig:
    """The config this command line asks for; when resuming, the checkpoint's with this command line's changes
    on top (:func:`~bikkle_rl.resume.resumed_config`)."""
    if not cfg.resume:
        return cfg
    overrides = list(HydraConfig.get().overrides.task)
    defaults = compose(config_name="train", overrides=[o for o in overrides if override_keys([o])[0] == "resume"])
    checkpoint = load_run_checkpoint(resume_checkpoint(cfg.resume))["config"]
    return OmegaConf.create(resumed_config(plain_config(cfg), plain_config(defaults), checkpoint,
                                           override_keys(overrides)))


@hydra.main(version_base=None, config_path="conf", config_name="train")
def main(cfg: DictConfig) -> None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    cfg = command_line_config(cfg)
    config_file = write_atomically(run_dir / "config.yaml", lambda f: f.write(OmegaConf.to_yaml(cfg).encode()))
    log.info(f"bikkle-train: {run_summary(cfg)}; run directory {run_dir} (config: {config_file.name})")
    run = train(cfg, run_dir)
    if run["stopped"]:
        raise SystemExit(128 + signal.Signals[run["stopped"]].value)
    evaluate(cfg, run["algo"], run_dir, run["history"])
    log.info(f"run directory: {run_dir}")


if __name__ == "__main__":
    main()
