"""The attention overlay draws the token transformer's own softmax attention, and only around pellets and gaze."""

import pytest
import torch
import torch.nn.functional as F

from bikkle_rl.envs.render import GAZE_ARM
from bikkle_rl.envs.stack import make_env
from bikkle_rl.evaluation import attention_video
from bikkle_rl.evaluation.attention_video import HALO_WIDTH, AttentionOverlay, token_transformer_of
from bikkle_rl.modules import ModelConfig, make_actor

STACK = {"env": {"num_pink": 3, "num_blue": 3}, "stack": "transformer", "gaze": {"source": "correlated", "p_valid": 0.5}}
NUM_ARENAS = 8


@pytest.fixture
def env():
    return make_env({**STACK, "num_envs": NUM_ARENAS}, seed=0)


def random_actor(env, pooling: str):
    """A small transformer actor whose residual projections are random, so that its blocks really mix tokens."""
    torch.manual_seed(0)
    cfg = ModelConfig(encoder="transformer", token_width=16, transformer_layers=2, num_heads=2, pooling=pooling)
    actor = make_actor(cfg, env)
    with torch.no_grad():
        for block in token_transformer_of(actor).blocks:
            block.attention_out.weight.normal_(std=0.3)
            block.feedforward[-1].weight.normal_(std=0.3)
    return actor


def observation_with_absent_tokens(env):
    """A reset observation [N] in which arena 0 has lost pellet slot 2 and its gaze, as ``Tokenize`` writes them."""
    td = env.reset()
    for index in (2, td["tokens"].shape[-2] - 2):
        td["token_mask"][0, index] = False
        td["tokens"][0, index] = 0.0
    return td


def hand_attention(encoder, tokens, token_type, token_mask) -> torch.Tensor:
    """The last block's softmax attention from the pooled query, head-averaged, [N, T'], from the parameters alone:
    batched matmuls over [N, heads, T, head_width], none of the module's own attention code."""
    tokens = tokens * token_mask[..., None]
    projected = torch.stack([tokens @ projection.weight.T + embedding for projection, embedding
                             in zip(encoder.tokenizer.projections, encoder.tokenizer.type_embeddings)], -2)
    x = projected.gather(-2, token_type[..., None, None].expand(-1, -1, 1, projected.shape[-1])).squeeze(-2)
    present = token_mask.clone()
    if encoder.query is not None:
        x = torch.cat([x, encoder.query.expand(x.shape[0], 1, -1)], 1)
        present = torch.cat([present, present.new_ones(present.shape[0], 1)], 1)
    bias = torch.zeros(present.shape).masked_fill(~present, float("-inf"))[:, None, None, :]  # [N, 1, 1, Tk]
    for index, block in enumerate(encoder.blocks):
        num, length, width = x.shape
        heads = block.num_heads
        normed = F.layer_norm(x, (width,), block.attention_norm.weight, block.attention_norm.bias)
        query, key, value = F.linear(normed, block.qkv.weight, block.qkv.bias).view(num, length, 3, heads, -1).unbind(2)
        query, key, value = (part.transpose(1, 2) for part in (query, key, value))  # [N, heads, T, head_width]
        weights = (query @ key.transpose(-1, -2) / query.shape[-1] ** 0.5 + bias).softmax(-1)  # [N, heads, Tq, Tk]
        if index == len(encoder.blocks) - 1:
            rows = weights.mean(1)  # [N, Tq, Tk]
            if encoder.query is not None:
                return rows[:, -1]
            return (rows * present[..., None]).sum(1) / present.sum(1, keepdim=True)
        attended = (weights @ value).transpose(1, 2).reshape(num, length, width)
        x = x + F.linear(attended, block.attention_out.weight, block.attention_out.bias)
        x = x + block.feedforward(F.layer_norm(x, (width,), block.feedforward_norm.weight, block.feedforward_norm.bias))
    raise AssertionError("the transformer has no block")


