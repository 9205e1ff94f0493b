"""GazeEvidence on hand-made observations (looks counted, forgotten, shared) and inside a sorted token stack."""

import pytest
import torch
from tensordict import TensorDict
from torchrl.envs import Compose, TransformedEnv
from torchrl.envs.utils import check_env_specs

from bikkle_rl.envs import BikkleEnv
from bikkle_rl.envs.keys import PRIVILEGED
from bikkle_rl.envs.transforms import GazeEvidence, GazeInjection, SortPellets, Tokenize
from bikkle_rl.gaze import CorrelatedGaze, OracleGaze, UniformGaze
from bikkle_rl.policies import make_reference_policy

AGENT = [0.5, 0.5]
PELLETS = [[0.9, 0.5], [0.5, 0.6], [0.2, 0.5]]  # A far right, B just above, C left


def observation(gaze=(0.5, 0.62), valid=True, age=0.0, pellets=PELLETS, mask=(True, True, True), round_step=25):
    """Two identical arenas: the agent, three pellets, the gaze (fresh at age 0) and the round's progress."""
    agent = torch.tensor(AGENT).expand(2, 2)
    return TensorDict({
        "agent_pos": agent,
        "pellet_rel": torch.tensor(pellets).expand(2, 3, 2) - agent[:, None],
        "pellet_mask": torch.tensor(mask).expand(2, 3),
        "round_progress": torch.full((2, 1), round_step / 100),
        "gaze": torch.tensor(gaze).expand(2, 2) * valid,
        "gaze_valid": torch.full((2, 1), valid),
        "gaze_age": torch.full((2, 1), age),
    }, batch_size=[2])


def shares(transform, *observations, reset=None):
    """The share after a reset on the first observation and a step on each next one."""
    out = transform._reset(reset, observations[0].clone())
    for obs in observations[1:]:
        out = transform._step(None, obs.clone())
    return out["pellet_gaze_share"]


def test_fresh_looks_go_to_the_nearest_pellet_and_held_or_absent_gaze_adds_none():
    near_b, near_a = observation(), observation(gaze=(0.85, 0.45))
    transform = GazeEvidence(prior=1.0)
    assert shares(transform, near_b)[0].tolist() == pytest.approx([0, 1 / 2, 0])
    steps = [near_b, observation(age=1.0), observation(valid=False), near_a]
    assert shares(transform, near_b, *steps)[0].tolist() == pytest.approx([1 / 4, 2 / 4, 0])
    assert shares(GazeEvidence(prior=3.0), near_b, near_b)[0].tolist() == pytest.approx([0, 2 / 5, 0])


def test_looks_are_forgotten_when_a_pellet_respawns_or_the_round_restarts():
    transform = GazeEvidence()
    near_b, near_a = observation(), observation(gaze=(0.85, 0.45))
    moved_b = [PELLETS[0], [0.1, 0.9], PELLETS[2]]
    assert shares(transform, near_b, near_a, observation(gaze=(0.2, 0.5), pellets=moved_b))[0].tolist() == \
        pytest.approx([1 / 3, 0, 1 / 3])  # B's look went with it; A keeps its own and C gets the new one
    assert shares(transform, near_b, near_a, observation(round_step=0))[0].tolist() == pytest.approx([0, 1 / 2, 0])


def test_absent_pellets_get_no_look_and_a_partial_reset_clears_only_its_arenas():
    transform = GazeEvidence()
    b_absent = observation(mask=(True, False, True))
    assert shares(transform, b_absent)[0].tolist() == pytest.approx([0, 0, 1 / 2])  # C is the nearest present
    shares(transform, observation(), observation())
    after = transform._reset(TensorDict({"_reset": torch.tensor([[True], [False]])}, [2]), observation())
    torch.testing.assert_close(after["pellet_gaze_share"], torch.tensor([[0, 1 / 2, 0], [0, 2 / 3, 0]]))


def collected(pellet: int | None, reward: float, high_value: bool = True, **kwargs) -> TensorDict:
    """The step after the agent took ``pellet`` (it respawned far away; None: it took nothing), earning ``reward``."""
    pellets = [list(p) for p in PELLETS]
    if pellet is not None:
        pellets[pellet] = [0.1, 0.1]
    obs = observation(pellets=pellets, **kwargs)
    obs["events", "high_value"] = torch.full((2, 1), int(high_value))
    obs["reward"] = torch.full((2, 1), reward)
    return obs


def track_record(*observations, reset=None) -> torch.Tensor:
    transform = GazeEvidence(track_record=True)
    out = transform._reset(reset, observations[0].clone())
    for obs in observations[1:]:
        out = transform._step(None, obs.clone())
    return out["gaze_track_record"][0]


