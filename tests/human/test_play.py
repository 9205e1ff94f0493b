"""The play loop, headless (SDL dummy video driver) on simulated time, with scripted input."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tensordict.nn import TensorDictModule
from torchrl.envs import TransformedEnv

from bikkle_rl.checkpoint import save_checkpoint
from bikkle_rl.envs import BikkleConfig, BikkleEnv
from bikkle_rl.envs.transforms import GazeInjection
from bikkle_rl.experiment import checkpoint_payload, make_algorithm, make_train_env
from bikkle_rl.gaze.mouse import MouseGaze
from bikkle_rl.gaze.replay import ReplayGaze
from bikkle_rl.gaze.synthetic import NoGaze
from bikkle_rl.human.cli import main
from bikkle_rl.human.play import PlayConfig, PlaySession, SimulatedPacer, make_play_env, use_gaze_source
from bikkle_rl.recording import load_recording, save_recording

pygame = pytest.importorskip("pygame")

ARENA_PX, HUD_PX = 64, 16
CONFIG = BikkleConfig(num_pink=2, num_blue=1, episode_mode="continuing")


@pytest.fixture(autouse=True)
def headless(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")


def play_config(**overrides) -> PlayConfig:
    fields = {"step_rate_hz": 10.0, "frame_rate_hz": 60.0, "countdown_s": 0.5, "max_episodes": None,
              "arena_px": ARENA_PX, "hud_px": HUD_PX}
    return PlayConfig(**{**fields, **overrides})


def scripted(events: dict[int, list[tuple[int, int]]]):
    """An ``on_frame`` hook posting ``(event type, key)`` events on the given frames."""

    def on_frame(frame: int) -> None:
        for kind, key in events.get(frame, []):
            pygame.event.post(pygame.event.Event(kind, key=key))

    return on_frame


def pointer_for(points: list):
    """A pointer that returns the window pixel of the arena points in turn (None: not over the window)."""
    calls = iter(points)

    def pointer():
        point = next(calls)
        return None if point is None else (point[0] * ARENA_PX, HUD_PX + (1 - point[1]) * ARENA_PX)

    return pointer


def test_keyboard_play_steps_at_the_fixed_rate_and_records_everything(tmp_path):
    gaze_points = [(0.25, 0.75)] * 4 + [None] * 5  # one read at reset and one per step
    source = MouseGaze(pointer=pointer_for(gaze_points))
    env = make_play_env(CONFIG, source, seed=3)
    pacer = SimulatedPacer(60.0, scripted({0: [(pygame.KEYDOWN, pygame.K_RIGHT)], 60: [(pygame.KEYUP, pygame.K_RIGHT)]}))
    recording = PlaySession(env, config=play_config(max_steps=8), pacer=pacer, seed=3).run()

    assert recording.num_steps == 8
    # countdown 0.5 s, then a step every 0.1 s, whatever the 60 Hz frames did
    expected_times = 0.5 + 0.1 * torch.arange(8, dtype=torch.float64)
    torch.testing.assert_close(torch.as_tensor(recording["time"]), expected_times, atol=1 / 60, rtol=0)
    assert 0.5 * 60 + 7 * 6 <= pacer.frame <= 0.5 * 60 + 7 * 6 + 2
    actions = torch.as_tensor(recording["action"])
    assert actions[0].tolist() == [1.0, 0.0] and actions[-1].tolist() == [0.0, 0.0]
    released = int((actions[:, 0] == 0).nonzero()[0])
    assert 5 <= released <= 6 and (actions[released:] == 0).all() and (actions[:released, 0] == 1).all()
    assert recording["gaze_valid"].tolist() == [True] * 4 + [False] * 4
    torch.testing.assert_close(torch.as_tensor(recording["gaze"][:4]), torch.tensor([[0.25, 0.75]] * 4))
    assert (recording["gaze"][4:] == 0).all() and (recording["gaze_latency"] == 0).all()
    assert recording["episode"].tolist() == [0] * 8 and recording["episode_step"].tolist() == list(range(8))

    loaded = load_recording(save_recording(recording, tmp_path / "session.npz"))
    assert loaded.metadata["seed"] == 3 and loaded.metadata["driver"] == "keyboard"
    assert loaded.metadata["gaze_source"].startswith("MouseGaze(")


def test_recorded_states_and_actions_reproduce_the_session():
    env = make_play_env(CONFIG, MouseGaze(pointer=lambda: None), seed=5)
    pacer = SimulatedPacer(60.0, scripted({0: [(pygame.KEYDOWN, pygame.K_UP), (pygame.KEYDOWN, pygame.K_LEFT)]}))
    recording = PlaySession(env, config=play_config(max_steps=6, countdown_s=0.0), pacer=pacer, seed=5).run()
    assert (recording["action"] == [[-1.0, 1.0]] * 6).all()
    replay_env = BikkleEnv(1, config=recording.config, seed=recording.metadata["seed"])
    td = replay_env.reset()
    for step in range(recording.num_steps):
        state = replay_env.get_state()
        torch.testing.assert_close(state["agent_pos"][0], torch.as_tensor(recording["agent_pos"][step]))
        torch.testing.assert_close(state["pellet_pos"][0], torch.as_tensor(recording["pellet_pos"][step]))
        assert int(state["round_step"][0]) == recording["round_step"][step]
        td["action"] = torch.as_tensor(recording["action"][step])[None]
        td = replay_env.step(td)
        assert float(td["next", "reward"]) == pytest.approx(float(recording["reward"][step]))
        td = td["next"]


def test_a_policy_drives_from_the_persons_gaze_and_episodes_restart_after_a_countdown():
    # four reads an episode: at the reset and after each of its three steps (the last one unused)
    source = MouseGaze(pointer=pointer_for([(0.9, 0.1), None, (0.1, 0.9), (0.5, 0.5)] * 2))
    env = make_play_env(BikkleConfig(num_pink=2, num_blue=1, episode_mode="continuing", max_steps=3), source, 1)
    toward_gaze = TensorDictModule(lambda gaze, agent_pos: ((gaze - agent_pos) * 10).clamp(-1, 1),
                                   in_keys=["gaze", "agent_pos"], out_keys=["action"])
    session = PlaySession(env, toward_gaze, play_config(max_episodes=2), pacer=SimulatedPacer(60.0), seed=1)
    recording = session.run()

    assert recording.num_steps == 6 and recording["episode"].tolist() == [0, 0, 0, 1, 1, 1]
    assert recording["done"].tolist() == [False, False, True] * 2 and len(session.scores) == 2
    gaze, agent = torch.as_tensor(recording["gaze"]), torch.as_tensor(recording["agent_pos"])
    torch.testing.assert_close(torch.as_tensor(recording["action"]), ((gaze - agent) * 10).clamp(-1, 1))
    assert recording["gaze_valid"].tolist() == [True, False, True] * 2
    times = recording["time"]
    assert times[3] - times[2] == pytest.approx(0.5, abs=1 / 60)  # the second episode's countdown
    assert recording.metadata["driver"] == "function"  # the lambda's type, absent a name


def test_recorded_gaze_replays_to_the_same_sequence(tmp_path):
    points = [(0.2 + 0.05 * i, 0.8 - 0.05 * i) if i % 3 else None for i in range(12)]
    env = make_play_env(CONFIG, MouseGaze(pointer=pointer_for(points)), seed=7)
    pacer = SimulatedPacer(60.0, scripted({0: [(pygame.KEYDOWN, pygame.K_DOWN)]}))
    recording = PlaySession(env, config=play_config(max_steps=10), pacer=pacer, seed=7).run()
    path = save_recording(recording, tmp_path / "gaze.npz")
    replay = TransformedEnv(BikkleEnv(1, config=CONFIG, seed=7), GazeInjection(ReplayGaze(path)))
    td = replay.reset()
    for step in range(recording.num_steps):
        assert bool(td["gaze_valid"]) == recording["gaze_valid"][step]
        torch.testing.assert_close(td["gaze"][0], torch.as_tensor(recording["gaze"][step]))
        td["action"] = torch.as_tensor(recording["action"][step])[None]
        td = replay.step(td)["next"]


def test_escape_quits_and_keeps_the_steps_played():
    env = make_play_env(CONFIG, NoGaze(), seed=0)
    pacer = SimulatedPacer(60.0, scripted({40: [(pygame.KEYDOWN, pygame.K_ESCAPE)]}))
    recording = PlaySession(env, config=play_config(), pacer=pacer).run()
    assert recording.num_steps == 2 and not recording["gaze_valid"].any()  # steps at 0.5 s and 0.6 s, Escape at 0.67 s


def test_use_gaze_source_needs_an_env_with_gaze():
    with pytest.raises(ValueError, match="no GazeInjection"):
        use_gaze_source(TransformedEnv(BikkleEnv(1)), NoGaze())
    with pytest.raises(ValueError, match="one arena"):
        PlaySession(TransformedEnv(BikkleEnv(2), GazeInjection(NoGaze())))


def test_the_command_line_plays_a_greedy_episode_and_saves_it(tmp_path, capsys):
    path = tmp_path / "cli.npz"
    main(["--policy", "greedy", "--gaze", "none", "--episodes", "1", "--env", "max_steps=4", "--countdown", "0",
          "--step-rate", "1000", "--size", "64", "--seed", "2", "--record", str(path)])
    recording = load_recording(path)
    assert recording.num_steps == 4 and recording.metadata["driver"] == "greedy"
    assert recording.config.num_pink == 3 and recording.metadata["seed"] == 2
    assert "played 4 steps" in capsys.readouterr().out


@pytest.fixture
def episodic_agent(compose_train, tmp_path) -> Path:
    """An untrained agent of the default training arena (1 pink + 1 blue, episodic, shaped), evaluated on the
    seed protocol: its checkpoint's arena and evaluation arena differ."""
    cfg = compose_train(tmp_path)
    assert cfg.env.episode_mode == "episodic" and cfg.evaluation.protocol == "seed"
    device = torch.device("cpu")
    env = make_train_env(cfg, device, seed=0)
    return save_checkpoint(tmp_path / "final.pt", checkpoint_payload(cfg, make_algorithm(cfg, env, device), env, 0, 0))


