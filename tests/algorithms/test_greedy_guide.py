"""Greedy guidance: its schedule, the greedy labels a batch gets, its loss, and PPO pulled to greedy's actions by
it (at the start of a run, and as a floor on episodes of uninformative gaze)."""

import pytest
import torch
from small_arenas import ONE_PINK, rollout, small_env, small_ppo
from tensordict import TensorDict

from bikkle_rl.algorithms.greedy_guide import GreedyGuide, guide_loss, guide_weight
from bikkle_rl.algorithms.ppo import PPO, PPOConfig
from bikkle_rl.envs import BikkleConfig
from bikkle_rl.envs.dynamics import PINK
from bikkle_rl.envs.keys import GAZE_INFORMATIVE_KEY
from bikkle_rl.experiment import make_algorithm, make_train_env
from bikkle_rl.policies import GreedyActor


@pytest.mark.parametrize("progress, expected", [(0.0, 2.0), (0.05, 1.0), (0.1, 0.0), (0.7, 0.0)])
def test_weight_falls_linearly_from_the_coefficient_to_zero_at_until(progress, expected):
    assert guide_weight(2.0, 0.1, progress) == pytest.approx(expected)
    assert guide_weight(0.0, 0.1, progress) == 0.0


def test_guide_loss_is_the_weighted_squared_distance_to_greedys_action():
    greedy = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    mean = torch.tensor([[1.0, 0.0], [0.0, -0.5], [0.5, 1.0]])  # on it, opposite, half a step short
    weight = torch.tensor([1.0, 0.5, 2.0])
    expected = (1.0 * 0.0 + 0.5 * 1.5 ** 2 + 2.0 * 0.5 ** 2) / 3
    assert guide_loss(mean, greedy, weight).item() == pytest.approx(expected, rel=1e-6)


def test_label_writes_greedys_actions_and_zero_weight_where_no_pink_is_present():
    rel = torch.tensor([[[0.3, 0.1], [0.5, 0.5]], [[0.3, 0.1], [0.5, 0.5]]])
    kind = torch.tensor([[0, 1], [0, 1]])
    mask = torch.tensor([[True, True], [False, True]])  # the second arena's pink is absent
    batch = TensorDict({"pellet_rel": rel, "pellet_kind": kind, "pellet_mask": mask}, [2]).unsqueeze(0)  # [1, 2]
    GreedyGuide(BikkleConfig(num_pink=1, num_blue=1)).label(batch, weight=0.4)
    torch.testing.assert_close(batch["guide_action"][0], GreedyActor()(rel, kind, mask))
    torch.testing.assert_close(batch["guide_weight"], torch.tensor([[0.4, 0.0]]))


def test_the_floor_adds_its_weight_where_gaze_is_uninformative_and_a_pink_is_present():
    rel = torch.tensor([[0.3, 0.1], [0.5, 0.5]]).expand(3, 2, 2)
    kind = torch.tensor([0, 1]).expand(3, 2)
    mask = torch.tensor([[True, True], [True, True], [False, True]])  # the third arena's pink is absent
    informative = torch.tensor([[True], [False], [False]])
    batch = TensorDict({"pellet_rel": rel, "pellet_kind": kind, "pellet_mask": mask,
                        GAZE_INFORMATIVE_KEY: informative}, [3]).unsqueeze(0)  # [1, 3]
    guide = GreedyGuide(BikkleConfig(num_pink=1, num_blue=1))
    torch.testing.assert_close(guide.label(batch, 0.4, floor=0.5)["guide_weight"], torch.tensor([[0.4, 0.9, 0.0]]))
    torch.testing.assert_close(guide.label(batch, 0.0, floor=0.5)["guide_weight"], torch.tensor([[0.0, 0.5, 0.0]]))
    with pytest.raises(KeyError, match="gaze_informative"):
        guide.label(batch.exclude(GAZE_INFORMATIVE_KEY), 0.4, floor=0.5)


def test_heading_actions_cannot_be_guided():
    with pytest.raises(ValueError, match="action_mode='velocity'"):
        GreedyGuide(BikkleConfig(action_mode="heading"))


@pytest.mark.parametrize("fields, match", [({"guide_coeff": -1.0}, "guide_coeff"), ({"guide_until": 0.0}, "guide_until"),
                                           ({"guide_floor": -0.5}, "guide_floor")])
def test_bad_guide_settings_are_named(fields, match):
    with pytest.raises(ValueError, match=match):
        PPOConfig(**fields)


@pytest.mark.parametrize("fields", [{"guide_coeff": 1.0}, {"guide_floor": 1.0}])
def test_guidance_without_a_guide_is_refused(fields):
    env = small_env()
    with pytest.raises(ValueError, match="GreedyGuide"):
        small_ppo(env, **fields)


