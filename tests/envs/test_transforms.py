"""Observation and reward transforms on hand-placed states, and spec checks on combined stacks."""

import math

import pytest
import torch
from tensordict import TensorDict
from torchrl.envs import Compose, InitTracker, TransformedEnv
from torchrl.envs.utils import check_env_specs

from bikkle_rl.envs import BikkleEnv
from bikkle_rl.envs.transforms import (
    EpisodeSum,
    Flatten,
    GazeInjection,
    MaxNormAction,
    RewardNormalization,
    SemanticImage,
    SortPellets,
    Tokenize,
    TokenType,
)
from bikkle_rl.gaze import CorrelatedGaze, RealisticGaze, UniformGaze

# agent at the centre; pink 0 far, pink 1 (high-value) near, blue 0 middle, blue 1 absent (though nearest)
AGENT = [0.5, 0.5]
PELLETS = [[0.9, 0.5], [0.5, 0.6], [0.2, 0.5], [0.55, 0.5]]
MASK = [True, True, True, False]
SORTED = [1, 2, 0, 3]


@pytest.fixture
def scene(place):
    """The hand-placed observation (2 arenas, up to 2 pink + 2 blue, round step 25 of 100)."""
    env = BikkleEnv(num_envs=2, seed=0, num_pink=[1, 2], num_blue=[0, 2])
    return place(env, AGENT, PELLETS, high_value=1, mask=MASK, round_step=25)


def with_gaze(obs, gaze, valid, age=None):
    obs["gaze"] = torch.tensor(gaze).expand(2, 2) * valid
    obs["gaze_valid"] = torch.full((2, 1), valid)
    if age is not None:
        obs["gaze_age"] = torch.full((2, 1), float(age))
    return obs


def test_sort_pellets_orders_nearest_first_absent_last_and_moves_every_key(scene):
    raw = scene.clone()
    out = SortPellets()(scene)
    order = torch.tensor(SORTED)
    for key in ("pellet_rel", "pellet_kind", "pellet_mask", ("privileged", "pellet_pos"), ("privileged", "is_high_value")):
        assert torch.equal(out[key], raw[key][:, order]), key
    assert out["pellet_kind"][0].tolist() == [0, 1, 0, 1]
    assert out["pellet_mask"][0].tolist() == [True, True, True, False]
    assert out["privileged", "is_high_value"][0].tolist() == [True, False, False, False]


def test_sort_pellets_within_kind_keeps_pinks_first(scene):
    raw = scene.clone()
    out = SortPellets(within_kind=True)(scene)
    order = torch.tensor([1, 0, 2, 3])  # near pink, far pink, then the present blue before the absent one
    for key in ("pellet_rel", "pellet_kind", "pellet_mask", ("privileged", "is_high_value")):
        assert torch.equal(out[key], raw[key][:, order]), key
    assert out["pellet_kind"][0].tolist() == [0, 0, 1, 1]


def test_sort_pellets_in_a_batched_rollout():
    env = TransformedEnv(BikkleEnv(num_envs=32, seed=0, num_pink=[1, 3], num_blue=[0, 3]), SortPellets())
    rollout = env.rollout(20, break_when_any_done=False)["next"]
    mask = rollout["pellet_mask"]
    distance = rollout["pellet_rel"].norm(dim=-1).masked_fill(~mask, math.inf)
    assert (distance[..., 1:] >= distance[..., :-1]).all()
    relative = rollout["privileged", "pellet_pos"] - rollout["agent_pos"][..., None, :]
    assert torch.allclose(relative * mask[..., None], rollout["pellet_rel"], atol=1e-6)


def test_flatten_layout(scene):
    out = Compose(SortPellets(), Flatten())(scene.clone())["observation_vector"]
    expected = [0.5, 0.5,  0.0, 0.1, 1, 0,  -0.3, 0.0, 1, 1,  0.4, 0.0, 1, 0,  0, 0, 0, 0,  0.25]
    assert out.shape == (2, 19)
    assert torch.allclose(out[0], torch.tensor(expected), atol=1e-6)

    held = with_gaze(scene.clone(), [0.3, 0.6], True, age=2)
    out = Compose(SortPellets(), Flatten(oracle=True))(held)["observation_vector"]
    assert torch.allclose(out[0, 19:], torch.tensor([1, 0, 0, 0,  -0.2, 0.1, 1, 2]), atol=1e-6)  # oracle, then gaze

    absent = with_gaze(scene.clone(), [0.3, 0.6], False)
    out = Flatten()(absent)["observation_vector"]
    assert out.shape == (2, 22) and (out[:, 19:] == 0).all()


