import pytest
import torch
from synthetic_scenes import SpecOnlyEnv, random_scenes

from bikkle_rl.envs.transforms.token_layout import TokenType
from bikkle_rl.modules import ModelConfig, gaze_parameters, make_actor, make_critic, make_q
from bikkle_rl.modules.gaze_adapter import GazePelletAdapter
from bikkle_rl.modules.token_transformer import TransformerBlock

BUILDERS = {"actor": (make_actor, "loc"), "critic": (make_critic, "state_value"),
            "q": (make_q, "state_action_value")}
ENCODERS = ["mlp", "transformer", "cnn", "transformer+adapter", "transformer+adapter-token"]
ADAPTER_WIDTH = 8


def model_config(encoder: str) -> ModelConfig:
    """``transformer+adapter``: the transformer with a gaze-pellet adapter (what a gaze-only fine-tune adds);
    ``-token``: without its gaze token, gaze read by the adapter alone (what it adds to a no-gaze agent)."""
    if encoder.startswith("transformer+adapter"):
        return ModelConfig(encoder="transformer", gaze_adapter=ADAPTER_WIDTH, gaze_token=not encoder.endswith("-token"))
    return ModelConfig(encoder=encoder)


def network_and_output(encoder: str, role: str, gaze: bool = True):
    """A fresh network; a transformer's zero-initialised residual projections (and gaze adapter output) are
    randomised so that attention mixes tokens (and could leak a masked gaze token into the output)."""
    build, output_key = BUILDERS[role]
    network = build(model_config(encoder), SpecOnlyEnv(gaze=gaze))
    with torch.no_grad():
        for block in network.modules():
            if isinstance(block, TransformerBlock):
                block.attention_out.weight.normal_(std=0.2)
                block.feedforward[-1].weight.normal_(std=0.2)
            if isinstance(block, GazePelletAdapter):
                block.net[-1].weight.normal_(std=0.2)
    return network, output_key


def find_encoder(network: torch.nn.Module) -> torch.nn.Module:
    return next(m for m in network.modules() if hasattr(m, "out_features") and hasattr(m, "gaze_parameters"))


def expected_gaze_parameters(encoder_name: str, encoder: torch.nn.Module) -> list[torch.nn.Parameter]:
    if encoder_name == "mlp":
        return [encoder.layers[0].gaze.weight]
    if encoder_name == "cnn":
        return [encoder.gaze_input.weight]
    gaze = int(TokenType.GAZE)
    adapter = [] if encoder.gaze_adapter is None else list(encoder.gaze_adapter.parameters())
    token = [encoder.tokenizer.projections[gaze].weight, encoder.tokenizer.type_embeddings[gaze]]
    return [*token, *adapter] if encoder.gaze_token else adapter


def loss_of(network, output_key, scenes):
    scenes = scenes.clone()
    scenes["action"] = scenes["target"]
    return network(scenes)[output_key].square().mean()


@pytest.mark.parametrize("role", BUILDERS)
@pytest.mark.parametrize("encoder", ENCODERS)
def test_selects_exactly_the_gaze_reading_tensors(encoder, role):
    network, _ = network_and_output(encoder, role)
    selected = gaze_parameters(network)
    expected = expected_gaze_parameters(encoder, find_encoder(network))
    assert [id(p) for p in selected] == [id(p) for p in expected]
    adapter = [(ADAPTER_WIDTH, 5), (ADAPTER_WIDTH,), (32, ADAPTER_WIDTH), (32,)]
    shapes = {"mlp": [(64, 3)], "cnn": [(16, 1, 3, 3)], "transformer": [(32, 4), (32,)],
              "transformer+adapter": [(32, 4), (32,), *adapter], "transformer+adapter-token": adapter}[encoder]
    assert [tuple(p.shape) for p in selected] == shapes


@pytest.mark.parametrize("encoder", ["mlp", "cnn"])
def test_networks_without_gaze_observations_have_none(encoder):
    network, _ = network_and_output(encoder, "actor", gaze=False)
    assert gaze_parameters(network) == []


@pytest.mark.parametrize("role", BUILDERS)
@pytest.mark.parametrize("encoder", ENCODERS)
def test_a_gaze_only_step_changes_only_gaze_parameters(encoder, role, generator):
    network, output_key = network_and_output(encoder, role)
    selected = gaze_parameters(network)
    network.requires_grad_(False)
    for parameter in selected:
        parameter.requires_grad_(True)
    before = {name: value.clone() for name, value in network.state_dict().items()}
    optimizer = torch.optim.Adam(selected, lr=1e-2)
    loss_of(network, output_key, random_scenes(64, generator, gaze_valid_prob=1.0)).backward()
    optimizer.step()
    after = network.state_dict()
    selected_ids = {id(p) for p in selected}
    for name, parameter in network.named_parameters():
        if id(parameter) in selected_ids:
            assert not torch.equal(after[name], before[name]), f"gaze parameter {name} did not train"
        else:
            assert torch.equal(after[name], before[name]), f"non-gaze parameter {name} changed"
    assert all(torch.equal(after[name], before[name]) for name, _ in network.named_buffers())


@pytest.mark.parametrize("encoder", ENCODERS)
def test_gaze_free_inputs_give_gaze_parameters_zero_gradient(encoder, generator):
    network, output_key = network_and_output(encoder, "actor")
    loss_of(network, output_key, random_scenes(64, generator, gaze_valid_prob=0.0)).backward()
    encoder_module = find_encoder(network)
    dropped_token = [] if getattr(encoder_module, "gaze_token", True) else \
        encoder_module.tokenizer.parameters_of(TokenType.GAZE)  # read by nothing
    gaze_ids = {id(p) for p in gaze_parameters(network) + dropped_token}
    for parameter in gaze_parameters(network):
        assert torch.count_nonzero(parameter.grad) == 0
    other_grads = [p.grad for p in network.parameters() if id(p) not in gaze_ids]
    assert all(grad is not None and torch.count_nonzero(grad) > 0 for grad in other_grads)
    network.zero_grad()
    loss_of(network, output_key, random_scenes(64, generator, gaze_valid_prob=1.0)).backward()
    assert all(torch.count_nonzero(p.grad) > 0 for p in gaze_parameters(network))
