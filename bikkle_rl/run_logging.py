"""Run logging through torchrl's loggers: CSV always, TensorBoard and wandb when asked.

wandb runs ``offline`` by default (files only, sync later with ``wandb sync``) and never stops a run: if it
cannot start, a warning says why and the run continues with the other backends.

(Named ``run_logging`` so that it never shadows the standard library's ``logging``.)
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torchrl.record.loggers import CSVLogger, Logger, TensorboardLogger, WandbLogger

WANDB_MODES = ("offline", "online", "disabled")


@dataclass
class LoggerConfig:
    """Where and how a run logs (the ``logger`` config group's schema).

    Files go to ``{log_dir}/{exp_name}`` (CSV scalars under ``scalars/``; TensorBoard events), wandb's to
    ``{log_dir}/wandb``.
    """

    log_dir: str = "logs"
    exp_name: str = "bikkle"
    tensorboard: bool = False
    wandb: bool = False
    wandb_mode: str = "offline"
    wandb_project: str = "bikkle-rl"
    wandb_init_timeout: float = 60.0

    def __post_init__(self) -> None:
        if not self.exp_name:
            raise ValueError("exp_name must be a non-empty string")
        if self.wandb_mode not in WANDB_MODES:
            raise ValueError(f"wandb_mode must be one of {WANDB_MODES}, got {self.wandb_mode!r}")
        if not self.wandb_init_timeout > 0:
            raise ValueError(f"wandb_init_timeout must be > 0, got {self.wandb_init_timeout!r}")


def flatten_hparams(config: Mapping[str, Any], prefix: str = "") -> dict[str, int | float | str | bool]:
    """A nested config as flat ``{"a.b": value}`` with scalar values (others become strings), as TensorBoard needs."""
    flat: dict[str, int | float | str | bool] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_hparams(value, f"{name}."))
        elif isinstance(value, (int, float, str, bool)):
            flat[name] = value
        else:
            flat[name] = str(value)
    return flat


def to_floats(metrics: Mapping[str, float | torch.Tensor]) -> dict[str, float]:
    """Scalar metrics as Python floats, with a single device-to-host transfer for all tensor values."""
    tensors = {name: value for name, value in metrics.items() if isinstance(value, torch.Tensor)}
    floats = {name: float(value) for name, value in metrics.items() if name not in tensors}
    if tensors:
        stacked = torch.stack([value.detach().reshape(()).to(torch.float64) for value in tensors.values()])
        floats.update(zip(tensors, stacked.cpu().tolist()))
    return {name: floats[name] for name in metrics}


class MetricLogger:
    """Logs dictionaries of scalars to every enabled torchrl logger.

    Examples:
        >>> logger = make_logger(LoggerConfig(log_dir="logs", exp_name="demo"))
        >>> logger.log({"train/return": 24.1, "train/steps_per_s": 1.2e5}, step=4096)
        >>> logger.close()
    """

    def __init__(self, loggers: list[Logger]):
        self.loggers = loggers

    def log(self, metrics: Mapping[str, float | torch.Tensor], step: int) -> None:
        """Logs scalar ``metrics`` (floats or one-element tensors on any device) at ``step``."""
        values = to_floats(metrics)
        for logger in self.loggers:
            logger.log_metrics(values, step=step)

    def log_hparams(self, config: Mapping[str, Any]) -> None:
        """Records the run's resolved config (nested dicts are flattened to ``a.b`` names)."""
        flat = flatten_hparams(config)
        for logger in self.loggers:
            logger.log_hparams(flat)

    def close(self) -> None:
        for logger in self.loggers:
            logger.shutdown()


def start_wandb(cfg: LoggerConfig) -> Logger | None:
    """A wandb logger, or None with a warning if wandb cannot start (the run goes on without it)."""
    try:
        import wandb

        return WandbLogger(
            cfg.exp_name,
            offline=cfg.wandb_mode == "offline",
            save_dir=cfg.log_dir,
            project=cfg.wandb_project,
            mode=cfg.wandb_mode,
            settings=wandb.Settings(init_timeout=cfg.wandb_init_timeout),
            log_env_packages=False,
        )
    except Exception as error:  # noqa: BLE001 - wandb fails in many ways (network, login, service start)
        warnings.warn(f"wandb could not start ({type(error).__name__}: {error}); continuing without it",
                      RuntimeWarning, stacklevel=2)
        return None


class ResumedTensorboardLogger(TensorboardLogger):
    """A TensorBoard logger that hides the events a crashed run logged after its checkpoint at ``resume_step``
    (TensorBoard's ``purge_step``), so the resumed run's rows do not appear twice."""

    def __init__(self, exp_name: str, log_dir: str, resume_step: int):
        self.resume_step = resume_step
        super().__init__(exp_name, log_dir=log_dir)

    def _create_experiment(self):
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(log_dir=str(Path(self.log_dir) / self.exp_name), purge_step=self.resume_step + 1)


def drop_csv_rows_after(scalars_dir: Path, step: int) -> None:
    """Removes the rows logged after ``step`` from every CSV scalar file: a run resumed from its checkpoint at
    ``step`` logs them again."""
    for path in scalars_dir.rglob("*.csv"):  # a metric "train/return" is the file train/return.csv
        lines = path.read_text().splitlines(keepends=True)
        kept = [line for line in lines if not line.strip() or float(line.split(",", 1)[0]) <= step]
        if len(kept) != len(lines):
            path.write_text("".join(kept))


def make_logger(cfg: LoggerConfig, resume_step: int | None = None) -> MetricLogger:
    """The run's :class:`MetricLogger`: CSV, plus TensorBoard and wandb when ``cfg`` enables them.

    ``resume_step``: the run resumes from its checkpoint at this step; what it logged after that is dropped.
    """
    if resume_step is not None:
        drop_csv_rows_after(Path(cfg.log_dir) / cfg.exp_name / "scalars", resume_step)
    loggers: list[Logger] = [CSVLogger(cfg.exp_name, log_dir=cfg.log_dir)]
    if cfg.tensorboard:
        loggers.append(TensorboardLogger(cfg.exp_name, log_dir=cfg.log_dir) if resume_step is None
                       else ResumedTensorboardLogger(cfg.exp_name, cfg.log_dir, resume_step))
    if cfg.wandb and cfg.wandb_mode != "disabled":
        wandb_logger = start_wandb(cfg)
        if wandb_logger is not None:
            loggers.append(wandb_logger)
    return MetricLogger(loggers)
