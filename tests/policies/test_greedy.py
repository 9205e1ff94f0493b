"""The scripted reference policies: geometry on hand-placed observations, and returns on the seed protocol."""

import math

import pytest
import torch
from tensordict import TensorDict
from tensordict.nn import TensorDictModule, TensorDictSequential
from torch import nn

from bikkle_rl.envs import BikkleConfig, BikkleEnv
from bikkle_rl.evaluation import evaluate_policy
from bikkle_rl.policies import GazeGreedyActor, GreedyActor, make_reference_policy

PINK, BLUE = 0, 1


def observation(pellet_rel, pellet_kind, pellet_mask=None):
    """A one-arena observation from per-pellet lists."""
    rel = torch.tensor([pellet_rel], dtype=torch.float32)
    kind = torch.tensor([pellet_kind])
    mask = torch.ones_like(kind, dtype=torch.bool) if pellet_mask is None else torch.tensor([pellet_mask])
    return rel, kind, mask


def seed_protocol_env(num_envs, seed, **overrides):
    fields = {"num_pink": 1, "num_blue": 1, "episode_mode": "continuing", "max_steps": 200}
    return BikkleEnv(num_envs, seed=seed, **{**fields, **overrides})


def test_heads_for_nearest_present_pink_at_full_max_norm_speed():
    rel, kind, mask = observation([[0.3, 0.1], [0.0, 0.0], [-0.05, 0.1], [0.9, 0.9]], [PINK, PINK, PINK, BLUE],
                                  [True, False, True, True])
    action = GreedyActor()(rel, kind, mask)
    torch.testing.assert_close(action, torch.tensor([[-0.5, 1.0]]))  # the absent slot at distance 0 is ignored


def test_heading_mode_encodes_the_angle_over_pi():
    rel, kind, mask = observation([[0.0, -0.2], [0.5, 0.5]], [PINK, BLUE])
    action = GreedyActor(action_mode="heading")(rel, kind, mask)
    torch.testing.assert_close(action, torch.tensor([[-0.5]]))


@pytest.mark.parametrize("offset, away", [(0.01, -1.0), (-0.01, 1.0)])
def test_sidesteps_a_blue_on_the_path_along_its_keep_out_tangent(offset, away):
    actor = GreedyActor(touch_distance=0.08, margin=0.01)
    blue = torch.tensor([0.2, offset])
    rel, kind, mask = observation([[0.5, 0.0], blue.tolist()], [PINK, BLUE])
    action = actor(rel, kind, mask)[0]
    assert action.abs().max() == pytest.approx(1.0)
    assert torch.sign(action[1]) == away  # passes on the side of the path opposite the blue
    heading = action / action.norm()
    gap = (heading[0] * blue[1] - heading[1] * blue[0]).abs()  # the blue's distance from the new line
    assert gap == pytest.approx(0.09, abs=1e-5)
    assert heading @ (torch.tensor([0.5, 0.0])) > 0  # still makes progress toward the pink


@pytest.mark.parametrize("blue", [[0.6, 0.0], [-0.1, 0.0], [0.2, 0.1]])
def test_ignores_blues_beyond_behind_or_beside_the_path(blue):
    rel, kind, mask = observation([[0.5, 0.0], blue], [PINK, BLUE])
    torch.testing.assert_close(GreedyActor(margin=0.01)(rel, kind, mask), torch.tensor([[1.0, 0.0]]))


def test_greedy_beats_random_by_a_wide_margin_on_the_seed_protocol():
    env = seed_protocol_env(256, seed=0)
    greedy = evaluate_policy(make_reference_policy("greedy", env.config), env)
    random = evaluate_policy(make_reference_policy("random", env.config, generator=torch.Generator().manual_seed(0)),
                             env)
    assert greedy["return"].mean() > 20.0
    assert greedy["blue"].float().mean() < 0.05
    assert random["return"].mean() < 3.0


def test_greedy_in_heading_mode_collects_pinks():
    env = seed_protocol_env(256, seed=1, action_mode="heading")
    policy = make_reference_policy("greedy", env.config)
    results = evaluate_policy(policy, env)
    assert results["return"].mean() > 18.0  # full speed is 0.02 in every direction here (no diagonal bonus)
    action = policy(env.reset())["action"]
    assert action.shape == (256, 1) and action.abs().max() <= 1.0


