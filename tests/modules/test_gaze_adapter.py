"""The gaze-pellet adapter: where it writes, what it reads, and that adding it keeps a checkpoint's function."""

import pytest
import torch
from synthetic_scenes import GAZE_SLOT, SpecOnlyEnv, random_scenes

from bikkle_rl.envs.transforms.token_layout import TokenType
from bikkle_rl.modules import ModelConfig, make_actor
from bikkle_rl.modules.gaze_adapter import GazePelletAdapter, load_weights_keeping_new_adapters
from bikkle_rl.modules.token_transformer import TransformerBlock

WIDTH = 16


def randomised_adapter(hidden: int = 8) -> GazePelletAdapter:
    """An adapter whose zero-initialised output layer is randomised, so that it writes something."""
    adapter = GazePelletAdapter(WIDTH, hidden)
    with torch.no_grad():
        adapter.net[-1].weight.normal_()
        adapter.net[-1].bias.normal_()
    return adapter


def token_major(scenes):
    """The [T, B, ...] layout the encoder hands the adapter (absent tokens are zero in ``random_scenes``)."""
    return scenes["tokens"].transpose(0, 1), scenes["token_type"].T, scenes["token_mask"].T


def test_a_fresh_adapter_writes_nothing(generator):
    out = GazePelletAdapter(WIDTH, 8)(*token_major(random_scenes(32, generator, gaze_valid_prob=1.0)))
    assert out.shape == (9, 32, WIDTH) and torch.count_nonzero(out) == 0


def test_it_writes_only_into_present_pellets_of_rows_whose_gaze_is_present(generator):
    tokens, token_type, mask = token_major(random_scenes(64, generator, gaze_valid_prob=0.5))
    out = randomised_adapter()(tokens, token_type, mask)
    pellet = (token_type == TokenType.PINK) | (token_type == TokenType.BLUE)
    should_write = pellet & mask & mask[GAZE_SLOT]
    assert should_write.any() and (~should_write & pellet & mask).any()  # both cases occur
    written = out.abs().sum(-1) > 0
    assert torch.equal(written, should_write)


def test_it_reads_each_pellet_relative_to_the_gaze_point(generator):
    """Moving the agent moves every pellet and the gaze by the same offset: the adapter's output stays; moving
    only the gaze changes it."""
    tokens, token_type, mask = token_major(random_scenes(16, generator, gaze_valid_prob=1.0))
    adapter = randomised_adapter()
    shift = torch.tensor([0.3, -0.2])
    moved = tokens.clone()
    moved[1:GAZE_SLOT + 1, :, :2] += shift * mask[1:GAZE_SLOT + 1, :, None]
    torch.testing.assert_close(adapter(moved, token_type, mask), adapter(tokens, token_type, mask))
    gaze_moved = tokens.clone()
    gaze_moved[GAZE_SLOT, :, :2] += shift
    assert not torch.allclose(adapter(gaze_moved, token_type, mask), adapter(tokens, token_type, mask))


def randomised_actor(gaze_adapter: int, gaze_token: bool = True) -> torch.nn.Module:
    actor = make_actor(ModelConfig(encoder="transformer", gaze_adapter=gaze_adapter, gaze_token=gaze_token),
                       SpecOnlyEnv())
    with torch.no_grad():
        for block in actor.modules():
            if isinstance(block, TransformerBlock):
                block.attention_out.weight.normal_(std=0.2)
    return actor


def test_a_checkpoint_without_adapter_loads_into_a_model_with_one_and_keeps_its_function(generator):
    plain, adapted = randomised_actor(0), randomised_actor(8)
    load_weights_keeping_new_adapters(adapted, plain.state_dict())
    scenes = random_scenes(64, generator, gaze_valid_prob=1.0)
    torch.testing.assert_close(adapted(scenes.clone())["loc"], plain(scenes.clone())["loc"], rtol=0, atol=0)
    assert any("gaze_adapter" in name for name in adapted.state_dict())


def test_without_the_gaze_token_gaze_reaches_the_network_through_the_adapter_alone(generator):
    """A no-gaze agent given an adapter and no gaze token computes its function without gaze, whatever the gaze,
    until the adapter trains; then gaze changes its output."""
    actor = randomised_actor(8, gaze_token=False)
    scenes = random_scenes(64, generator, gaze_valid_prob=1.0)
    no_gaze = scenes.clone()
    no_gaze["token_mask"][:, GAZE_SLOT] = False
    with_gaze = actor(scenes.clone())["loc"]
    torch.testing.assert_close(with_gaze, actor(no_gaze.clone())["loc"], rtol=0, atol=0)
    with torch.no_grad():
        next(m for m in actor.modules() if isinstance(m, GazePelletAdapter)).net[-1].weight.normal_()
    assert not torch.allclose(actor(scenes.clone())["loc"], actor(no_gaze)["loc"])
    plain = randomised_actor(8)  # the gaze token, randomised, moves the output with the gaze alone
    assert not torch.allclose(plain(scenes.clone())["loc"], plain(no_gaze)["loc"])


def test_anything_else_missing_still_fails():
    plain, adapted = randomised_actor(0), randomised_actor(8)
    state = plain.state_dict()
    dropped = next(name for name in state if "qkv" in name)
    del state[dropped]
    with pytest.raises(RuntimeError, match="Missing key"):
        load_weights_keeping_new_adapters(adapted, state)
