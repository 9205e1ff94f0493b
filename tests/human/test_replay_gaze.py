"""ReplayGaze: a recording's gaze, step by step, per episode, in every arena of a batch."""

from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict
from torchrl.envs import TransformedEnv

from bikkle_rl.envs import BikkleEnv
from bikkle_rl.envs.config import BikkleConfig
from bikkle_rl.envs.random import ArenaRNG
from bikkle_rl.envs.stack import make_env
from bikkle_rl.envs.transforms import GazeInjection
from bikkle_rl.evaluation.protocols import evaluation_stack, replay_scenario
from bikkle_rl.gaze import RealisticGaze
from bikkle_rl.gaze.replay import ALIGNMENTS, ReplayGaze
from bikkle_rl.human.simulate import simulate_recording
from bikkle_rl.recording import load_recording, save_recording


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
    assert stack["gaze"] == {"source": "replay", "path": str(path), "align": "step"}
    rollout = make_env(stack, seed=0).rollout(3)
    want_gaze, want_valid = recorded(recording, 0)
    assert rollout["gaze_valid"][:, :, 0].tolist() == [want_valid[:3].tolist()] * 2
    torch.testing.assert_close(rollout["gaze"], (want_gaze[:3] * want_valid[:3, None]).expand(2, -1, -1))


def arena_observation(pellets, kinds, high_value: int, mask=None) -> TensorDict:
    """A one-arena observation with the keys closed-loop replay reads."""
    num_pellets = len(pellets)
    return TensorDict({
        "agent_pos": torch.tensor([[0.5, 0.5]]),
        "pellet_kind": torch.tensor([kinds]),
        "pellet_mask": torch.ones(1, num_pellets, dtype=torch.bool) if mask is None else torch.tensor([mask]),
        "privileged": {"pellet_pos": torch.tensor([pellets]),
                       "is_high_value": torch.nn.functional.one_hot(torch.tensor([high_value]), num_pellets).bool()},
    }, batch_size=[1])


@pytest.fixture
def looks(write_session):
    """A recording of one episode in a 3 pink + 1 blue arena (slot 0 high-value): the person looks at the
    high-value pink, at pink 1 for two steps, at pink 2, at the blue, at nothing, then the tracker loses the eye."""
    writer = write_session((0,))
    writer.metadata["config"] = {"num_pink": 3, "num_blue": 1}
    pellets = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]
    gazes = [([0.12, 0.1], True), ([0.9, 0.13], True), ([0.9, 0.07], True), ([0.88, 0.9], True),
             ([0.1, 0.85], True), ([0.5, 0.5], True), ([0.0, 0.0], False)]
    for step, (gaze, valid) in enumerate(gazes):
        writer.append(time=0.1 * step, episode=0, episode_step=step, agent_pos=[0.5, 0.5], pellet_pos=pellets,
                      pellet_kind=[0, 0, 0, 1], pellet_mask=[True] * 4, high_value=0, round_step=step,
                      action=[0.0, 0.0], reward=0.0, done=False, gaze=gaze, gaze_valid=valid, gaze_latency=0.0)
    return writer.to_recording()


def test_closed_loop_replay_plays_each_look_on_the_pellet_in_the_same_role(looks):
    # the current arena: another layout, the high-value pink in slot 2, the blue in slot 0
    pellets = [[0.5, 0.2], [0.3, 0.6], [0.7, 0.6], [0.5, 0.9]]
    td = arena_observation(pellets, [1, 0, 0, 0], high_value=2)
    source = ReplayGaze(looks, align="pellet")
    generator = ArenaRNG(0)
    source.reset(td, None, generator)
    gaze, valid = zip(*(source.sample(td, None, generator) for _ in range(7)))
    gaze, valid = torch.cat(gaze), torch.cat(valid)[:, 0]
    assert valid.tolist() == [True] * 6 + [False]
    torch.testing.assert_close(gaze[0], torch.tensor([0.72, 0.6]))  # the high-value pink + the recorded offset
    other_pinks = torch.tensor([[0.3, 0.6], [0.5, 0.9]])
    first_look = gaze[1] - torch.tensor([0.0, 0.03])
    assert torch.isclose(first_look, other_pinks, atol=1e-6).all(-1).any()  # one of the other pinks
    torch.testing.assert_close(gaze[2] - torch.tensor([0.0, -0.03]), first_look)  # the same look stays on it
    assert torch.isclose(gaze[3] - torch.tensor([-0.02, 0.0]), other_pinks, atol=1e-6).all(-1).any()
    torch.testing.assert_close(gaze[4], torch.tensor([0.5, 0.15]))  # the blue - 0.05 in y
    torch.testing.assert_close(gaze[5], torch.tensor([0.5, 0.5]))  # off any pellet: the recorded point
    assert (gaze[6] == 0).all()


