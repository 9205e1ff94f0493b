"""Atomic checkpoint files, rotation, clear errors on damaged or mismatched files, replay-buffer snapshots, and RNG
state capture."""

import random

import numpy as np
import pytest
import torch
from tensordict import TensorDict
from torch import nn

from bikkle_rl.buffers import ReplayConfig, make_replay_buffer
from bikkle_rl.checkpoint import (
    CheckpointError,
    CheckpointManager,
    capture_rng_state,
    load_buffer_snapshot,
    load_checkpoint,
    load_state,
    numbered_checkpoints,
    restore_rng_state,
    save_buffer_snapshot,
    save_checkpoint,
)


def make_model(hidden=8):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, hidden), nn.Tanh(), nn.Linear(hidden, 2))


def training_payload(model, optimizer, step=10):
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
            "config": {"env": {"num_pink": 1, "action_mode": "velocity"}, "lr": 3e-4}}


def test_round_trip_restores_model_optimizer_and_config(tmp_path):
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randn(3, 4)).sum().backward()
    optimizer.step()
    path = save_checkpoint(tmp_path / "run" / "ckpt.pt", training_payload(model, optimizer))

    fresh = make_model()
    fresh_optimizer = torch.optim.Adam(fresh.parameters(), lr=1e-3)
    payload = load_checkpoint(path, expected={"model": fresh, "optimizer": None, "step": None})
    load_state(fresh, payload["model"], path, "model")
    load_state(fresh_optimizer, payload["optimizer"], path, "optimizer")
    for saved, loaded in zip(model.parameters(), fresh.parameters()):
        torch.testing.assert_close(saved, loaded)
    torch.testing.assert_close(fresh_optimizer.state_dict()["state"][0]["exp_avg"],
                               optimizer.state_dict()["state"][0]["exp_avg"])
    assert payload["step"] == 10 and payload["config"]["env"]["num_pink"] == 1


class FailsMidWrite:
    """Test-only payload entry whose serialisation fails part-way, like a full disk."""

    def __reduce__(self):
        raise OSError("disk full")


def test_a_failing_write_leaves_the_old_checkpoint_intact(tmp_path):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"step": 1})
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"step": 2, "weights": torch.zeros(1000), "broken": FailsMidWrite()})
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]  # no temporary file left behind


