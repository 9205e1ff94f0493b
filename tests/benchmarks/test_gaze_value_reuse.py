"""The gaze-value benchmark's ``--reuse``: a saved run is read instead of retrained only if it was trained with the
benchmark's settings, a setting added since (at its default) included."""

import importlib.util
from pathlib import Path

import pytest

from bikkle_rl.checkpoint import save_checkpoint
from bikkle_rl.envs.stack import plain_config

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "gaze_value.py"


@pytest.fixture(scope="module")
def gaze_value():
    spec = importlib.util.spec_from_file_location("gaze_value_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def saved_run(gaze_value, tmp_path: Path, *overrides: str, edit=None) -> Path:
    """A checkpoint holding only the config of a train run composed with ``overrides`` (then ``edit``-ed)."""
    config = plain_config(gaze_value.compose_config("train", ["env=gaze_value", "model=transformer", "seed=1",
                                                             f"logger.log_dir={tmp_path}", *overrides]))
    if edit:
        edit(config)
    return save_checkpoint(tmp_path / "final.pt", {"config": config})


def wanted(gaze_value, tmp_path: Path):
    return gaze_value.compose_config("train", ["env=gaze_value", "model=transformer", "seed=1",
                                              f"logger.log_dir={tmp_path}"])


def test_a_run_with_the_same_settings_is_reused(gaze_value, tmp_path):
    gaze_value.check_reusable(saved_run(gaze_value, tmp_path), wanted(gaze_value, tmp_path))


def test_a_run_saved_before_a_setting_was_added_is_reused(gaze_value, tmp_path):
    def older(config):
        del config["algo"]["optim"]["warmup"]
        del config["model"]["gaze_token"]

    gaze_value.check_reusable(saved_run(gaze_value, tmp_path, edit=older), wanted(gaze_value, tmp_path))


@pytest.mark.parametrize("override, setting", [("seed=2", "seed"), ("model.gaze_adapter=8", "model"),
                                               ("algo.optim.warmup=0.1", "algo"), ("gaze=uniform", "gaze")])
def test_a_run_with_other_settings_is_refused_by_name(gaze_value, tmp_path, override, setting):
    with pytest.raises(ValueError, match=rf"--reuse: .*final.pt was trained with other \['{setting}'\] settings"):
        gaze_value.check_reusable(saved_run(gaze_value, tmp_path, override), wanted(gaze_value, tmp_path))
