"""ReplayGaze: a recording's gaze, step by step, per episode, in every arena of a batch."""

from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict
from torchrl.envs import TransformedEnv

from bikkle_rl.envs import BikkleEnv
from bikkle_rl.envs.stack import make_env
from bikkle_rl.envs.transforms import GazeInjection
from bikkle_rl.evaluation.protocols import evaluation_stack
from bikkle_rl.gaze.replay import ReplayGaze
from bikkle_rl.human.recording import load_recording


def observation(num: int) -> TensorDict:
    return TensorDict(agent_pos=torch.zeros(num, 2), batch_size=[num])


def play_episode(source: ReplayGaze, num: int, steps: int, mask=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Resets (``mask``) then samples ``steps`` times: gaze [steps, N, 2], valid [steps, N]."""
    td = observation(num)
    source.reset(td, mask, None)
    samples = [source.sample(td, None, None) for _ in range(steps)]
    return torch.stack([g for g, _ in samples]), torch.stack([v[:, 0] for _, v in samples])


@pytest.fixture
def recording(tmp_path, write_session):
    return load_recording(write_session((4, 3)).save(tmp_path / "session.npz"))


def recorded(recording, episode: int) -> tuple[torch.Tensor, torch.Tensor]:
    rows = torch.as_tensor(recording["episode"]) == episode
    return torch.as_tensor(recording["gaze"])[rows], torch.as_tensor(recording["gaze_valid"])[rows]


def test_replays_each_episode_from_its_start_then_goes_invalid(recording):
    source = ReplayGaze(recording)
    for episode, length in ((0, 4), (1, 3), (0, 4)):  # the third episode wraps around to the first
        gaze, valid = play_episode(source, 1, 6)
        want_gaze, want_valid = recorded(recording, episode)
        torch.testing.assert_close(gaze[:length, 0], want_gaze)
        assert valid[:length, 0].tolist() == want_valid.tolist()
        assert not valid[length:].any() and (gaze[length:] == 0).all()


def test_shared_plays_the_same_sequence_in_every_arena_and_staggered_spreads_episodes(recording):
    shared, _ = play_episode(ReplayGaze(recording, episodes="shared"), 3, 3)
    assert (shared == shared[:, :1]).all()
    source = ReplayGaze(recording, episodes="staggered")
    staggered, _ = play_episode(source, 3, 3)
    for arena, episode in enumerate((0, 1, 0)):
        torch.testing.assert_close(staggered[:, arena], recorded(recording, episode)[0][:3])
    second, _ = play_episode(source, 3, 3)  # arena i's second episode: (i + 3) mod 2
    for arena, episode in enumerate((1, 0, 1)):
        torch.testing.assert_close(second[:, arena], recorded(recording, episode)[0][:3])


def test_a_partial_reset_restarts_only_the_masked_arenas(recording):
    source = ReplayGaze(recording)
    play_episode(source, 2, 2)
    gaze, _ = play_episode(source, 2, 1, mask=torch.tensor([False, True]))
    episode_0, _ = recorded(recording, 0)
    episode_1, _ = recorded(recording, 1)
    torch.testing.assert_close(gaze[0, 0], episode_0[2])  # arena 0 carries on
    torch.testing.assert_close(gaze[0, 1], episode_1[0])  # arena 1 starts its second episode


def test_inside_gaze_injection_the_recorded_validity_is_kept(recording):
    env = TransformedEnv(BikkleEnv(1, seed=0, episode_mode="continuing"), GazeInjection(ReplayGaze(recording)))
    rollout = env.rollout(3)
    want_gaze, want_valid = recorded(recording, 0)
    assert rollout["gaze_valid"][0, :, 0].tolist() == want_valid[:3].tolist()
    torch.testing.assert_close(rollout["gaze"][0], want_gaze[:3] * want_valid[:3, None])


def test_bad_arguments_are_named(recording, tmp_path):
    with pytest.raises(ValueError, match="episodes must be one of"):
        ReplayGaze(recording, episodes="random")
    with pytest.raises(FileNotFoundError, match="nothing.npz"):
        ReplayGaze(tmp_path / "nothing.npz")


def test_a_recording_is_an_evaluation_scenario(tmp_path, write_session):
    path = write_session((4, 3)).save(tmp_path / "session.npz")
    recording = load_recording(path)
    stack = evaluation_stack({"env": {"num_pink": 1, "num_blue": 1}, "stack": "mlp"}, "seed", f"replay:{path}", 2)
    assert stack["gaze"] == {"source": "replay", "recording": str(path)}
    rollout = make_env(stack, seed=0).rollout(3)
    want_gaze, want_valid = recorded(recording, 0)
    assert rollout["gaze_valid"][:, :, 0].tolist() == [want_valid[:3].tolist()] * 2