def test_flatten_polar_adds_distance_and_direction_per_slot(scene):
    out = Compose(SortPellets(), Flatten(polar=True))(scene.clone())["observation_vector"]
    # per slot: rel (2), present, blue, distance, direction (2); the absent slot reads all zero
    expected = [0.5, 0.5,  0.0, 0.1, 1, 0, 0.1, 0, 1,  -0.3, 0.0, 1, 1, 0.3, -1, 0,  0.4, 0.0, 1, 0, 0.4, 1, 0,
                0, 0, 0, 0, 0, 0, 0,  0.25]
    assert out.shape == (2, 31)
    assert torch.allclose(out[0], torch.tensor(expected), atol=1e-6)
    spec = TransformedEnv(BikkleEnv(num_envs=2, num_pink=[1, 2], num_blue=[0, 2]), Flatten(polar=True))
    assert spec.observation_spec["observation_vector"].shape == (2, 31)


def test_max_norm_action_keeps_the_direction_where_clipping_snaps_to_the_diagonal(place):
    speed = 0.02
    moves = {}
    for name, transform in (("max_norm", MaxNormAction()), ("clip", Compose())):
        env = TransformedEnv(BikkleEnv(num_envs=3, seed=0, num_pink=1, num_blue=1, episode_mode="continuing"),
                             transform)
        obs = place(env.base_env, [0.5, 0.5], [[0.9, 0.9], [0.1, 0.1]])
        actions = torch.tensor([[3.0, 1.0], [0.5, -0.2], [-4.0, -4.0]])
        out = env.step(obs.set("action", actions))
        assert torch.equal(out["action"], actions)  # the rollout keeps the policy's own action
        moves[name] = (out["next", "agent_pos"] - 0.5) / speed
    assert torch.allclose(moves["max_norm"], torch.tensor([[1.0, 1 / 3], [0.5, -0.2], [-1.0, -1.0]]), atol=1e-5)
    assert torch.allclose(moves["clip"], torch.tensor([[1.0, 1.0], [0.5, -0.2], [-1.0, -1.0]]), atol=1e-5)


def test_full_speed_lifts_every_action_onto_the_box_boundary_keeping_its_direction(place):
    env = TransformedEnv(BikkleEnv(num_envs=4, seed=0, num_pink=1, num_blue=1, episode_mode="continuing"),
                         MaxNormAction(full_speed=True))
    obs = place(env.base_env, [0.5, 0.5], [[0.9, 0.9], [0.1, 0.1]])
    actions = torch.tensor([[0.5, -0.2], [3.0, 1.0], [0.0, 0.0], [-0.1, -0.1]])
    out = env.step(obs.set("action", actions))
    moves = (out["next", "agent_pos"] - 0.5) / 0.02
    assert torch.allclose(moves, torch.tensor([[1.0, -0.4], [1.0, 1 / 3], [0.0, 0.0], [-1.0, -1.0]]), atol=1e-5)


def test_max_norm_action_bound_widens_the_policy_spec_and_full_speed_starts_at_its_inverse(place):
    env = TransformedEnv(BikkleEnv(num_envs=2, seed=0, num_pink=1, num_blue=1, episode_mode="continuing"),
                         MaxNormAction(bound=2.0))
    check_env_specs(env)
    assert env.action_spec.space.low.eq(-2.0).all() and env.action_spec.space.high.eq(2.0).all()
    assert env.base_env.action_spec.space.high.eq(1.0).all()  # the arena's own box is unchanged
    obs = place(env.base_env, [0.5, 0.5], [[0.9, 0.9], [0.1, 0.1]])
    out = env.step(obs.set("action", torch.tensor([[1.0, 0.5], [2.0, -1.0]])))
    moves = (out["next", "agent_pos"] - 0.5) / 0.02
    assert torch.allclose(moves, torch.tensor([[1.0, 0.5], [1.0, -0.5]]), atol=1e-5)
    with pytest.raises(ValueError, match="bound must be >= 1"):
        MaxNormAction(bound=0.9)


