"""Pooling a run's last checkpoints: which checkpoints come before one, and the cells' episodes pooled."""

import pytest
import torch

from bikkle_rl.evaluation.pooling import earlier_checkpoints, pool_cells, pooled_seed
from bikkle_rl.run_config import ConfigError


@pytest.fixture
def run_dir(tmp_path):
    """A finished run's files as the trainer leaves them: numbered checkpoints at 1000, 2000 and 3000 frames and a
    final.pt of 3000 frames (payloads reduced to their frames)."""
    (tmp_path / "checkpoints").mkdir()
    for frames in (1000, 2000, 3000):
        torch.save({"frames": frames}, tmp_path / "checkpoints" / f"checkpoint_{frames:012d}.pt")
    torch.save({"frames": 3000}, tmp_path / "final.pt")
    (tmp_path / "checkpoints" / "notes.pt").write_bytes(b"")  # not a numbered checkpoint: ignored
    return tmp_path


def frames_of(paths):
    return [torch.load(path, weights_only=True)["frames"] for path in paths]


def test_earlier_checkpoints_are_the_newest_before_the_checkpoints_frames(run_dir):
    assert frames_of(earlier_checkpoints(run_dir / "final.pt", 2)) == [2000, 1000]  # not 3000: final.pt's own
    assert frames_of(earlier_checkpoints(run_dir / "final.pt", 1)) == [2000]
    assert frames_of(earlier_checkpoints(run_dir / "checkpoints" / "checkpoint_000000002000.pt", 1)) == [1000]
    assert earlier_checkpoints(run_dir / "final.pt", 0) == []


def test_asking_for_more_earlier_checkpoints_than_the_run_kept_names_pool_earlier(run_dir):
    with pytest.raises(ConfigError, match=r"pool_earlier=3: .*final.pt' \(3000 frames\) has 2 earlier"):
        earlier_checkpoints(run_dir / "final.pt", 3)
    with pytest.raises(ConfigError, match="pool_earlier=1: .* has 0 earlier"):
        earlier_checkpoints(run_dir / "checkpoints" / "checkpoint_000000001000.pt", 1)


def test_pooled_cells_hold_every_parts_episodes_in_order():
    first = {"none": {"agent": {"return": torch.tensor([1.0, 2.0]), "length": torch.tensor([200, 200])}}}
    second = {"none": {"agent": {"return": torch.tensor([3.0]), "length": torch.tensor([150])}}}
    pooled = pool_cells([first, second])
    assert torch.equal(pooled["none"]["agent"]["return"], torch.tensor([1.0, 2.0, 3.0]))
    assert torch.equal(pooled["none"]["agent"]["length"], torch.tensor([200, 200, 150]))


def test_each_pooled_checkpoint_plays_layouts_apart_from_the_benchmarks_seeds():
    seeds = {pooled_seed(seed, index) for seed in range(5) for index in range(3)}
    assert len(seeds) == 15 and pooled_seed(2, 0) == 2
