"""PPO's update pieces, each on its own: the target-KL early stop of the epochs, the keys a minibatch carries,
and value clipping in the critic loss."""

from collections.abc import Iterable

import pytest
import torch
from small_arenas import rollout, small_env, small_ppo
from tensordict import TensorDict, TensorDictBase
from torchrl.objectives.value import GAE

from bikkle_rl.algorithms.ppo import PPO


def report_kl(ppo: PPO, kl_per_step: Iterable[float]) -> list[TensorDictBase]:
    """Replaces ``ppo``'s minibatch step by one that trains nothing and reports the given ``kl_approx`` values in
    turn; returns the list the minibatches it is handed are appended to."""
    kls, seen = iter(kl_per_step), []

    def step(minibatch: TensorDictBase) -> TensorDictBase:
        seen.append(minibatch)
        return TensorDict({"kl_approx": torch.tensor(next(kls))})

    ppo._step = step
    return seen


@pytest.mark.parametrize("target_kl, epochs_run", [(None, 4), (0.01, 2), (0.001, 1)])
def test_epochs_stop_when_the_last_minibatch_kl_exceeds_the_target(target_kl, epochs_run):
    env = small_env()
    ppo = small_ppo(env, epochs=4, minibatches=2, target_kl=target_kl)
    # two minibatches an epoch; the check reads the epoch's last one (KL 0.01, 0.02, ...) against 1.5 * target_kl,
    # so the first minibatch's 0.05 stops nothing
    seen = report_kl(ppo, [0.05, 0.01, 0.05, 0.02, 0.05, 0.03, 0.05, 0.04])
    metrics = ppo.update(rollout(env, ppo.actor))
    assert metrics["epochs_run"] == epochs_run
    assert len(seen) == 2 * epochs_run


def test_minibatches_split_the_batch_and_carry_only_the_keys_the_loss_reads():
    env = small_env(4)
    ppo = small_ppo(env, epochs=1, minibatches=4)
    seen = report_kl(ppo, [0.0] * 4)
    batch = rollout(env, ppo.actor)  # [4 arenas, 8 steps]
    ppo.update(batch)
    assert [minibatch.batch_size for minibatch in seen] == [torch.Size([8])] * 4
    assert all(set(minibatch.keys(True, True)) == set(ppo.minibatch_keys) for minibatch in seen)
    log_probs = torch.cat([minibatch["action_log_prob"] for minibatch in seen])
    assert torch.equal(log_probs.sort().values, batch["action_log_prob"].reshape(-1).sort().values)  # each row once

    full = ppo.advantage(batch.clone()).reshape(-1)
    reduced, everything = ppo.loss(full.select(*ppo.minibatch_keys)), ppo.loss(full)
    for key in ("loss_objective", "loss_critic", "entropy"):
        torch.testing.assert_close(reduced[key], everything[key])


@pytest.mark.parametrize("clip_value, expected", [(None, 0.5 ** 2), (0.1, 1.4 ** 2)])
def test_value_clipping_keeps_the_critic_near_the_collected_value(clip_value, expected):
    env = small_env()
    ppo = small_ppo(env, clip_value=clip_value, critic_coeff=1.0)
    with torch.no_grad():
        minibatch = ppo.advantage(rollout(env, ppo.actor)).reshape(-1).select(*ppo.minibatch_keys)
        value = ppo.critic(minibatch.clone())["state_value"]
    # collected 1 below the critic's value, target 0.5 above it: clipped to 0.1 from the collected value, the value
    # is 1.4 from the target, and the clipped loss takes the larger squared error
    minibatch["state_value"], minibatch["value_target"] = value - 1.0, value + 0.5
    assert ppo.loss(minibatch)["loss_critic"].item() == pytest.approx(expected, rel=1e-4)


def test_advantage_equals_torchrl_gae_calling_the_critic_itself_and_traces_as_one_graph():
    env = small_env(4)
    ppo = small_ppo(env, gamma=0.9, gae_lambda=0.8)
    batch = rollout(env, ppo.actor, steps=40)  # a one-pink arena ends on every touch: episodes end inside the batch
    assert batch["next", "done"].any() and not batch["next", "done"].all()
    reference = GAE(gamma=0.9, lmbda=0.8, value_network=ppo.critic, average_gae=False, deactivate_vmap=True)
    with torch.no_grad():
        expected, ours = reference(batch.clone()), ppo.advantage(batch.clone())
    for key in ("advantage", "value_target", "state_value", ("next", "state_value")):
        torch.testing.assert_close(ours[key], expected[key], rtol=0, atol=0)
    explained = torch._dynamo.explain(ppo._estimate_advantage)(batch.clone())
    assert (explained.graph_count, explained.graph_break_count) == (1, 0)