def test_truncated_or_garbage_file_gives_an_error_naming_it(tmp_path):
    path = save_checkpoint(tmp_path / "ckpt_truncated.pt", {"model": make_model().state_dict()})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="ckpt_truncated.pt.*cannot be read"):
        load_checkpoint(path)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="garbage.pt"):
        load_checkpoint(garbage)
    with pytest.raises(CheckpointError, match="missing.pt.*does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_missing_entry_is_named_with_the_file(tmp_path):
    path = save_checkpoint(tmp_path / "ckpt.pt", {"model": make_model().state_dict()})
    with pytest.raises(CheckpointError, match=r"ckpt.pt.*no entry 'optimizer'"):
        load_checkpoint(path, expected={"model": None, "optimizer": None})


def test_checkpoint_from_another_model_lists_the_mismatch(tmp_path):
    path = save_checkpoint(tmp_path / "small.pt", {"model": make_model(hidden=8).state_dict()})
    with pytest.raises(CheckpointError, match=r"small.pt.*'0.weight' has shape \(8, 4\), the model expects \(16, 4\)"):
        load_checkpoint(path, expected={"model": make_model(hidden=16)})
    deeper = nn.Sequential(*make_model(), nn.Linear(2, 2))
    with pytest.raises(CheckpointError, match=r"small.pt.*missing '3.weight'"):
        load_state(deeper, load_checkpoint(path)["model"], path, "model")


def test_optimizer_mismatch_is_reported_with_the_file(tmp_path):
    model = make_model()
    path = save_checkpoint(tmp_path / "ckpt.pt", {"optimizer": torch.optim.Adam(model.parameters()).state_dict()})
    other = torch.optim.Adam([nn.Parameter(torch.zeros(3))])
    with pytest.raises(CheckpointError, match=r"ckpt.pt.*'optimizer'.*Adam"):
        load_state(other, load_checkpoint(path)["optimizer"], path, "optimizer")


def test_manager_keeps_the_last_checkpoints_in_step_order(tmp_path):
    (tmp_path / ".checkpoint_000000000001.pt.abc.tmp").write_bytes(b"left by a crash")
    manager = CheckpointManager(tmp_path, keep_last=2)
    assert manager.latest() is None
    assert not list(tmp_path.glob("*.tmp"))
    for step in (5, 9, 10, 100):
        manager.save(step, {"step": step})
    assert [load_checkpoint(p)["step"] for p in manager.checkpoints()] == [10, 100]
    assert load_checkpoint(manager.latest())["step"] == 100
    with pytest.raises(ValueError, match="keep_last"):
        CheckpointManager(tmp_path, keep_last=0)


def test_numbered_checkpoints_lists_by_step_without_touching_the_folder(tmp_path):
    assert numbered_checkpoints(tmp_path / "missing") == []
    assert not (tmp_path / "missing").exists()
    for name in ("checkpoint_100.pt", "checkpoint_000000000020.pt", "checkpoint_7.pt", "final.pt",
                 "checkpoint_x.pt", ".checkpoint_000000000003.pt.abc.tmp", "best_5.pt"):
        (tmp_path / name).write_bytes(b"")
    assert numbered_checkpoints(tmp_path) == [(7, tmp_path / "checkpoint_7.pt"),
                                              (20, tmp_path / "checkpoint_000000000020.pt"),
                                              (100, tmp_path / "checkpoint_100.pt")]
    assert numbered_checkpoints(tmp_path, prefix="best") == [(5, tmp_path / "best_5.pt")]
    assert (tmp_path / ".checkpoint_000000000003.pt.abc.tmp").exists()


def uniform_buffer(rows: int = 0):
    buffer = make_replay_buffer(ReplayConfig(kind="uniform", size=100), batch_size=4)
    if rows:
        buffer.extend(TensorDict({"action": torch.arange(rows, dtype=torch.float32)}, [rows]))
    return buffer


def test_buffer_snapshot_replaces_the_older_one_and_reloads(tmp_path):
    assert save_buffer_snapshot(uniform_buffer(), tmp_path, 1) is None  # an empty buffer writes nothing
    first = save_buffer_snapshot(uniform_buffer(3), tmp_path, 3)
    newer = save_buffer_snapshot(uniform_buffer(5), tmp_path, 5)
    assert [p.name for p in tmp_path.iterdir()] == ["frames_000000000005"]  # older one removed, no partial left
    restored = uniform_buffer()
    load_buffer_snapshot(restored, newer)
    assert restored.storage[: len(restored)]["action"].tolist() == [0, 1, 2, 3, 4]
    with pytest.warns(UserWarning, match="frames_000000000003.*gone"):
        load_buffer_snapshot(uniform_buffer(), first)


def draws(generator):
    return torch.rand(3), random.random(), np.random.rand(), torch.rand(2, generator=generator)


def test_rng_state_round_trips_through_a_checkpoint(tmp_path):
    env_rng = torch.Generator().manual_seed(1)
    path = save_checkpoint(tmp_path / "ckpt.pt", {"rng": capture_rng_state({"env": env_rng})})
    first = draws(env_rng)
    restore_rng_state(load_checkpoint(path)["rng"], {"env": env_rng})
    second = draws(env_rng)
    torch.testing.assert_close(first[0], second[0])
    assert first[1] == second[1] and first[2] == second[2]
    torch.testing.assert_close(first[3], second[3])
    with pytest.raises(KeyError, match="learner"):
        restore_rng_state(load_checkpoint(path)["rng"], {"learner": torch.Generator()})
