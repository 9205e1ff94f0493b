import pytest
import torch
from synthetic_scenes import GAZE_SLOT, NUM_TOKENS, random_scenes

from bikkle_rl.envs.transforms.token_layout import TokenType
from bikkle_rl.modules import TokenTransformer


def make_transformer(pooling: str) -> TokenTransformer:
    transformer = TokenTransformer(width=32, num_layers=2, num_heads=4, ff_multiplier=2, pooling=pooling)
    # Fresh residual projections are zero (identity blocks); randomise them so attention really mixes tokens.
    with torch.no_grad():
        for block in transformer.blocks:
            block.attention_out.weight.normal_(std=0.2)
            block.feedforward[-1].weight.normal_(std=0.2)
    return transformer


def encode(transformer, scenes):
    return transformer(scenes["tokens"], scenes["token_type"], scenes["token_mask"])


@pytest.mark.parametrize("pooling", ["mean", "query"])
def test_shapes_with_missing_tokens_and_any_batch_dims(pooling, generator):
    transformer = make_transformer(pooling)
    scenes = random_scenes(12, generator)
    assert (~scenes["token_mask"]).any(), "the batch should contain absent pellets and gaze"
    assert encode(transformer, scenes).shape == (12, 32)
    assert encode(transformer, scenes.reshape(3, 4)).shape == (3, 4, 32)
    torch.testing.assert_close(encode(transformer, scenes.reshape(3, 4)).reshape(12, 32), encode(transformer, scenes))


@pytest.mark.parametrize("pooling", ["mean", "query"])
def test_a_row_with_no_present_token_gives_finite_output(pooling, generator):
    scenes = random_scenes(4, generator)
    scenes["token_mask"][0] = False
    out = encode(make_transformer(pooling), scenes)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("pooling", ["mean", "query"])
def test_perturbing_masked_tokens_leaves_output_identical(pooling, generator):
    transformer = make_transformer(pooling)
    scenes = random_scenes(16, generator)
    absent = ~scenes["token_mask"]
    perturbed = scenes.clone()
    perturbed["tokens"] = torch.where(absent[..., None], torch.randn_like(scenes["tokens"]) * 100, scenes["tokens"])
    perturbed["tokens"][0, GAZE_SLOT] = torch.nan
    perturbed["token_mask"][0, GAZE_SLOT] = False
    scenes["token_mask"][0, GAZE_SLOT] = False
    assert not torch.equal(perturbed["tokens"][absent], scenes["tokens"][absent])
    assert torch.equal(encode(transformer, perturbed), encode(transformer, scenes))


@pytest.mark.parametrize("pooling", ["mean", "query"])
def test_output_is_invariant_to_the_order_of_pellet_tokens(pooling, generator):
    transformer = make_transformer(pooling)
    scenes = random_scenes(16, generator)
    pellet_slots = torch.arange(1, GAZE_SLOT)
    order = torch.cat([torch.tensor([0]), pellet_slots[torch.randperm(len(pellet_slots))],
                       torch.arange(GAZE_SLOT, NUM_TOKENS)])
    permuted = scenes.clone()
    for key in ("tokens", "token_type", "token_mask"):
        permuted[key] = scenes[key][:, order]
    assert not torch.equal(permuted["token_type"], scenes["token_type"])
    torch.testing.assert_close(encode(transformer, permuted), encode(transformer, scenes), atol=1e-5, rtol=1e-5)


def test_pink_and_blue_pellets_are_told_apart(generator):
    transformer = make_transformer("mean")
    scenes = random_scenes(8, generator)
    swapped = scenes.clone()
    pink, blue = int(TokenType.PINK), int(TokenType.BLUE)
    types = scenes["token_type"]
    swapped["token_type"] = torch.where(types == pink, blue, torch.where(types == blue, pink, types))
    assert not torch.allclose(encode(transformer, swapped), encode(transformer, scenes), atol=1e-4)


def test_fresh_blocks_are_the_identity(generator):
    transformer = TokenTransformer(width=32, num_layers=2, num_heads=4, ff_multiplier=2, pooling="mean")
    scenes = random_scenes(8, generator)
    mask = scenes["token_mask"]
    embedded = transformer.final_norm(transformer.tokenizer(scenes["tokens"] * mask[..., None], scenes["token_type"]))
    expected = (embedded * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    torch.testing.assert_close(encode(transformer, scenes), expected)
