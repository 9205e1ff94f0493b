"""A gaze pathway that can be learned alone: per pellet, where it lies from the gaze point.

A token transformer reads gaze through one gaze token, and learns to compare it with each pellet in its
attention layers. A pretrained agent that never saw gaze cannot learn that comparison when only its gaze
parameters train: the attention that would make it is frozen, so a gaze-only fine-tune of the gaze token mostly
learns to ignore gaze. :class:`GazePelletAdapter` makes the comparison itself and writes it into each pellet's
embedding; its output layer starts at zero, so adding it to a pretrained network leaves the network's function
unchanged until it trains (:func:`load_weights_keeping_new_adapters`); with the never-learned gaze token dropped
(``ModelConfig.gaze_token=False``) the fine-tune starts at exactly the agent's play without gaze. What such fine-tunes reach, with and without an
exploration floor (``bikkle-finetune min_scale=0.4``), is measured by ``benchmarks/gaze_value.py`` and reported in
``docs/gaze_value.md``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from bikkle_rl.envs.transforms.token_layout import TokenType

ADAPTER_NAME = "gaze_adapter"
"""The attribute name of the adapter inside an encoder; how a state dict's adapter entries are recognised."""

ADAPTER_FEATURES = 5
"""Per pellet: its offset from the gaze point (dx, dy), that distance, the gaze's age, and whether it is pink."""


class GazePelletAdapter(nn.Module):
    """Maps each present pellet's relation to a present gaze to a vector added to that pellet's embedding.

    ``forward(tokens, token_type, token_mask)`` takes the token-major set [T, B, TOKEN_FEATURES], [T, B],
    [T, B] (absent tokens' features zeroed) and returns [T, B, width]: zero for every token but the present
    pellets of rows whose gaze token is present.
    """

    def __init__(self, width: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(ADAPTER_FEATURES, hidden), nn.GELU(), nn.Linear(hidden, width))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, tokens: torch.Tensor, token_type: torch.Tensor, token_mask: torch.Tensor) -> torch.Tensor:
        is_gaze = token_type == int(TokenType.GAZE)
        gaze = (tokens * is_gaze[..., None]).sum(0)  # [B, F]: (dx, dy, distance, age) from the agent
        gaze_present = (token_mask & is_gaze).any(0)  # [B]
        is_pink = token_type == int(TokenType.PINK)
        is_pellet = is_pink | (token_type == int(TokenType.BLUE))
        offset = tokens[..., :2] - gaze[:, :2]  # [T, B, 2]: pellet minus gaze point (both relative to the agent)
        age = gaze[:, 3].expand(offset.shape[:-1])  # [T, B]
        features = torch.stack((*offset.unbind(-1), offset.norm(dim=-1), age, is_pink.to(tokens.dtype)), -1)
        active = is_pellet & token_mask & gaze_present
        return self.net(features) * active[..., None]


def with_fresh_adapters(module: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state_dict`` completed with the fresh values of the gaze-adapter weights ``module`` has and it lacks: a
    checkpoint trained without an adapter then loads into a model that adds one (a gaze-only fine-tune), and the
    model computes the checkpoint's function. Anything else missing still fails to load."""
    fresh = {name: value for name, value in module.state_dict().items()
             if ADAPTER_NAME in name.split(".") and name not in state_dict}
    return {**state_dict, **fresh}


def load_weights_keeping_new_adapters(module: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> None:
    """``module.load_state_dict(state_dict)``, with gaze adapters new to ``module`` kept fresh
    (:func:`with_fresh_adapters`)."""
    module.load_state_dict(with_fresh_adapters(module, state_dict))
