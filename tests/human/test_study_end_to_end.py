"""A whole study without a person: a simulated participant watches ``bikkle-play --finetune`` over LSL, then the
session's recording is split, a gaze model fitted to its first part, the agent fine-tuned offline on that model
and evaluated on the held-out part, replayed closed loop."""

from __future__ import annotations

import uuid

import pytest

from bikkle_rl.conf import compose_config
from bikkle_rl.finetune import run_finetune
from bikkle_rl.gaze.fit import fit_gaze
from bikkle_rl.gaze.fitted import save_fitted
from bikkle_rl.human.cli import main as play_main
from bikkle_rl.human.participant import Participant
from bikkle_rl.recording import load_recording, save_recording, select_episodes

pytest.importorskip("pylsl")
pytest.importorskip("pygame")


@pytest.mark.slow
def test_participant_live_finetune_fit_offline_finetune_and_held_out_evaluation(pretrained_gaze_agent, tmp_path,
                                                                              monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    tag = uuid.uuid4().hex
    session_dir = tmp_path / "live"
    # the play runs at 200 steps/s to keep the test short; the eye model takes each shown state as 100 ms (the
    # play window's default rate), so its fixations span 2-4 states and 2200 of them are enough to fit it
    participant = Participant(gaze_params={"step_ms": 100.0}, latency_s=0.03, seed=0, marker_source_id=f"markers-{tag}",
                              gaze_name=f"gaze-{tag}", gaze_source_id=f"gaze-{tag}").start(duration_s=120)
    try:
        play_main(["--finetune", "--checkpoint", str(pretrained_gaze_agent), "--gaze", "lsl", "--lsl-name",
                   f"gaze-{tag}", "--lsl-markers", f"markers-{tag}", "--session-dir", str(session_dir),
                   "--eval-episodes", "1", "--finetune-episodes", "10", "--step-rate", "200",
                   "--frame-rate", "200",
                   "--countdown", "0", "--size", "32", "--seed", "0"])
    finally:
        participant.stop()
    assert participant.states_seen > 2200 and (session_dir / "returns.png").is_file()  # it connects after a few

    recording = load_recording(session_dir / "recording.npz")
    assert recording.num_episodes == 12 and recording.num_steps == 2400
    valid = recording["gaze_valid"]
    assert valid.mean() > 0.5  # the model's tracker has the eye 83 % of the time
    assert recording["gaze_target_high_value"][valid].mean() > 0.35  # it looks at the high-value pink 60 % of fixations

    train = save_recording(select_episodes(recording, range(11)), tmp_path / "train.npz")
    heldout = save_recording(select_episodes(recording, [11]), tmp_path / "heldout.npz")
    # one short session with an untrained driver leaves few looks at pellets clear of walls and neighbours
    fit = fit_gaze([load_recording(train)], step_ms=100.0, bootstrap=20, min_counts={"offset_values": 100})
    assert 0.3 < fit.high_value_bias.value < 0.9
    person = save_fitted(fit, tmp_path / "person.yaml", [train])

    cfg = compose_config("finetune_gaze", [
        f"checkpoint={pretrained_gaze_agent}", "gaze=fitted", f"gaze.path={person}", f"heldout=[{heldout}]",
        "total_frames=256", "algo.optim.warmup=0.0", "evaluation.scenarios=[none]", "evaluation.episodes=4",
        "evaluation.references=[greedy]", f"out_dir={tmp_path / 'offline'}"])
    results = run_finetune(cfg)["results"]
    assert set(results[f"replay-pellet:{heldout}"]) == {"before", "after", "greedy"}
