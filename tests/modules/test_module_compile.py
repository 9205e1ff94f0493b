"""``torch.compile`` with ``fullgraph=True`` (no graph breaks) on the networks inside the TorchRL wrappers.

The ``aot_eager`` backend traces forward and backward exactly as inductor would see them, without the slow
C++ code generation; one small network also runs through the default inductor backend.
"""

import pytest
import torch
from synthetic_scenes import SpecOnlyEnv, random_scenes

from bikkle_rl.modules import ModelConfig, make_actor, make_critic, make_q
from bikkle_rl.modules.heads import PolicyNet, QNet, ValueNet


def compiled_matches_eager(operator, scenes, backend):
    """Compiles the nn.Module inside a TensorDictModule-based operator; checks outputs and input-layer grads."""
    network = next(m for m in operator.modules() if isinstance(m, (PolicyNet, ValueNet, QNet)))
    inputs = [scenes[key] for key in operator.in_keys]
    compiled = torch.compile(network, fullgraph=True, backend=backend)
    outputs = {}
    for name, net in (("eager", network), ("compiled", compiled)):
        network.zero_grad()
        out = net(*inputs)
        out = out if isinstance(out, tuple) else (out,)
        sum(o.square().sum() for o in out).backward()
        outputs[name] = (out, [p.grad.clone() for p in network.parameters()])
    (eager_out, eager_grads), (compiled_out, compiled_grads) = outputs["eager"], outputs["compiled"]
    torch.testing.assert_close(compiled_out, eager_out, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(compiled_grads, eager_grads, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("encoder, fields", [
    ("mlp", {}), ("transformer", {}), ("cnn", {}),
    ("transformer", {"gaze_adapter": 16}),  # token types compared with an IntEnum once broke the graph here
    ("transformer", {"gaze_adapter": 16, "gaze_token": False}),
])
def test_actor_network_compiles_without_graph_breaks(encoder, fields, generator):
    torch._dynamo.reset()
    actor = make_actor(ModelConfig(encoder=encoder, token_width=32, hidden=32, **fields), SpecOnlyEnv())
    compiled_matches_eager(actor, random_scenes(8, generator), backend="aot_eager")


def test_q_network_compiles_without_graph_breaks(generator):
    torch._dynamo.reset()
    q = make_q(ModelConfig(encoder="transformer", token_width=32), SpecOnlyEnv())
    scenes = random_scenes(8, generator)
    scenes["action"] = scenes["target"]
    compiled_matches_eager(q, scenes, backend="aot_eager")


def test_mlp_critic_compiles_with_inductor(generator):
    torch._dynamo.reset()
    critic = make_critic(ModelConfig(encoder="mlp", hidden=32), SpecOnlyEnv())
    compiled_matches_eager(critic, random_scenes(8, generator), backend="inductor")