def test_tokenize_layout(scene):
    obs = with_gaze(scene.clone(), [0.3, 0.6], True, age=1)
    out = Compose(SortPellets(), Tokenize())(obs)
    tokens, types, present = out["tokens"][0], out["token_type"][0], out["token_mask"][0]
    assert tokens.shape == (7, 4)
    assert types.tolist() == [TokenType.AGENT, TokenType.PINK, TokenType.BLUE, TokenType.PINK, TokenType.BLUE,
                              TokenType.GAZE, TokenType.ROUND]
    assert present.tolist() == [True, True, True, True, False, True, True]
    expected = [[0.5, 0.5, 0, 0], [0.0, 0.1, 0.1, 0], [-0.3, 0.0, 0.3, 0], [0.4, 0.0, 0.4, 0], [0, 0, 0, 0],
                [-0.2, 0.1, math.sqrt(0.05), 1], [0.25, 0, 0, 0]]
    assert torch.allclose(tokens, torch.tensor(expected), atol=1e-6)

    oracle = Compose(SortPellets(), Tokenize(oracle=True))(scene.clone())
    assert oracle["tokens"][0, 1:5, 3].tolist() == [1, 0, 0, 0]
    assert not oracle["token_mask"][:, 5].any() and (oracle["tokens"][:, 5] == 0).all()  # no gaze in the env

    garbage = scene.clone()
    garbage["pellet_rel"][:, 3] = 0.7  # an absent slot's entries never reach its token
    assert (Tokenize()(garbage)["tokens"][:, 4] == 0).all()

    invalid = Tokenize()(with_gaze(scene.clone(), [0.3, 0.6], False))
    assert not invalid["token_mask"][:, 5].any() and (invalid["tokens"][:, 5] == 0).all()


def test_semantic_image_draws_each_object_in_its_channel(place):
    env = BikkleEnv(num_envs=2, seed=0, num_pink=[1, 2], num_blue=[0, 2])
    obs = place(env, AGENT, PELLETS, high_value=1, mask=MASK)
    image = SemanticImage(size=20, radius=0.04)(with_gaze(obs.clone(), [0.3, 0.6], True))["image"]
    assert image.shape == (2, 4, 20, 20)
    agent, pink, blue, gaze = image[0]
    # pixel centres lie 0.025 from each object on both axes: a 2 x 2 block per object, row = y, column = x
    assert agent.sum() == 4 and agent[9:11, 9:11].all()
    assert pink.sum() == 8 and pink[9:11, 17:19].all() and pink[11:13, 9:11].all()
    assert blue.sum() == 4 and blue[9:11, 3:5].all()  # the absent blue pellet is not drawn
    assert gaze.sum() == 4 and gaze[11:13, 5:7].all()
    no_gaze = SemanticImage(size=20)(with_gaze(obs.clone(), [0.3, 0.6], False))["image"]
    assert no_gaze[:, 3].sum() == 0


def reference_normalisation(rewards, resets, gamma, clip, eps):
    """gymnasium's RunningMeanStd over the per-arena discounted return, written out step by step."""
    mean, var, count = 0.0, 1.0, 1e-4
    returns = [0.0] * len(rewards[0])
    outputs = []
    for step_rewards, step_resets in zip(rewards, resets):
        returns = [gamma * g + r for g, r in zip(returns, step_rewards)]
        n = len(returns)
        batch_mean = sum(returns) / n
        batch_var = sum((g - batch_mean) ** 2 for g in returns) / n
        delta, total = batch_mean - mean, count + n
        mean = mean + delta * n / total
        var = (var * count + batch_var * n + delta**2 * count * n / total) / total
        count = total
        outputs.append([max(-clip, min(clip, r / math.sqrt(var + eps))) for r in step_rewards])
        returns = [0.0 if done else g for g, done in zip(returns, step_resets)]
    return outputs


