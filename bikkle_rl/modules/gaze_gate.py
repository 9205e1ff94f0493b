"""A gate on the transformer's gaze path, opened by how far this episode's gaze has deserved trust.

An agent that reads gaze through its attention layers can only learn to discount a look where everything it sees
says so, and uniform gaze still led agents into blue pellets late in their episodes, when the gaze's track record
(``GazeEvidence(track_record=True)``, in the round token) could already tell that it carried nothing.
:class:`GazeTrustGate` makes discounting structural: a small network of the round token (the round's progress and
the track record: hits and reveals so far) gives a trust in (0, 1) per arena, and every path by which gaze reaches
the network is scaled by it: the gaze-pellet adapter's output and each pellet's share of the looks (the gaze token
itself must be off, ``ModelConfig.gaze_token=False``). At trust 0 the network computes exactly its function
without gaze; what trust each record earns is learned from the returns. It starts open (``INITIAL_TRUST``), so
gaze is read from the start as it would be without the gate.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from bikkle_rl.envs.transforms.token_layout import TokenType

GATE_FEATURES = 3
"""The round token's first three features: round progress, hits / (1 + reveals), reveals / (1 + reveals)."""

INITIAL_TRUST = 0.9
"""The gate's output for every record at initialisation: gaze is read from the start, nearly unscaled."""


class GazeTrustGate(nn.Module):
    """``forward(tokens, token_type)`` on the token-major set [T, B, TOKEN_FEATURES], [T, B] -> trust [B] in (0, 1),
    a function of the round token's features alone."""

    def __init__(self, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(GATE_FEATURES, hidden), nn.GELU(), nn.Linear(hidden, 1))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.constant_(self.net[-1].bias, math.log(INITIAL_TRUST / (1 - INITIAL_TRUST)))

    def forward(self, tokens: torch.Tensor, token_type: torch.Tensor) -> torch.Tensor:
        is_round = token_type == int(TokenType.ROUND)
        round_token = (tokens * is_round[..., None]).sum(0)  # [B, F]: one round token per row
        return torch.sigmoid(self.net(round_token[:, :GATE_FEATURES])).squeeze(-1)


def gate_gaze_shares(tokens: torch.Tensor, token_type: torch.Tensor, trust: torch.Tensor) -> torch.Tensor:
    """``tokens`` [T, B, F] with each pellet's share of the looks (its last feature) scaled by its row's ``trust``
    [B]; every other feature unchanged."""
    is_pellet = (token_type == int(TokenType.PINK)) | (token_type == int(TokenType.BLUE))
    share_scale = torch.where(is_pellet, trust, 1.0)  # [T, B]
    return torch.cat((tokens[..., :-1], tokens[..., -1:] * share_scale[..., None]), -1)
