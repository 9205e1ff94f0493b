"""Movement figures: Chebyshev progress on hand-placed steps, and greedy against random on the real arena."""

import math

import pytest
import torch
from tensordict import TensorDict

from bikkle_rl.envs.stack import make_env
from bikkle_rl.evaluation.behaviour import movement_stats
from bikkle_rl.evaluation.cells import reference_factory
from bikkle_rl.evaluation.protocols import evaluation_stack
from bikkle_rl.evaluation.rollout import episode_movement, evaluate_policy

SPEED = 0.02


def steps(moves: list[tuple[float, float]], blue_rel: list[tuple[float, float]], pink_touch: list[int]):
    """One arena's steps from (0.5, 0.5): a pink at (+0.10, +0.03) and a blue at ``blue_rel``, both relative."""
    count = len(moves)
    position = torch.full((count, 2), 0.5)
    rel = torch.stack([torch.tensor([[0.10, 0.03], list(blue)]) for blue in blue_rel])
    return TensorDict({
        "agent_pos": position,
        "pellet_rel": rel,
        "pellet_kind": torch.tensor([[0, 1]] * count),
        "pellet_mask": torch.ones(count, 2, dtype=torch.bool),
        ("next", "agent_pos"): position + torch.tensor(moves),
        ("next", "events", "pink"): torch.tensor(pink_touch).unsqueeze(-1),
        ("next", "events", "blue"): torch.zeros(count, 1, dtype=torch.long),
    }, [count])


def test_progress_is_the_chebyshev_distance_covered_and_splits_by_blue_distance():
    far, around, near = (0.5, 0.5), (0.0, -0.3), (0.0, 0.1)
    trajectory = steps(
        moves=[(SPEED, SPEED), (0.0, -SPEED), (0.0, SPEED), (SPEED, -SPEED), (0.0, 0.0)],
        blue_rel=[far, around, near, near, far],
        pink_touch=[0, 0, 0, 0, 1],  # the touch step is left out of progress
    )
    stats = movement_stats(trajectory, SPEED, near_blue=0.2)
    # diagonal shortens max(|dx|, |dy|) by one step; moving along y alone does not (the detour away from
    # the blue below, the step up); down-right still covers the x distance
    assert stats["progress_clear_of_blue"] == pytest.approx(1.0)
    assert stats["progress_around_blue"] == pytest.approx(0.0)
    assert stats["progress_near_blue"] == pytest.approx(0.5)
    assert stats["progress"] == pytest.approx(0.5)
    assert stats["near_blue_fraction"] == pytest.approx(0.5)
    assert stats["around_blue_fraction"] == pytest.approx(0.25)
    assert stats["slow_fraction"] == pytest.approx(0.2)
    assert stats["pink_rate"] == pytest.approx(0.2) and stats["blue_rate"] == 0.0


def test_a_rollout_without_the_arena_keys_is_named():
    with pytest.raises(KeyError, match="pellet_rel"):
        movement_stats(TensorDict({"agent_pos": torch.zeros(3, 2)}, [3]), SPEED)


def test_greedy_makes_full_progress_and_random_none_on_the_seed_protocol():
    stack = evaluation_stack({"env": {"num_pink": 1, "num_blue": 1}, "stack": "mlp"}, "seed", "none", 64)
    figures = {}
    for name in ("greedy", "random"):
        env = make_env(stack, seed=3)
        figures[name] = episode_movement(evaluate_policy(reference_factory(name)(env), env, movement=True))
    assert figures["greedy"]["progress_clear_of_blue"] > 0.99 and figures["greedy"]["progress_around_blue"] > 0.97
    assert figures["greedy"]["slow_fraction"] == 0.0
    assert abs(figures["random"]["progress"]) < 0.1
    assert figures["greedy"]["pink_rate"] > 10 * figures["random"]["pink_rate"]
    assert not math.isnan(figures["greedy"]["progress_near_blue"])


def test_the_evaluator_sums_the_same_figures_as_a_recorded_rollout():
    stack = evaluation_stack({"env": {"num_pink": 1, "num_blue": 1}, "stack": "mlp"}, "seed", "none", 16)
    env = make_env(stack, seed=5)
    summed = episode_movement(evaluate_policy(reference_factory("greedy")(env), env, movement=True))
    env = make_env(stack, seed=5)
    trajectory = env.rollout(env.base_env.config.max_steps, reference_factory("greedy")(env),
                             break_when_any_done=False)
    recorded = movement_stats(trajectory, env.base_env.config.max_speed)
    assert summed == pytest.approx(recorded, rel=1e-5)
    assert summed["pink_rate"] > 0.03 and summed["near_blue_fraction"] > 0
