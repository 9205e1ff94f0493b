import torch
from torch import nn
from torch.nn import functional as F

from bikkle_rl.modules import CNNEncoder


def test_gaze_channel_conv_sums_to_one_conv_over_all_channels():
    encoder = CNNEncoder(in_channels=4, gaze_channels=1, height=16, width=16, channels=[8, 16], hidden=32,
                         activation="relu")
    image = torch.rand(5, 4, 16, 16)
    weight = torch.cat([encoder.input.weight, encoder.gaze_input.weight], dim=1)
    first = F.conv2d(image, weight, encoder.input.bias, padding=1)
    torch.testing.assert_close(encoder(image), encoder.head(encoder.convs(first)))
    assert encoder.gaze_parameters() == [encoder.gaze_input.weight]


def test_any_leading_batch_dims_and_no_gaze_channel():
    encoder = CNNEncoder(in_channels=3, gaze_channels=0, height=12, width=20, channels=[8, 16, 16], hidden=32,
                         activation="tanh")
    image = torch.rand(2, 3, 3, 12, 20)
    out = encoder(image)
    assert out.shape == (2, 3, 32)
    torch.testing.assert_close(out[1, 2], encoder(image[1, 2]))
    assert encoder.gaze_parameters() == []
    assert not any(isinstance(m, nn.BatchNorm2d) for m in encoder.modules())
