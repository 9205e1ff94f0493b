"""The trust gate on the gaze path: what it reads, what it scales, and that a closed gate is the agent without gaze."""

import math

import pytest
import torch
from synthetic_scenes import GAZE_SLOT, SpecOnlyEnv, random_scenes
from tensordict import TensorDict

from bikkle_rl.envs.keys import GAZE_INFORMATIVE_KEY
from bikkle_rl.metrics import gate_trust_metrics
from bikkle_rl.modules import ModelConfig, make_actor
from bikkle_rl.modules.gaze_adapter import GazePelletAdapter
from bikkle_rl.modules.gaze_gate import INITIAL_TRUST, GazeTrustGate
from bikkle_rl.modules.token_transformer import TokenTransformer, TransformerBlock, gated_encoder


def scenes_with_records(num: int, generator: torch.Generator):
    """Random scenes whose pellets hold shares of the looks and whose round token holds a track record."""
    scenes = random_scenes(num, generator, gaze_valid_prob=1.0)
    tokens = scenes["tokens"]
    shares = torch.rand(num, GAZE_SLOT - 1, generator=generator)
    tokens[:, 1:GAZE_SLOT, 3] = shares * scenes["token_mask"][:, 1:GAZE_SLOT]
    tokens[:, -1, 1:3] = torch.rand(num, 2, generator=generator)
    return scenes


def gated_actor(randomise_gate: bool = False) -> torch.nn.Module:
    """An actor with adapter and gate and no gaze token, whose zero-initialised residual and adapter outputs are
    randomised so that gaze moves its output; ``randomise_gate`` makes the trust vary with the record."""
    actor = make_actor(ModelConfig(encoder="transformer", gaze_adapter=8, gaze_token=False, gaze_gate=8), SpecOnlyEnv())
    with torch.no_grad():
        for module in actor.modules():
            if isinstance(module, TransformerBlock):
                module.attention_out.weight.normal_(std=0.2)
            if isinstance(module, GazePelletAdapter):
                module.net[-1].weight.normal_()
            if isinstance(module, GazeTrustGate) and randomise_gate:
                module.net[-1].weight.normal_()
    return actor


def encoder_of(actor: torch.nn.Module) -> TokenTransformer:
    return next(m for m in actor.modules() if isinstance(m, TokenTransformer))


def set_trust_logit(actor: torch.nn.Module, logit: float) -> None:
    gate = next(m for m in actor.modules() if isinstance(m, GazeTrustGate))
    with torch.no_grad():
        gate.net[-1].weight.zero_()
        gate.net[-1].bias.fill_(logit)


def test_a_fresh_gate_trusts_every_record_alike(generator):
    scenes = scenes_with_records(32, generator)
    trust = encoder_of(gated_actor()).gaze_trust(scenes["tokens"], scenes["token_type"])
    torch.testing.assert_close(trust, torch.full((32,), INITIAL_TRUST))


def test_the_trust_reads_the_round_token_alone(generator):
    encoder = encoder_of(gated_actor(randomise_gate=True))
    scenes = scenes_with_records(64, generator)
    trust = encoder.gaze_trust(scenes["tokens"], scenes["token_type"])
    assert trust.std() > 1e-3  # records differ, so does the trust
    others_moved = scenes["tokens"].clone()
    others_moved[:, :-1] += torch.rand(others_moved[:, :-1].shape, generator=generator)
    torch.testing.assert_close(encoder.gaze_trust(others_moved, scenes["token_type"]), trust, rtol=0, atol=0)
    record_moved = scenes["tokens"].clone()
    record_moved[:, -1, 1] = 1 - record_moved[:, -1, 1]
    assert not torch.allclose(encoder.gaze_trust(record_moved, scenes["token_type"]), trust)


def test_a_closed_gate_is_the_agent_without_gaze(generator):
    """Trust ~0: the output is the actor's on the same scenes with no gaze and no looks, whatever the gaze; an open
    gate lets gaze and the shares move it."""
    actor = gated_actor()
    scenes = scenes_with_records(64, generator)
    no_gaze = scenes.clone()
    no_gaze["token_mask"][:, GAZE_SLOT] = False
    no_gaze["tokens"][:, GAZE_SLOT] = 0.0
    no_gaze["tokens"][:, 1:GAZE_SLOT, 3] = 0.0
    set_trust_logit(actor, -60.0)
    torch.testing.assert_close(actor(scenes.clone())["loc"], actor(no_gaze.clone())["loc"], rtol=0, atol=1e-6)
    set_trust_logit(actor, math.log(INITIAL_TRUST / (1 - INITIAL_TRUST)))
    assert not torch.allclose(actor(scenes.clone())["loc"], actor(no_gaze.clone())["loc"], atol=1e-3)
    shares_only = scenes.clone()  # gaze as in the scenes, the looks' shares gone: the gate scales those too
    shares_only["tokens"][:, 1:GAZE_SLOT, 3] = 0.0
    assert not torch.allclose(actor(scenes.clone())["loc"], actor(shares_only)["loc"], atol=1e-3)


def test_the_returns_train_the_gate_and_it_is_a_gaze_parameter(generator):
    actor = gated_actor()
    actor(scenes_with_records(32, generator))["loc"].sum().backward()
    gate = next(m for m in actor.modules() if isinstance(m, GazeTrustGate))
    assert gate.net[-1].weight.grad.abs().sum() > 0
    gaze_parameters = {id(p) for p in encoder_of(actor).gaze_parameters()}
    assert all(id(p) in gaze_parameters for p in gate.parameters())


@pytest.mark.parametrize("overrides", [{"gaze_token": True}, {"gaze_adapter": 0, "gaze_token": True},
                                       {"gaze_gate": -1, "gaze_token": False}])
def test_a_gate_that_gaze_could_bypass_is_refused(overrides):
    with pytest.raises(ValueError, match="gaze_gate"):
        ModelConfig(**{"encoder": "transformer", "gaze_adapter": 8, "gaze_gate": 8, **overrides})


def test_training_logs_the_gates_trust_on_informative_and_other_gaze(generator):
    encoder = encoder_of(gated_actor(randomise_gate=True))
    scenes = scenes_with_records(64, generator)
    batch = TensorDict({"tokens": scenes["tokens"], "token_type": scenes["token_type"]}, [64]).reshape(8, 8)
    informative = torch.arange(8)[:, None, None].expand(8, 8, 1) < 3  # [envs, time, 1]: the first 3 arenas' gaze
    trust = encoder.gaze_trust(batch["tokens"], batch["token_type"])  # [8, 8], varying with the records
    assert gate_trust_metrics(encoder, batch) == {"train/gate_trust": pytest.approx(trust.mean().item())}
    batch[GAZE_INFORMATIVE_KEY] = informative
    assert gate_trust_metrics(encoder, batch) == {
        "train/gate_trust": pytest.approx(trust.mean().item()),
        "train/gate_trust_informative": pytest.approx(trust[:3].mean().item()),
        "train/gate_trust_uninformative": pytest.approx(trust[3:].mean().item())}
    ungated = make_actor(ModelConfig(encoder="transformer", gaze_adapter=8), SpecOnlyEnv())
    assert gated_encoder(ungated) is None and gate_trust_metrics(gated_encoder(ungated), batch) == {}
    assert gated_encoder(gated_actor()) is not None