def drive(transform, rewards, resets):
    """Feeds a fixed reward stream [T, N] through the transform, resetting arenas where ``resets`` is True."""
    n = rewards.shape[1]
    transform._reset(TensorDict(batch_size=[n]), TensorDict(batch_size=[n]))
    outputs, raw = [], []
    for step_rewards, step_resets in zip(rewards, resets):
        next_td = transform._step(TensorDict(batch_size=[n]), TensorDict(reward=step_rewards[:, None], batch_size=[n]))
        outputs.append(next_td["reward"][:, 0])
        raw.append(next_td["raw_reward"][:, 0])
        if step_resets.any():
            transform._reset(TensorDict(_reset=step_resets[:, None], batch_size=[n]), TensorDict(batch_size=[n]))
    return torch.stack(outputs), torch.stack(raw)


def test_reward_normalization_matches_the_reference_loop():
    generator = torch.Generator().manual_seed(0)
    rewards = torch.randn(60, 3, generator=generator) * 3
    rewards[10, 1] = 80.0  # an outlier, to exercise the clip
    resets = torch.rand(60, 3, generator=generator) < 0.1
    transform = RewardNormalization(gamma=0.9, clip=5.0)
    outputs, raw = drive(transform, rewards, resets)
    expected = torch.tensor(reference_normalisation(rewards.tolist(), resets.tolist(), 0.9, 5.0, 1e-8))
    assert torch.allclose(outputs, expected, rtol=1e-4, atol=1e-5)
    assert torch.equal(raw, rewards)
    assert (outputs.abs() == 5.0).any()


def test_reward_normalization_statistics_are_saved_and_can_be_frozen():
    rewards = torch.randn(30, 4, generator=torch.Generator().manual_seed(1))
    never = torch.zeros(30, 4, dtype=torch.bool)
    trained = RewardNormalization()
    drive(trained, rewards, never)
    state = trained.state_dict()
    assert set(state) == {"return_mean", "return_var", "count"}
    restored = RewardNormalization()
    restored.load_state_dict(state)
    restored.freeze()
    outputs, _ = drive(restored, rewards, never)
    assert torch.equal(restored.return_var, trained.return_var) and restored.count == trained.count
    assert torch.allclose(outputs, rewards / trained.scale)
    restored.unfreeze()
    drive(restored, rewards, never)
    assert restored.count == 2 * trained.count - 1e-4


def test_episode_sum_counts_touches_per_episode():
    env = TransformedEnv(
        BikkleEnv(num_envs=16, seed=0, num_pink=3, num_blue=3, pellet_radius=0.07, max_steps=8,
                  episode_mode="continuing"),
        Compose(InitTracker(), EpisodeSum([("events", "pink"), ("events", "blue")], ["episode_pink", "episode_blue"])),
    )
    rollout = env.rollout(40, break_when_any_done=False)
    for kind in ("pink", "blue"):
        total = rollout[f"episode_{kind}"]
        assert (total[rollout["is_init"]] == 0).all()
        assert torch.equal(rollout["next", f"episode_{kind}"], total + rollout["next", "events", kind])
    assert rollout["next", "events", "pink"].sum() > 0


STACKS = {
    "sort_gaze_flatten": lambda: [SortPellets(), GazeInjection(CorrelatedGaze(), seed=0), Flatten()],
    "gaze_first_tokens_oracle": lambda: [GazeInjection(RealisticGaze(), hold=True, seed=0), SortPellets(),
                                         Tokenize(oracle=True)],
    "all_views": lambda: [GazeInjection(UniformGaze(), availability="episode", seed=0), SemanticImage(size=16),
                          Flatten(oracle=True), Tokenize()],
    "no_gaze_views": lambda: [SortPellets(), Flatten(), Tokenize(), SemanticImage(size=8)],
    "reward_norm": lambda: [SortPellets(), GazeInjection(CorrelatedGaze(), hold=True, seed=0), Flatten(),
                            RewardNormalization()],
}


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_check_env_specs_on_combined_stacks(stack):
    base = BikkleEnv(num_envs=5, seed=0, num_pink=[1, 3], num_blue=[0, 3], max_steps=4)
    env = TransformedEnv(base, Compose(*STACKS[stack]()))
    check_env_specs(env, break_when_any_done="both")