FAST = ["--gaze", "none", "--episodes", "1", "--countdown", "0", "--step-rate", "1000", "--frame-rate", "1000",
        "--size", "64", "--seed", "1"]


def test_a_checkpoint_plays_its_evaluation_protocol_unless_told_to_play_its_training_arena(episodic_agent,
                                                                                            tmp_path):
    main(["--checkpoint", str(episodic_agent), *FAST, "--record", str(tmp_path / "evaluation.npz")])
    evaluation = load_recording(tmp_path / "evaluation.npz")
    config = evaluation.config
    assert (config.episode_mode, config.max_steps, config.shaping, config.num_pink) == ("continuing", 200, 0.0, 1)
    assert evaluation.num_steps == 200 and evaluation["done"].tolist() == [False] * 199 + [True]

    main(["--checkpoint", str(episodic_agent), *FAST, "--arena", "training", "--env", "max_steps=50",
          "--record", str(tmp_path / "training.npz")])
    training = load_recording(tmp_path / "training.npz")
    assert (training.config.episode_mode, training.config.shaping) == ("episodic", 0.02)

    with pytest.raises(SystemExit, match="gaze-value.*pellet slots"):
        main(["--checkpoint", str(episodic_agent), *FAST, "--protocol", "gaze-value"])
    with pytest.raises(SystemExit, match="--protocol"):
        main(["--checkpoint", str(episodic_agent), *FAST, "--arena", "training", "--protocol", "seed"])
    with pytest.raises(SystemExit, match="--checkpoint"):
        main(["--policy", "greedy", *FAST, "--protocol", "seed"])
    with pytest.raises(SystemExit, match="finetune-override"):
        main(["--finetune", "--checkpoint", str(episodic_agent), *FAST, "--arena", "training"])


def test_a_session_is_saved_under_outputs_by_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    main(["--policy", "greedy", *FAST, "--env", "max_steps=3"])
    saved = list((tmp_path / "outputs" / "recordings").glob("play-*.npz"))
    assert len(saved) == 1 and load_recording(saved[0]).num_steps == 3
    assert not (tmp_path / "recordings").exists()
