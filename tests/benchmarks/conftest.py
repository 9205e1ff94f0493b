"""Fixtures of the benchmark scripts' tests."""

from pathlib import Path

import pytest

from bikkle_rl.training import train


@pytest.fixture
def tiny_gaze_run(compose_train):
    """``tiny_gaze_run(run_dir, *overrides)`` -> the final checkpoint of a 512-frame run on the gaze-value arena
    with its gaze mixture."""

    def run(run_dir: Path, *overrides: str) -> Path:
        train(compose_train(run_dir, "env=gaze_value", "total_frames=512", "evaluation.protocol=gaze-value",
                            "evaluation.episodes=4", "evaluation.curve_episodes=4", *overrides), run_dir)
        return run_dir / "final.pt"

    return run
