"""Live gaze-only fine-tuning in the play window: headless, on simulated time, with gaze that points at the
high-value pink; the session checkpoints every episode and resumes after a crash."""

from __future__ import annotations

import pytest
import torch

from bikkle_rl.checkpoint import load_checkpoint
from bikkle_rl.gaze.mouse import MouseGaze
from bikkle_rl.human.live_finetune import LiveFinetune, LiveFinetuneConfig, live_train_config, make_live_env
from bikkle_rl.human.play import PlayConfig, PlaySession, SimulatedPacer
from bikkle_rl.modules import gaze_parameters
from bikkle_rl.recording import load_recording

pygame = pytest.importorskip("pygame")


@pytest.fixture(autouse=True)
def headless(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")


class PointsAtHighValue:
    """A pointer (window pixels) on the high-value pink of the env the session plays: a person who knows it."""

    def __init__(self):
        self.env = self.source = None

    def __call__(self):
        state = self.env.base_env.get_state()
        point = state["pellet_pos"][0, state["high_value"][0]]
        return tuple(self.source.geometry.arena_to_pixels(point).tolist())


def session(checkpoint, session_dir, resume=False, max_episodes=None):
    """A learner and its play session: 1 episode before, 2 training, 1 after; 10 steps a second, a frame a step."""
    pointer = PointsAtHighValue()
    source = MouseGaze(pointer=pointer)
    train_cfg = live_train_config(checkpoint, session_dir, ["algo.optim.warmup=0.0", "lr=0.01"])
    env = make_live_env(train_cfg, checkpoint, source, seed=0)
    pointer.env, pointer.source = env, source
    learner = LiveFinetune(train_cfg, checkpoint, env, LiveFinetuneConfig(1, 2), session_dir, resume)
    play = PlayConfig(step_rate_hz=10, frame_rate_hz=10, countdown_s=0, arena_px=32, hud_px=8,
                      max_episodes=max_episodes or learner.config.total_episodes)
    return learner, PlaySession(learner.env, config=play, pacer=SimulatedPacer(10), seed=0, learner=learner)


def test_live_finetune_trains_only_gaze_parameters_and_resumes_after_a_crash(pretrained_gaze_agent, tmp_path):
    session_dir = tmp_path / "session"
    learner, play = session(pretrained_gaze_agent, session_dir, max_episodes=3)  # "crashes" after the training
    play.run()
    learner.wait()  # the last training episode's update ends and saves the session once more
    saved = load_checkpoint(session_dir / "live_finetune.pt")
    assert saved["progress"]["episode"] == 3 and saved["progress"]["phases"] == ["before", "train", "train"]
    assert saved["progress"]["updates"] == 2
    assert load_recording(session_dir / "recording.npz").num_episodes == 3

    learner, play = session(pretrained_gaze_agent, session_dir, resume=True)
    recording = play.run()
    learner.wait()
    assert learner.progress.phases == ["before", "train", "train", "after"]
    assert learner.progress.returns[:3] == saved["progress"]["returns"]
    assert recording.num_episodes == 4 and recording.num_steps == 800
    assert recording["episode"].tolist() == [e for e in range(4) for _ in range(200)]
    assert recording["gaze_target_high_value"][recording["gaze_valid"]].all()  # the gaze the agent was fed

    pretrained = load_checkpoint(pretrained_gaze_agent)["algo"]["actor"]
    actor = learner.algo.actor
    gaze_ids = {id(p) for p in gaze_parameters(actor)}
    moved = {name: not torch.equal(p, pretrained[name]) for name, p in actor.named_parameters()}
    assert not any(moved[name] for name, p in actor.named_parameters() if id(p) not in gaze_ids)
    assert any(moved[name] for name, p in actor.named_parameters() if id(p) in gaze_ids)
    summary = learner.summary()
    assert summary["before"]["episodes"] == summary["after"]["episodes"] == 1
    assert summary["update_s"]["count"] == 2 and summary["waited_for_update_s"]["total"] >= 0


def test_a_resume_without_a_saved_session_is_refused(pretrained_gaze_agent, tmp_path):
    with pytest.raises(FileNotFoundError, match="no live fine-tune session to resume at .*live_finetune.pt"):
        session(pretrained_gaze_agent, tmp_path / "nothing", resume=True)
