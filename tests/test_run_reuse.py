"""Reusing a run already in a directory: read only if it was trained with the settings asked for, a setting added
since (at its default) included; a stopped run, or one whose frame budget is raised, continues from its
checkpoints."""

from pathlib import Path

import pytest

from bikkle_rl.checkpoint import save_checkpoint
from bikkle_rl.conf import compose_config
from bikkle_rl.plain_config import plain_config
from bikkle_rl.run_reuse import reusable_checkpoint

GAZE_VALUE_RUN = ["env=gaze_value", "model=transformer", "seed=1"]


def wanted(run_dir: Path, *overrides: str):
    """The train config asked for: a gaze-value transformer run writing into ``run_dir``."""
    return compose_config("train", [*GAZE_VALUE_RUN, f"logger.log_dir={run_dir}", *overrides])


def saved_run(run_dir: Path, *overrides: str, edit=None) -> Path:
    """A ``final.pt`` holding only the config of a train run composed with ``overrides`` (then ``edit``-ed)."""
    config = plain_config(wanted(run_dir, *overrides))
    if edit:
        edit(config)
    return save_checkpoint(run_dir / "final.pt", {"config": config})


def test_an_empty_directory_has_nothing_to_reuse(tmp_path):
    assert reusable_checkpoint(tmp_path, wanted(tmp_path)) == (None, False)


def test_a_run_with_the_same_settings_is_reused(tmp_path):
    final = saved_run(tmp_path)
    assert reusable_checkpoint(tmp_path, wanted(tmp_path)) == (final, True)


def test_a_run_saved_before_a_setting_was_added_is_reused(tmp_path):
    def older(config):
        del config["algo"]["optim"]["warmup"]
        del config["model"]["gaze_token"]

    final = saved_run(tmp_path, edit=older)
    assert reusable_checkpoint(tmp_path, wanted(tmp_path)) == (final, True)


@pytest.mark.parametrize("override, setting", [("seed=2", "seed"), ("model.gaze_adapter=8", "model"),
                                               ("algo.optim.warmup=0.1", "algo"), ("gaze=uniform", "gaze")])
def test_a_run_with_other_settings_is_refused_by_name(tmp_path, override, setting):
    saved_run(tmp_path, override)
    with pytest.raises(ValueError, match=rf"final.pt was trained with other \['{setting}'\] settings"):
        reusable_checkpoint(tmp_path, wanted(tmp_path))


def test_a_run_trained_for_more_frames_is_refused(tmp_path):
    saved_run(tmp_path, "total_frames=2000000000")
    with pytest.raises(ValueError, match=r"final.pt was trained for 2000000000 frames, more than .* 1000000000"):
        reusable_checkpoint(tmp_path, wanted(tmp_path, "total_frames=1000000000"))


def test_a_stopped_run_continues_from_its_newest_checkpoint_and_a_raised_budget_from_final(tmp_path):
    config = plain_config(wanted(tmp_path, "total_frames=4096"))
    for frames in (1024, 2048):
        save_checkpoint(tmp_path / "checkpoints" / f"checkpoint_{frames:012d}.pt", {"config": config})
    newest = tmp_path / "checkpoints" / "checkpoint_000000002048.pt"
    assert reusable_checkpoint(tmp_path, wanted(tmp_path, "total_frames=4096")) == (newest, False)
    final = save_checkpoint(tmp_path / "final.pt", {"config": config})
    assert reusable_checkpoint(tmp_path, wanted(tmp_path, "total_frames=8192")) == (final, False)