@pytest.mark.parametrize("pooling", ["mean", "query"])
def test_the_weights_drawn_are_the_models_softmax_attention(env, pooling, monkeypatch):
    actor = random_actor(env, pooling)
    encoder = token_transformer_of(actor)
    td = observation_with_absent_tokens(env)
    drawn = {}

    def record(frames, centres, inner, weights):
        drawn.update(centres=centres, weights=weights)
        return frames

    monkeypatch.setattr(attention_video, "paint_halos", record)
    frames = env.base_env.render(mode="human", gaze=td["gaze"], gaze_valid=td["gaze_valid"])
    AttentionOverlay(actor)(td, frames, env.base_env.config)

    expected = hand_attention(encoder, td["tokens"], td["token_type"], td["token_mask"])  # [N, T'] over all keys
    num_tokens = td["tokens"].shape[-2]
    torch.testing.assert_close(drawn["weights"], expected[:, 1:num_tokens - 1])  # pellet slots, then the gaze
    full = encoder.pooled_attention(td["tokens"], td["token_type"], td["token_mask"])
    torch.testing.assert_close(full, expected)
    torch.testing.assert_close(full.sum(-1), torch.ones(NUM_ARENAS))  # over present tokens (and the query token)
    absent = ~td["token_mask"]
    assert absent[0, 2] and absent[0, -2] and (full[:, :num_tokens][absent] == 0).all()
    assert (full[:, :num_tokens][~absent] > 0).all()
    agent = td["agent_pos"][:, None]
    present_pellets = td["pellet_mask"][1:]
    torch.testing.assert_close(drawn["centres"][1:, :-1][present_pellets], (agent + td["pellet_rel"])[1:][present_pellets])
    gaze_present = td["token_mask"][:, -2]
    assert gaze_present.any()
    torch.testing.assert_close(drawn["centres"][gaze_present, -1], td["gaze"][gaze_present])


def test_the_forward_pass_is_unchanged_by_reading_attention(env):
    actor = random_actor(env, "mean")
    td = observation_with_absent_tokens(env)
    before = actor(td.clone())["loc"]
    AttentionOverlay(actor)(td, env.base_env.render(mode="human"), env.base_env.config)
    assert torch.equal(actor(td.clone())["loc"], before)


def test_the_halos_change_only_pixels_around_pellets_and_gaze(env):
    actor = random_actor(env, "mean")
    td = env.reset()
    config, size = env.base_env.config, 128
    plain = env.base_env.render(mode="human", size=size, gaze=td["gaze"], gaze_valid=td["gaze_valid"])
    drawn = AttentionOverlay(actor)(td, plain.clone(), config)
    changed = (drawn != plain).any(-1)  # [N, H, W]
    assert changed.any() and drawn.shape == plain.shape

    pixels = (torch.arange(size) + 0.5) / size
    points = torch.stack(torch.broadcast_tensors(pixels[None, :], 1 - pixels[:, None]), -1)  # [H, W, 2] as (x, y)
    pellets = td["agent_pos"][:, None] + td["pellet_rel"]  # [N, P, 2]
    centres = torch.cat([pellets, td["gaze"][:, None]], 1)
    reach = torch.tensor([config.pellet_radius] * config.num_pellets + [GAZE_ARM]) + 2.0 / size + HALO_WIDTH
    shown = torch.cat([td["pellet_mask"], td["gaze_valid"]], 1)  # [N, P + 1]
    distance = (points[None, :, :, None] - centres[:, None, None]).norm(dim=-1)  # [N, H, W, P + 1]
    near = ((distance <= reach) & shown[:, None, None]).any(-1)
    assert not (changed & ~near).any()
    gaze_lost = ~td["gaze_valid"][:, 0]
    assert gaze_lost.any()
    lost_near_gaze = (distance[..., -1] <= reach[-1]) & ~(distance[..., :-1] <= reach[:-1]).any(-1)
    assert not (changed & lost_near_gaze & gaze_lost[:, None, None]).any()  # an absent gaze token draws no halo


def test_an_agent_without_a_token_transformer_has_no_attention(env):
    mlp_env = make_env({**STACK, "stack": "mlp", "num_envs": 2}, seed=0)
    with pytest.raises(ValueError, match="token-transformer"):
        AttentionOverlay(make_actor(ModelConfig(encoder="mlp"), mlp_env))