def distance_to_greedy(ppo: PPO, batch: TensorDict) -> float:
    """The mean squared distance between the policy's mean action and greedy's on ``batch``."""
    batch = batch.reshape(-1)
    with torch.no_grad():
        mean = ppo.actor.get_dist(batch.clone()).deterministic_sample
    greedy = GreedyActor()(batch["pellet_rel"], batch["pellet_kind"], batch["pellet_mask"])
    return (mean - greedy).pow(2).sum(-1).mean().item()


@pytest.mark.parametrize("coeff", [1.0, 0.0])
def test_guided_updates_pull_the_mean_action_to_greedys_then_the_guidance_ends(coeff):
    env = small_env(16)
    ppo = small_ppo(env, GreedyGuide(BikkleConfig(**ONE_PINK)), guide_coeff=coeff, guide_until=0.5,
                    optim={"lr": 1e-3})
    batch = rollout(env, ppo.actor)
    before = distance_to_greedy(ppo, batch)
    for _ in range(8):
        metrics = ppo.update(rollout(env, ppo.actor), progress=0.0)
    after = distance_to_greedy(ppo, batch)
    if coeff:
        assert after < before / 4, (before, after)
        late = ppo.update(rollout(env, ppo.actor), progress=0.5)
        assert late["guide_weight"] == 0.0 and "loss_guide" not in late
    else:  # PPO alone does not get there in 8 updates: the pull is the guide's
        assert after > before / 2 and "loss_guide" not in metrics, (before, after)


@pytest.mark.parametrize("informative", [False, True])
def test_the_floor_pulls_to_greedys_actions_only_where_gaze_is_uninformative(informative):
    env = small_env(16)
    ppo = small_ppo(env, GreedyGuide(BikkleConfig(**ONE_PINK)), guide_floor=1.0, optim={"lr": 1e-3})

    def labelled(batch: TensorDict) -> TensorDict:  # the gaze flag GazeInjection writes, as one source would
        return batch.set(GAZE_INFORMATIVE_KEY, torch.full((*batch.shape, 1), informative))

    batch = rollout(env, ppo.actor)
    before = distance_to_greedy(ppo, batch)
    for _ in range(8):
        metrics = ppo.update(labelled(rollout(env, ppo.actor)), progress=0.0)  # guide_coeff 0: only the floor
    after = distance_to_greedy(ppo, batch)
    assert metrics["guide_weight"] == 0.0
    if informative:  # weight 0 on every step: PPO alone, as without a guide
        assert after > before / 2 and metrics["loss_guide"] == 0.0, (before, after)
    else:
        assert after < before / 4 and metrics["loss_guide"] > 0, (before, after)


def test_the_recipe_builds_the_guide_for_its_arena_and_refuses_heading_actions(compose_train, tmp_path):
    cfg = compose_train(tmp_path, "env=gaze_value", "algo.guide_coeff=0.5")
    env = make_train_env(cfg, torch.device("cpu"), seed=0)
    algo = make_algorithm(cfg, env, torch.device("cpu"))
    batch = algo.guide.label(rollout(env, algo.actor, steps=2), weight=1.0)
    kind, mask = batch["pellet_kind"], batch["pellet_mask"]  # 3 pinks and 3 blues: greedy heads for a pink
    torch.testing.assert_close(batch["guide_action"][0], GreedyActor()(batch["pellet_rel"][0], kind[0], mask[0]))
    floored = compose_train(tmp_path, "env=gaze_value", "algo.guide_floor=0.5")  # a floor alone builds the guide
    env = make_train_env(floored, torch.device("cpu"), seed=0)
    algo = make_algorithm(floored, env, torch.device("cpu"))
    batch = algo.guide.label(rollout(env, algo.actor, steps=2), weight=0.0, floor=algo.cfg.guide_floor)
    uninformative = ~batch[GAZE_INFORMATIVE_KEY][..., 0]  # env=gaze_value's mixture: uniform and absent gaze
    assert uninformative.any() and not uninformative.all()
    has_pink = ((batch["pellet_kind"] == PINK) & batch["pellet_mask"]).any(-1)
    torch.testing.assert_close(batch["guide_weight"], 0.5 * (uninformative & has_pink).float())
    heading = compose_train(tmp_path, "algo.guide_coeff=0.5", "env.action_mode=heading")
    with pytest.raises(ValueError, match="action_mode='velocity'"):
        make_algorithm(heading, make_train_env(heading, torch.device("cpu"), seed=0), torch.device("cpu"))
