"""Run logging (CSV always, wandb offline or absent without blocking) and the progress bar."""

import csv
import warnings

import pytest
import torch

from bikkle_rl import run_logging
from bikkle_rl.progress import TrainingProgress
from bikkle_rl.run_logging import LoggerConfig, make_logger, to_floats


def read_rows(path):
    with open(path) as file:
        return [(int(step), float(value)) for step, value in csv.reader(file)]


def test_csv_logger_writes_one_row_per_metric_and_step(tmp_path):
    logger = make_logger(LoggerConfig(log_dir=str(tmp_path), exp_name="run"))
    logger.log({"train/return": torch.tensor(2.5), "train/steps_per_s": 1000}, step=10)
    logger.log({"train/return": 3.0, "train/steps_per_s": torch.tensor([2000.0])}, step=20)
    logger.log_hparams({"algo": {"lr": 3e-4, "epochs": 4}, "env": "bikkle"})
    logger.close()
    scalars = tmp_path / "run" / "scalars"
    assert read_rows(scalars / "train" / "return.csv") == [(10, 2.5), (20, 3.0)]
    assert read_rows(scalars / "train" / "steps_per_s.csv") == [(10, 1000.0), (20, 2000.0)]
    hparams = (tmp_path / "run" / "texts" / "hparams0.txt").read_text()
    assert "algo.lr: 0.0003" in hparams and "algo.epochs: 4" in hparams


def test_to_floats_keeps_names_in_order():
    assert to_floats({"b": torch.tensor(1.5), "a": 2, "c": torch.tensor([3.0])}) == {"b": 1.5, "a": 2.0, "c": 3.0}


def test_wandb_offline_logs_to_local_files(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    logger = make_logger(LoggerConfig(log_dir=str(tmp_path), exp_name="run", wandb=True))
    assert [type(backend).__name__ for backend in logger.loggers] == ["CSVLogger", "WandbLogger"]
    logger.log({"train/return": 1.0}, step=1)
    logger.close()
    assert list((tmp_path / "wandb").glob("offline-run-*"))


def test_wandb_failure_warns_and_the_run_continues(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(run_logging, "WandbLogger", refuse)
    with pytest.warns(RuntimeWarning, match="no network"):
        logger = make_logger(LoggerConfig(log_dir=str(tmp_path), exp_name="run", wandb=True, wandb_mode="online"))
    logger.log({"loss": 0.5}, step=1)
    logger.close()
    assert read_rows(tmp_path / "run" / "scalars" / "loss.csv") == [(1, 0.5)]


def test_wandb_disabled_starts_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(run_logging, "WandbLogger", pytest.fail)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        logger = make_logger(LoggerConfig(log_dir=str(tmp_path), wandb=True, wandb_mode="disabled"))
    assert len(logger.loggers) == 1


def test_logger_config_rejects_bad_values():
    with pytest.raises(ValueError, match="'cloud'"):
        LoggerConfig(wandb_mode="cloud")
    with pytest.raises(ValueError, match="exp_name"):
        LoggerConfig(exp_name="")


def test_progress_bar_counts_steps_and_shows_rate_and_metrics(capsys):
    with TrainingProgress(total_steps=1000, initial_steps=100) as progress:
        progress.update(256, {"return": 21.345})
        progress.update(256)
        assert progress.bar.n == 612
    shown = capsys.readouterr().err
    assert "612/1.00k" in shown and "step/s" in shown and "return=21.3" in shown
