"""A small CNN encoder over the ``SemanticImage`` view (channels: agent, pink, blue[, gaze])."""

from __future__ import annotations

import itertools

import torch
from torch import nn

from bikkle_rl.modules.mlp import HIDDEN_GAIN, make_activation, orthogonal_init


class CNNEncoder(nn.Module):
    """Encodes ``image`` [..., C, H, W] (any leading batch dims) into features [..., hidden].

    A stride-1 3x3 conv, then stride-2 3x3 convs (one per further entry of ``channels``), then a Linear over
    the flattened map: the Linear keeps where things are, which the geometry of the task needs. The last
    ``gaze_channels`` image channels go through their own bias-free first conv, summed with the others', so
    :meth:`gaze_parameters` is exactly that conv's weight. Orthogonal init (gain sqrt(2)), no normalisation.
    """

    def __init__(self, in_channels: int, gaze_channels: int, height: int, width: int, channels: list[int],
                 hidden: int, activation: str):
        super().__init__()
        if not 0 <= gaze_channels < in_channels:
            raise ValueError(f"gaze_channels must be in [0, {in_channels}), got {gaze_channels!r}")
        self.split = in_channels - gaze_channels
        self.input = orthogonal_init(nn.Conv2d(self.split, channels[0], 3, padding=1), HIDDEN_GAIN)
        self.gaze_input = None
        if gaze_channels:
            self.gaze_input = orthogonal_init(nn.Conv2d(gaze_channels, channels[0], 3, padding=1, bias=False),
                                              HIDDEN_GAIN)
        layers: list[nn.Module] = [make_activation(activation)]
        for c_in, c_out in itertools.pairwise(channels):
            layers += [orthogonal_init(nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), HIDDEN_GAIN),
                       make_activation(activation)]
        layers.append(nn.Flatten())
        self.convs = nn.Sequential(*layers)
        with torch.no_grad():
            flat = self.convs(torch.zeros(1, channels[0], height, width)).shape[-1]
        self.head = nn.Sequential(orthogonal_init(nn.Linear(flat, hidden), HIDDEN_GAIN), make_activation(activation))
        self.out_features = hidden

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        batch_shape = image.shape[:-3]
        image = image.reshape(-1, *image.shape[-3:])
        x = self.input(image[:, : self.split])
        if self.gaze_input is not None:
            x = x + self.gaze_input(image[:, self.split :])
        return self.head(self.convs(x)).reshape(*batch_shape, -1)

    def gaze_parameters(self) -> list[nn.Parameter]:
        return [] if self.gaze_input is None else [self.gaze_input.weight]
