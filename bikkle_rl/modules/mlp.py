"""The MLP encoder over the flat observation vector, and the small layer helpers the other modules share."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

HIDDEN_GAIN = math.sqrt(2.0)
"""Orthogonal-init gain of hidden layers (CleanRL's PPO value, used for tanh and ReLU alike)."""

_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU, "gelu": nn.GELU, "silu": nn.SiLU}


def make_activation(name: str) -> nn.Module:
    """A fresh activation module by name (one of ``ModelConfig``'s ``ACTIVATIONS``)."""
    return _ACTIVATIONS[name]()


def orthogonal_init(layer: nn.Linear | nn.Conv2d, gain: float) -> nn.Linear | nn.Conv2d:
    """Orthogonal weights scaled by ``gain`` and a zero bias (PPO practice); returns the layer."""
    nn.init.orthogonal_(layer.weight, gain)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


class GazeSplitLinear(nn.Module):
    """A Linear over ``x`` [..., F] whose last ``gaze_features`` input columns have their own weight.

    ``out = main(x[..., :F-g]) + gaze(x[..., F-g:])``: exactly a Linear over all F columns, but the gaze
    columns' weights are a separate, bias-free parameter (``gaze.weight`` [out, g]) so a fine-tune can train
    them alone. Initialised as one orthogonal [out, F] matrix cut in two.
    """

    def __init__(self, in_features: int, gaze_features: int, out_features: int, gain: float):
        super().__init__()
        if not 0 <= gaze_features < in_features:
            raise ValueError(f"gaze_features must be in [0, {in_features}), got {gaze_features!r}")
        self.split = in_features - gaze_features
        self.main = nn.Linear(self.split, out_features)
        self.gaze = nn.Linear(gaze_features, out_features, bias=False) if gaze_features else None
        weight = nn.init.orthogonal_(torch.empty(out_features, in_features), gain)
        with torch.no_grad():
            self.main.weight.copy_(weight[:, : self.split])
            self.main.bias.zero_()
            if self.gaze is not None:
                self.gaze.weight.copy_(weight[:, self.split :])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gaze is None:
            return self.main(x)
        # one product over all columns with the two weights joined: the same sum as main(x[..., :split]) +
        # gaze(x[..., split:]), without two products over strided slices (1.5x faster forward and backward)
        return F.linear(x, torch.cat([self.main.weight, self.gaze.weight], dim=1), self.main.bias)

    def gaze_parameters(self) -> list[nn.Parameter]:
        return [] if self.gaze is None else [self.gaze.weight]


class MLPEncoder(nn.Module):
    """Encodes ``observation_vector`` [..., F] (any leading batch dims) into features [..., hidden].

    The Flatten transform puts the gaze features (``gaze``, ``gaze_valid``, optionally ``gaze_age``) in the
    last ``gaze_features`` columns; the first layer reads them through their own weight (see
    :class:`GazeSplitLinear`), which is all that :meth:`gaze_parameters` returns. Orthogonal init with gain
    sqrt(2), zero biases, no normalisation layers: the CleanRL PPO network that is known to learn this task.
    """

    def __init__(self, in_features: int, gaze_features: int, hidden: int, num_layers: int, activation: str):
        super().__init__()
        layers: list[nn.Module] = [GazeSplitLinear(in_features, gaze_features, hidden, HIDDEN_GAIN)]
        layers.append(make_activation(activation))
        for _ in range(num_layers - 1):
            layers += [orthogonal_init(nn.Linear(hidden, hidden), HIDDEN_GAIN), make_activation(activation)]
        self.layers = nn.Sequential(*layers)
        self.out_features = hidden

    def forward(self, observation_vector: torch.Tensor) -> torch.Tensor:
        return self.layers(observation_vector)

    def gaze_parameters(self) -> list[nn.Parameter]:
        return self.layers[0].gaze_parameters()