class OracleGaze(nn.Module):
    """Test-only gaze: the high-value pellet's exact position, valid on every step or never."""

    def __init__(self, valid: bool):
        super().__init__()
        self.valid = valid

    def forward(self, pellet_pos, is_high_value):
        gaze = (pellet_pos * is_high_value[..., None]).sum(-2)
        return gaze, torch.full((gaze.shape[0], 1), self.valid)


def gaze_policy(config, valid):
    gaze = TensorDictModule(OracleGaze(valid), in_keys=[("privileged", "pellet_pos"), ("privileged", "is_high_value")],
                            out_keys=["gaze", "gaze_valid"])
    return TensorDictSequential(gaze, make_reference_policy("greedy-gaze", config))


def test_greedy_gaze_with_oracle_gaze_takes_the_high_value_pellet_and_beats_greedy():
    config = BikkleConfig(num_pink=3, num_blue=3, episode_mode="continuing", max_steps=200)
    greedy = evaluate_policy(make_reference_policy("greedy", config), BikkleEnv(384, seed=2, config=config))
    gaze = evaluate_policy(gaze_policy(config, valid=True), BikkleEnv(384, seed=2, config=config))
    assert gaze["high_value"].float().mean() > 1.5 * greedy["high_value"].float().mean()
    assert gaze["return"].mean() > greedy["return"].mean() + 0.8


def test_greedy_gaze_without_valid_gaze_plays_exactly_greedy():
    config = BikkleConfig(num_pink=3, num_blue=3, episode_mode="continuing", max_steps=50)
    greedy = evaluate_policy(make_reference_policy("greedy", config), BikkleEnv(32, seed=3, config=config))
    blind = evaluate_policy(gaze_policy(config, valid=False), BikkleEnv(32, seed=3, config=config))
    torch.testing.assert_close(blind["return"], greedy["return"])


def test_greedy_gaze_remembers_the_gazed_pink_until_it_moves():
    actor = GazeGreedyActor()
    agent = torch.tensor([[0.5, 0.5]])
    near, far = [0.1, 0.0], [-0.3, 0.0]
    rel, kind, mask = observation([near, far], [PINK, PINK])
    gaze_at_far = agent + torch.tensor([far])
    assert actor(rel, kind, mask, agent, gaze_at_far, torch.tensor([[True]]))[0, 0] == -1.0
    no_gaze = torch.tensor([[False]])
    assert actor(rel, kind, mask, agent, torch.zeros(1, 2), no_gaze)[0, 0] == -1.0  # still heading for it
    respawned, _, _ = observation([near, [0.0, -0.4]], [PINK, PINK])
    assert actor(respawned, kind, mask, agent, torch.zeros(1, 2), no_gaze)[0, 0] == 1.0  # back to the nearest


def test_random_policy_is_uniform_in_the_action_box_and_seeded():
    config = BikkleConfig()
    td = TensorDict(agent_pos=torch.zeros(20000, 2), batch_size=[20000])
    first = make_reference_policy("random", config, generator=torch.Generator().manual_seed(5))(td.clone())["action"]
    again = make_reference_policy("random", config, generator=torch.Generator().manual_seed(5))(td.clone())["action"]
    assert first.shape == (20000, 2) and first.abs().max() <= 1.0
    torch.testing.assert_close(first, again)
    assert first.mean().abs() < 0.02 and first.var().sub(1 / 3).abs() < 0.02
    heading = make_reference_policy("random", BikkleConfig(action_mode="heading"))(td.clone())["action"]
    assert heading.shape == (20000, 1)


def test_unknown_policy_name_and_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="greedy-gaze"):
        make_reference_policy("greedy_gaze", BikkleConfig())
    with pytest.raises(ValueError, match="sideways"):
        GreedyActor(action_mode="sideways")
    with pytest.raises(ValueError, match="-0.1"):
        GreedyActor(margin=-0.1)
    assert math.isclose(GreedyActor(touch_distance=0.08, margin=0.02).clearance, 0.1)