def test_the_track_record_counts_reveals_and_the_hits_among_them():
    looks_on_b = observation()  # a fresh look on B
    hit = track_record(looks_on_b, collected(1, reward=4.0, valid=False))
    assert hit.tolist() == pytest.approx([1 / 2, 1 / 2])  # B led the looks and was the high-value pellet
    miss = track_record(looks_on_b, collected(0, reward=4.0, valid=False))
    assert miss.tolist() == pytest.approx([0, 1 / 2])  # A was the high-value pellet, the looks were on B
    a_look = collected(None, reward=0.0, high_value=False, gaze=(0.85, 0.45))
    both = track_record(looks_on_b, collected(1, reward=4.0, valid=False), a_look, collected(0, reward=4.0))
    assert both.tolist() == pytest.approx([2 / 3, 2 / 3])  # then a look on A, and A was the next one


def test_no_reveal_where_the_reward_does_not_show_it_and_a_reset_starts_the_record_over():
    looks_on_b = observation()
    late = collected(1, reward=1.0, valid=False)  # late in the round the high-value pellet pays as a pink
    plain_pink = collected(1, reward=1.0, high_value=False, valid=False)
    assert track_record(looks_on_b, late).tolist() == [0, 0]
    assert track_record(looks_on_b, plain_pink).tolist() == [0, 0]
    without_looks = track_record(observation(valid=False), collected(1, reward=4.0, valid=False))
    assert without_looks.tolist() == pytest.approx([0, 1 / 2])  # a reveal, but no look led to it
    transform = GazeEvidence(track_record=True)
    transform._reset(None, looks_on_b.clone())
    transform._step(None, collected(1, reward=4.0))
    after = transform._reset(TensorDict({"_reset": torch.tensor([[True], [False]])}, [2]), observation())
    torch.testing.assert_close(after["gaze_track_record"], torch.tensor([[0.0, 0.0], [1 / 2, 1 / 2]]))


def sorted_token_stack(source, track_record: bool = False, **env_options) -> TransformedEnv:
    base = BikkleEnv(num_envs=8, seed=0, num_pink=3, num_blue=3, **{"max_steps": 30, **env_options})
    return TransformedEnv(base, Compose(GazeInjection(source, hold=True, seed=0),
                                        GazeEvidence(track_record=track_record), SortPellets(), Tokenize()))


def test_the_share_follows_its_pellet_through_sorting_into_the_tokens():
    env = sorted_token_stack(OracleGaze())  # exact gaze on the high-value pellet at every step
    check_env_specs(env, break_when_any_done="both")
    rollout = env.rollout(60, break_when_any_done=False)["next"]
    share, high_value = rollout["pellet_gaze_share"], rollout[PRIVILEGED, "is_high_value"]
    assert torch.equal(share > 0, high_value)
    torch.testing.assert_close(rollout["tokens"][..., 1:7, 3], share * rollout["pellet_mask"])


def high_value_share(source) -> float:
    """The high-value pellet's mean share of the looks over a rollout of the sorted token stack under ``source``."""
    rollout = sorted_token_stack(source).rollout(60, break_when_any_done=False)["next"]
    return rollout["pellet_gaze_share"][rollout[PRIVILEGED, "is_high_value"]].mean().item()


def test_correlated_gaze_concentrates_the_evidence_where_uniform_gaze_does_not():
    assert high_value_share(CorrelatedGaze()) > 0.5
    assert high_value_share(UniformGaze()) < 0.2


def test_gaze_evidence_needs_the_gaze_before_it_and_the_sorting_after_it():
    with pytest.raises(KeyError, match="after the gaze transform"):
        _ = TransformedEnv(BikkleEnv(num_envs=2, seed=0), GazeEvidence()).observation_spec
    with pytest.raises(ValueError, match="prior"):
        GazeEvidence(prior=0.0)
    with pytest.raises(TypeError, match="track_record must be true or false, got 'yes'"):
        GazeEvidence(track_record="yes")
    sorted_first = Compose(GazeInjection(CorrelatedGaze(), seed=0), SortPellets(), GazeEvidence())
    with pytest.raises(ValueError, match="before sort_pellets"):
        _ = TransformedEnv(BikkleEnv(num_envs=2, seed=0), sorted_first).observation_spec


def test_the_round_token_carries_a_track_record_that_exact_gaze_earns_and_uniform_gaze_does_not():
    def final_record(source) -> torch.Tensor:
        env = sorted_token_stack(source, track_record=True, episode_mode="continuing", max_steps=100)
        check_env_specs(env, break_when_any_done="both")
        policy = make_reference_policy("greedy-gaze", env.base_env.config)  # heads for the pink nearest the gaze
        rollout = env.rollout(99, policy, break_when_any_done=False)["next"]
        torch.testing.assert_close(rollout["tokens"][..., -1, 1:3], rollout["gaze_track_record"])
        return rollout["gaze_track_record"][:, -1]

    exact, uniform = final_record(OracleGaze()), final_record(UniformGaze())
    assert (exact[:, 1] > 0).all() and torch.equal(exact[:, 0], exact[:, 1])  # every reveal a hit
    assert uniform[:, 0].sum() < uniform[:, 1].sum() / 2
