"""Runs that end, keep their own directory, stop cleanly on a signal, and resume with their own config."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from bikkle_rl.checkpoint import load_checkpoint
from bikkle_rl.experiment import make_algorithm, make_collector, make_train_env
from bikkle_rl.resume import ResumeConfigError, check_resumable, override_keys, resumed_config
from bikkle_rl.run_directory import (
    RunDirectoryError,
    claim_run_dir,
    default_run_dir,
    resume_checkpoint,
    run_dir_of,
)
from bikkle_rl.run_logging import LoggerConfig, drop_csv_rows_after, make_logger
from bikkle_rl.training import train

REPO = Path(__file__).resolve().parents[2]
TINY_CLI = ["model=mlp", "num_envs=32", "algo.frames_per_env=16", "evaluation.episodes=32",
            "evaluation.curve_episodes=16", "evaluation.video=false", "compile=false"]


def test_a_finished_run_resumed_without_a_larger_budget_trains_nothing(compose_train, tmp_path):
    first = train(compose_train(tmp_path, "total_frames=1024", "checkpoint.every_frames=512"), tmp_path)
    before = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    for budget in (1024, 600):  # exactly the budget, and less than done
        cfg = compose_train(tmp_path, f"total_frames={budget}", f"resume={tmp_path / 'final.pt'}")
        again = train(cfg, tmp_path)
        assert again.frames == first.frames == 1024
        assert again.history == first.history
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == before


def test_a_budget_is_rounded_up_to_whole_batches_and_never_read_as_endless(compose_train, tmp_path):
    cfg = compose_train(tmp_path, "total_frames=600")
    env = make_train_env(cfg, torch.device("cpu"), seed=0)
    algo = make_algorithm(cfg, env, torch.device("cpu"))
    assert make_collector(cfg, env, algo, 600, torch.device("cpu")).total_frames == 1024
    for bad in (0, -100):
        with pytest.raises(ValueError, match=f"frame budget >= 1 .*got {bad}"):
            make_collector(cfg, env, algo, bad, torch.device("cpu"))


def test_a_run_directory_holding_another_runs_checkpoints_is_refused(compose_train, tiny_run, tmp_path):
    shutil.copytree(tiny_run, tmp_path, dirs_exist_ok=True)
    with pytest.raises(RunDirectoryError, match="already holds another run's checkpoints"):
        train(compose_train(tmp_path, "total_frames=512"), tmp_path)
    other = tmp_path / "other"
    train(compose_train(other, "total_frames=512"), other)
    with pytest.raises(RunDirectoryError, match="already holds"):  # resuming a different run into this directory
        claim_run_dir(tmp_path, other / "final.pt")
    partial = tmp_path / ".final.pt.abc123.tmp"
    partial.write_bytes(b"half a checkpoint")
    claim_run_dir(tmp_path, tmp_path / "final.pt")  # its own run: allowed, and the partial write is removed
    assert not partial.exists()


def test_resume_finds_a_run_directorys_newest_checkpoint_and_writes_on_in_that_directory(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    for frames in (512, 1024):
        (tmp_path / "checkpoints" / f"checkpoint_{frames:012d}.pt").write_bytes(b"")
    assert resume_checkpoint(tmp_path).name == "checkpoint_000000001024.pt"
    (tmp_path / "final.pt").write_bytes(b"")
    assert resume_checkpoint(tmp_path).name == "final.pt"
    assert run_dir_of(tmp_path / "checkpoints" / "checkpoint_000000000512.pt") == tmp_path
    assert default_run_dir(str(tmp_path / "final.pt"), "outputs/new") == str(tmp_path)
    assert default_run_dir(None, "outputs/new") == "outputs/new"
    with pytest.raises(RunDirectoryError, match="does not exist"):
        resume_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(RunDirectoryError, match="without checkpoints"):
        resume_checkpoint(tmp_path / "checkpoints" / ".." / "checkpoints")


def test_runs_started_together_get_directories_of_their_own():
    command = [sys.executable, "-c", "from bikkle_rl.run_directory import RUN_TOKEN; print(RUN_TOKEN)"]
    tokens = {subprocess.run(command, capture_output=True, text=True, check=True).stdout for _ in range(3)}
    assert len(tokens) == 3


CHECKPOINT = {"model": {"encoder": "mlp", "hidden": 64}, "algo": {"name": "ppo", "gamma": 0.99},
              "total_frames": 1000, "seed": 0, "logger": {"log_dir": "old"}, "resume": None}
DEFAULTS = {"model": {"encoder": "transformer", "layers": 2}, "algo": {"name": "ppo", "gamma": 0.99},
            "total_frames": 3000, "seed": 0, "logger": {"log_dir": "new"}, "resume": None, "force_resume": False,
            "added_since": 1}


def test_a_resumed_run_keeps_its_own_config_with_the_command_lines_changes_on_top():
    current = {**DEFAULTS, "resume": "ckpt.pt", "total_frames": 5000}
    effective = resumed_config(current, DEFAULTS, CHECKPOINT, override_keys(["resume=ckpt.pt", "total_frames=5000"]))
    assert effective["model"] == CHECKPOINT["model"]  # not the defaults' transformer
    assert effective["total_frames"] == 5000 and effective["resume"] == "ckpt.pt"
    assert effective["logger"] == DEFAULTS["logger"] and effective["added_since"] == 1
    check_resumable(effective, CHECKPOINT, "ckpt.pt")
    unchanged = resumed_config({**DEFAULTS, "resume": "ckpt.pt"}, DEFAULTS, CHECKPOINT, ["resume"])
    assert unchanged["total_frames"] == 1000


def test_a_resume_that_contradicts_the_checkpoint_is_refused_by_name_unless_forced():
    current = {**DEFAULTS, "resume": "ckpt.pt", "algo": {"name": "ppo", "gamma": 0.9}}
    for overrides in (["algo.gamma=0.9"], ["model=transformer"]):  # a changed field; a default restated
        effective = resumed_config(current, DEFAULTS, CHECKPOINT, override_keys(overrides))
        with pytest.raises(ResumeConfigError, match="ckpt.pt.*force_resume=true") as error:
            check_resumable(effective, CHECKPOINT, "ckpt.pt")
        named = "algo.gamma: 0.99 -> 0.9" if overrides[0].startswith("algo") else "model.encoder: 'mlp' -> 'transformer'"
        assert named in str(error.value)
        check_resumable({**effective, "force_resume": True}, CHECKPOINT, "ckpt.pt")


def test_override_keys_name_what_a_command_line_sets():
    assert override_keys(["model=mlp", "+gaze.hold=true", "~resume", "algo.optim.lr=1e-3"]) == [
        "model", "gaze.hold", "resume", "algo.optim.lr"]


def test_rows_logged_after_the_resumed_checkpoint_are_not_logged_twice(tmp_path):
    config = LoggerConfig(log_dir=str(tmp_path), exp_name="run", tensorboard=True)
    logger = make_logger(config)
    for step in (512, 1024, 1536):
        logger.log({"train/return": step / 512}, step=step)
    logger.close()
    time.sleep(1.1)  # TensorBoard names event files by the second
    logger = make_logger(config, resume_step=1024)  # the crashed run's checkpoint was at 1024
    logger.log({"train/return": 9.0}, step=1536)
    logger.close()
    rows = (tmp_path / "run" / "scalars" / "train" / "return.csv").read_text().split()
    assert rows == ["512,1.0", "1024,2.0", "1536,9.0"]
    events = EventAccumulator(str(tmp_path / "run"))
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("train/return")] == [(512, 1.0), (1024, 2.0), (1536, 9.0)]


def test_dropping_rows_keeps_the_files_of_a_run_that_logged_nothing_later(tmp_path):
    (tmp_path / "a.csv").write_text("1,0.5\n2,0.25\n")
    drop_csv_rows_after(tmp_path, 5)
    assert (tmp_path / "a.csv").read_text() == "1,0.5\n2,0.25\n"


def start_training(run_dir: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "bikkle_rl.recipes.train", *TINY_CLI, "total_frames=10_000_000",
               "checkpoint.every_frames=10_000_000", f"hydra.run.dir={run_dir}"]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONWARNINGS": "ignore"})


def wait_for_line(run_dir: Path, text: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    log = run_dir / "train.log"
    while time.monotonic() < deadline:
        if log.is_file() and text in log.read_text():
            return
        time.sleep(0.2)
    raise AssertionError(f"no {text!r} in {log} after {timeout_s} s")


@pytest.mark.parametrize("sent, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_and_sigint_write_a_checkpoint_and_exit_cleanly(tmp_path, sent, code):
    process = start_training(tmp_path)
    try:
        wait_for_line(tmp_path, "evaluation return")  # training is under way
        process.send_signal(sent)
        output, _ = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == code, output
    assert "Traceback" not in output
    saved = sorted((tmp_path / "checkpoints").glob("*.pt"))
    assert len(saved) == 1 and not (tmp_path / "final.pt").exists()
    payload = load_checkpoint(saved[0])
    assert payload["frames"] > 0 and payload["config"]["total_frames"] == 10_000_000
    assert f"{sent.name} received" in (tmp_path / "train.log").read_text()
