"""The builders on the real transform stacks of ``make_env`` (keys, specs, gaze columns and rollouts)."""

import pytest
import torch

from bikkle_rl.envs.stack import make_env
from bikkle_rl.modules import ModelConfig, gaze_parameters, make_actor, make_critic, make_q

GAZE = {"source": "correlated", "p_valid": 0.5, "hold": True}


@pytest.mark.parametrize("encoder", ["mlp", "transformer", "cnn"])
@pytest.mark.parametrize("gaze", [GAZE, None], ids=["gaze", "no_gaze"])
def test_actor_critic_and_q_run_on_a_rollout(encoder, gaze):
    env = make_env({"stack": encoder, "num_envs": 4, "gaze": gaze,
                    "env": {"num_pink": [1, 3], "num_blue": [0, 3], "episode_mode": "continuing"}}, seed=0)
    cfg = ModelConfig(encoder=encoder)
    actor, critic, q = make_actor(cfg, env), make_critic(cfg, env), make_q(cfg, env)
    rollout = env.rollout(3, actor)
    assert rollout["action"].shape == (4, 3, 2)
    assert critic(rollout.clone())["state_value"].shape == (4, 3, 1)
    assert torch.isfinite(q(rollout.clone())["state_action_value"]).all()
    expected_gaze_shapes = {
        "mlp": [(64, 4)] if gaze else [],  # gaze - agent (2), gaze_valid, gaze_age
        "transformer": [(32, 4), (32,)],  # the gaze token slot exists with or without a gaze source
        "cnn": [(16, 1, 3, 3)],  # SemanticImage always draws a (possibly empty) gaze channel
    }[encoder]
    assert [tuple(p.shape) for p in gaze_parameters(actor)] == expected_gaze_shapes
