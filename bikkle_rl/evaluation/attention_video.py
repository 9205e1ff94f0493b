"""What a token-transformer agent attends to, drawn over the human view: a halo around each pellet and the gaze cross
whose width is the attention the pooled output pays to that token (``bikkle-eval ... video=attention``).

The weights are :meth:`~bikkle_rl.modules.token_transformer.TokenTransformer.pooled_attention`: the last block's
attention, averaged over heads, from the query the encoder's output is pooled from (its learned query token, or
the mean of the present tokens' rows). A halo is drawn for the pellet slots and the gaze, the tokens with a place
in the arena; the rest of the weight (on the agent, the round progress and a learned query token) is not drawn.
A researcher sees whether the agent looks at the pellet the gaze points to: a wide halo on the gaze, then on the
pellet under the cross.
"""

from __future__ import annotations

import torch
from tensordict import TensorDictBase
from torch import nn

from bikkle_rl.envs.config import BikkleConfig
from bikkle_rl.envs.render import GAZE_ARM, colour, ring, stamp
from bikkle_rl.envs.video import LEGEND, LegendEntry
from bikkle_rl.modules.token_transformer import TokenTransformer

ATTENTION_COLOUR = (190, 120, 255)
HALO_WIDTH = 0.12
"""Halo width at attention weight 1, in arena units (halo width = weight x this): 15 px in a 128 px arena."""
ATTENTION_LEGEND: tuple[LegendEntry, ...] = (*LEGEND, ("ring", ATTENTION_COLOUR, "halo width: attention"))
"""The legend of an attention video: the human view's, and the halo."""


def token_transformer_of(actor: nn.Module) -> TokenTransformer:
    """The :class:`TokenTransformer` encoder of ``actor``; a ``ValueError`` when it has none (an MLP or CNN agent)."""
    encoder = next((module for module in actor.modules() if isinstance(module, TokenTransformer)), None)
    if encoder is None:
        raise ValueError("only a token-transformer agent (model.encoder=transformer) has attention to draw")
    return encoder


def attended_objects(encoder: TokenTransformer, observation: TensorDictBase) -> tuple[torch.Tensor, torch.Tensor]:
    """The arena objects of the token layout and the attention ``encoder`` pays to each, for ``observation`` [N].

    Returns ``centres`` [N, P + 1, 2] in arena coordinates and ``weights`` [N, P + 1]: the P pellet slots, then the
    gaze (tokens 1 to P + 1 of :mod:`~bikkle_rl.envs.transforms.token_layout`). Each centre is the agent's position
    (the agent token's features) plus the object's offset (its token's first two features), so it is where the model
    sees the object, in the slot order it sees (``SortPellets`` may reorder the env's slots). Absent pellets and
    gaze have weight 0.
    """
    tokens = observation["tokens"]  # [N, T, TOKEN_FEATURES]
    weights = encoder.pooled_attention(tokens, observation["token_type"], observation["token_mask"])
    objects = slice(1, tokens.shape[-2] - 1)
    centres = tokens[..., :1, :2] + tokens[..., objects, :2]
    return centres, weights[..., objects]


def paint_halos(frames: torch.Tensor, centres: torch.Tensor, inner: list[float], weights: torch.Tensor) -> torch.Tensor:
    """``frames`` uint8 [N, H, W, 3] (arenas of :func:`~bikkle_rl.envs.render.render_frames`) with a halo around
    each object: ``centres`` [N, K, 2], ``weights`` [N, K] in [0, 1], ``inner`` the K objects' radii (arena units).

    Each halo is a ring from one pixel outside its object to ``weight * HALO_WIDTH`` beyond; a weight of 0 draws
    nothing, so a frame changes only within ``inner + 1 px + HALO_WIDTH`` of its objects.
    """
    size = frames.shape[1]
    canvas = torch.cat((frames, frames[:1]))  # and the scratch image of paint_pixels
    rgb = colour(ATTENTION_COLOUR, frames.device)
    for index, radius in enumerate(inner):
        start = radius + 1.0 / size
        halo = ring(start, start + weights[:, index] * HALO_WIDTH)
        stamp(canvas, centres[:, index], start + HALO_WIDTH, halo, rgb)
    return canvas[:-1]


class AttentionOverlay:
    """Draws the attention of ``actor``'s token transformer on frames: a
    :data:`~bikkle_rl.evaluation.report.FrameOverlay` for :func:`~bikkle_rl.evaluation.report.record_video`, whose
    legend is :data:`ATTENTION_LEGEND`. Raises ``ValueError`` for an agent without a token transformer."""

    def __init__(self, actor: nn.Module):
        self.encoder = token_transformer_of(actor)

    def __call__(self, observation: TensorDictBase, frames: torch.Tensor, config: BikkleConfig) -> torch.Tensor:
        centres, weights = attended_objects(self.encoder, observation)
        return paint_halos(frames, centres, [config.pellet_radius] * config.num_pellets + [GAZE_ARM], weights)
