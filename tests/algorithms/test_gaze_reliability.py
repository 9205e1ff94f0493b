"""The gaze-reliability probe: it trains through the policy's encoder toward the env's informativeness flag, owns
only its linear layer, is saved with PPO, and is refused or named where its inputs are wrong."""

import pytest
import torch
from small_arenas import rollout, small_env, small_ppo
from tensordict import TensorDict

from bikkle_rl.algorithms.gaze_reliability import policy_encoder
from bikkle_rl.algorithms.ppo import PPOConfig
from bikkle_rl.envs.keys import GAZE_INFORMATIVE_KEY
from bikkle_rl.experiment import make_algorithm, make_train_env


def labelled(batch: TensorDict) -> TensorDict:
    """``batch`` with an informativeness flag the observation tells: informative where the pink lies to the right."""
    right = batch["pellet_rel"][..., 0, :1] > 0
    return batch.set(GAZE_INFORMATIVE_KEY, right)


def test_bad_reliability_coeff_is_named():
    with pytest.raises(ValueError, match="reliability_coeff"):
        PPOConfig(reliability_coeff=-0.1)


def test_the_probe_learns_the_flag_through_the_policys_encoder():
    env = small_env(32)
    ppo = small_ppo(env, reliability_coeff=1.0, optim={"lr": 3e-3})
    encoder, _ = policy_encoder(ppo.actor)
    probe_parameters = list(ppo.reliability.parameters())
    assert len(ppo.parameters) == len(list(ppo.loss.parameters())) + len(probe_parameters) == \
        len(list(ppo.loss.parameters())) + 2  # the encoder's weights are the actor's, not counted twice
    encoder_before = [p.detach().clone() for p in encoder.parameters()]
    first = ppo.update(labelled(rollout(env, ppo.actor)))
    for _ in range(30):
        last = ppo.update(labelled(rollout(env, ppo.actor)))
    assert last["loss_reliability"] < 0.7 * first["loss_reliability"], (first, last)
    assert last["reliability_accuracy"] > 0.85, last
    assert any(not torch.equal(a, b) for a, b in zip(encoder_before, encoder.parameters(), strict=True))


def test_the_probe_is_saved_with_ppo_and_starts_fresh_where_a_checkpoint_has_none():
    env = small_env()
    trained = small_ppo(env, reliability_coeff=1.0, optim={"lr": 1e-2})
    trained.update(labelled(rollout(env, trained.actor)))
    state = trained.state_dict()
    fresh = small_ppo(env, reliability_coeff=1.0)
    fresh.load_state_dict(state)
    torch.testing.assert_close(fresh.reliability.logit.weight, trained.reliability.logit.weight)
    without_probe = small_ppo(env).state_dict()
    assert "reliability_probe" not in without_probe
    initial = fresh.reliability.logit.weight.detach().clone()
    fresh.load_weights(without_probe)  # init_from a run that had no probe
    torch.testing.assert_close(fresh.reliability.logit.weight, initial)


def test_a_batch_without_the_flag_is_named():
    env = small_env()
    ppo = small_ppo(env, reliability_coeff=1.0)
    with pytest.raises(KeyError, match="gaze_informative"):
        ppo.update(rollout(env, ppo.actor))


def test_the_recipe_trains_the_probe_on_the_gaze_mixture(compose_train, tmp_path):
    cfg = compose_train(tmp_path, "env=gaze_value", "algo.reliability_coeff=0.5", "algo.frames_per_env=4")
    env = make_train_env(cfg, torch.device("cpu"), seed=0)
    algo = make_algorithm(cfg, env, torch.device("cpu"))
    metrics = algo.update(rollout(env, algo.actor, steps=4))
    assert 0.0 <= metrics["reliability_accuracy"] <= 1.0 and metrics["loss_reliability"] > 0