def test_a_new_look_at_another_pink_draws_again_and_both_pinks_get_looked_at(looks):
    pellets = [[0.5, 0.2], [0.3, 0.6], [0.7, 0.6], [0.5, 0.9]]
    td = arena_observation(pellets, [1, 0, 0, 0], high_value=2)
    source = ReplayGaze(looks, align="pellet")
    generator = ArenaRNG(1)
    seen = set()
    for _ in range(20):
        source.reset(td, None, generator)
        gaze = torch.cat([source.sample(td, None, generator)[0] for _ in range(2)])
        seen.add(round(float(gaze[1, 0]), 3))
    assert seen == {0.3, 0.5}


def test_a_role_the_arena_never_holds_is_refused_naming_the_file(looks, tmp_path):
    path = save_recording(looks, tmp_path / "person.npz")
    one_pink = arena_observation([[0.5, 0.2], [0.3, 0.6]], [0, 1], high_value=0)
    with pytest.raises(ValueError, match=r"person\.npz cannot be replayed with align='pellet' here: it looks at "
                                         r"pink pellets, and this arena never holds a second pink"):
        ReplayGaze(path, align="pellet").reset(one_pink, None, ArenaRNG())
    no_blue = arena_observation([[0.5, 0.2], [0.3, 0.6]], [0, 0], high_value=0)
    with pytest.raises(ValueError, match="never holds a blue"):
        ReplayGaze(path, align="pellet").reset(no_blue, None, ArenaRNG())
    ReplayGaze(path, align="step").reset(one_pink, None, ArenaRNG())  # open loop maps nothing
    with pytest.raises(ValueError, match="align must be one of"):
        ReplayGaze(path, align="object")


def test_several_files_replay_as_one_list_of_episodes(tmp_path, write_session):
    first = write_session((4, 3), seed=0).save(tmp_path / "a.npz")
    second = write_session((5,), seed=1).save(tmp_path / "b.npz")
    source = ReplayGaze([first, second])
    assert source.num_recorded_episodes == 3
    for path, episode, length in ((first, 0, 4), (first, 1, 3), (second, 0, 5)):
        gaze, _ = play_episode(source, 1, length)
        torch.testing.assert_close(gaze[:, 0], recorded(load_recording(path), episode)[0])


def test_closed_loop_replay_keeps_a_simulated_persons_looks_in_another_arena():
    """Realistic gaze recorded in some arenas, replayed in arenas seeded otherwise: closed loop, the gaze rests
    on the current high-value pink as often as the person looked at theirs; open loop, at chance."""
    config = BikkleConfig(num_pink=3, num_blue=3, episode_mode="continuing", max_steps=100)
    person = simulate_recording(config, RealisticGaze(high_value_bias=0.7, latency_steps=0), num_arenas=8, seed=0)
    recorded_share = person["gaze_target_high_value"][person["gaze_valid"]].mean()
    shares = {}
    for align in ALIGNMENTS:
        other = simulate_recording(config, ReplayGaze(person, episodes="staggered", align=align), driver="greedy",
                                   num_arenas=8, seed=99)
        shares[align] = other["gaze_target_high_value"][other["gaze_valid"]].mean()
    assert 0.55 < recorded_share < 0.8
    assert abs(shares["pellet"] - recorded_share) < 0.05
    assert shares["step"] < 0.3


def test_closed_loop_replay_of_several_files_is_an_evaluation_scenario(tmp_path, looks):
    paths = [save_recording(looks, tmp_path / name) for name in ("a.npz", "b.npz")]
    scenario = replay_scenario(paths)
    assert scenario == f"replay-pellet:{paths[0]}+{paths[1]}"
    stack = evaluation_stack({"env": {"num_pink": 3, "num_blue": 3}, "stack": "transformer"}, "gaze-value",
                             scenario, 4)
    assert stack["gaze"] == {"source": "replay", "path": [str(p) for p in paths], "align": "pellet",
                             "episodes": "staggered"}
    rollout = make_env(stack, seed=0).rollout(7)
    assert rollout["gaze_valid"][:, :, 0].tolist() == [[True] * 6 + [False]] * 4
