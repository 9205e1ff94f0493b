"""The batched evaluator against plain loops over the same seeded env."""

import torch
from tensordict import TensorDictBase
from tensordict.nn import TensorDictModule
from torch import nn
from torchrl.data import Unbounded
from torchrl.envs import Transform, TransformedEnv
from torchrl.envs.utils import ExplorationType, exploration_type

from bikkle_rl.envs import BikkleEnv
from bikkle_rl.evaluation import evaluate_policy
from bikkle_rl.policies import make_reference_policy


def make_env(num_envs, seed, **overrides):
    fields = {"num_pink": 2, "num_blue": 2, "episode_mode": "continuing", "max_steps": 30}
    return BikkleEnv(num_envs, seed=seed, **{**fields, **overrides})


def test_continuing_returns_match_a_plain_rollout_on_the_same_seed():
    env = make_env(16, seed=0)
    policy = make_reference_policy("greedy", env.config)
    results = evaluate_policy(policy, env)
    rollout = make_env(16, seed=0).rollout(30, policy)
    torch.testing.assert_close(results["return"], rollout["next", "reward"].sum(1).squeeze(-1))
    torch.testing.assert_close(results["pink"], rollout["next", "events", "pink"].sum(1).squeeze(-1))
    torch.testing.assert_close(results["blue"], rollout["next", "events", "blue"].sum(1).squeeze(-1))
    assert (results["length"] == 30).all()
    assert results["pink"].sum() > 0


def test_episodic_episodes_count_only_up_to_their_first_done():
    env = make_env(64, seed=1, episode_mode="episodic")
    policy = make_reference_policy("greedy", env.config)
    results = evaluate_policy(policy, env)
    rollout = make_env(64, seed=1, episode_mode="episodic").rollout(30, policy, break_when_any_done=False)
    done = rollout["next", "done"].squeeze(-1)
    still_running = torch.cat((torch.ones(64, 1, dtype=torch.bool), ~done[:, :-1]), 1).cumprod(1).bool()
    expected = (rollout["next", "reward"].squeeze(-1) * still_running).sum(1)
    torch.testing.assert_close(results["return"], expected)
    torch.testing.assert_close(results["length"], still_running.sum(1))
    touched = results["pink"] + results["blue"]
    assert ((touched >= 1) | (results["length"] == 30)).all()
    assert (results["length"] < 30).any()


class ScaleReward(Transform):
    """Test-only: keeps the env's reward as ``raw_reward`` and multiplies ``reward`` by 100."""

    def _step(self, tensordict: TensorDictBase, next_tensordict: TensorDictBase) -> TensorDictBase:
        next_tensordict["raw_reward"] = next_tensordict["reward"].clone()
        next_tensordict["reward"] = next_tensordict["reward"] * 100
        return next_tensordict

    def transform_observation_spec(self, observation_spec):
        observation_spec["raw_reward"] = Unbounded(self.parent.reward_spec.shape)
        return observation_spec


def test_raw_reward_is_summed_when_a_transform_scales_the_reward():
    policy = make_reference_policy("greedy", make_env(1, 0).config)
    plain = evaluate_policy(policy, make_env(8, seed=2))
    scaled = evaluate_policy(policy, TransformedEnv(make_env(8, seed=2), ScaleReward()))
    torch.testing.assert_close(scaled["return"], plain["return"])


def test_more_episodes_than_arenas_run_in_successive_batches():
    env = make_env(8, seed=3, max_steps=5)
    results = evaluate_policy(make_reference_policy("greedy", env.config), env, num_episodes=20)
    assert all(value.shape == (20,) for value in results.values())
    assert (results["length"] == 5).all()


class RecordExploration(nn.Module):
    """Test-only policy: stands still and records the exploration type it was called under."""

    def __init__(self):
        super().__init__()
        self.seen = set()

    def forward(self, agent_pos):
        self.seen.add(exploration_type())
        return torch.zeros_like(agent_pos)


def test_deterministic_flag_sets_the_exploration_type():
    env = make_env(2, seed=4, max_steps=3)
    for deterministic, expected in ((True, ExplorationType.DETERMINISTIC), (False, ExplorationType.RANDOM)):
        recorder = RecordExploration()
        evaluate_policy(TensorDictModule(recorder, in_keys=["agent_pos"], out_keys=["action"]), env,
                        deterministic=deterministic)
        assert recorder.seen == {expected}
