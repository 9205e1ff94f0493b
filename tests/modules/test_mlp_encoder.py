import pytest
import torch
from torch import nn

from bikkle_rl.modules import MLPEncoder
from bikkle_rl.modules.mlp import GazeSplitLinear


def test_gaze_split_linear_is_one_linear_over_all_columns():
    split = GazeSplitLinear(in_features=10, gaze_features=3, out_features=8, gain=1.0)
    full = nn.Linear(10, 8)
    with torch.no_grad():
        full.weight.copy_(torch.cat([split.main.weight, split.gaze.weight], dim=1))
        full.bias.copy_(split.main.bias)
    x = torch.randn(5, 10)
    torch.testing.assert_close(split(x), full(x))
    assert split.gaze_parameters() == [split.gaze.weight] and split.gaze.bias is None


def test_gaze_split_linear_initialises_as_one_orthogonal_matrix():
    split = GazeSplitLinear(in_features=10, gaze_features=3, out_features=16, gain=1.0)
    weight = torch.cat([split.main.weight, split.gaze.weight], dim=1)  # [16, 10]: orthonormal columns
    torch.testing.assert_close(weight.T @ weight, torch.eye(10), atol=1e-5, rtol=0)


def test_without_gaze_there_are_no_gaze_parameters():
    encoder = MLPEncoder(in_features=10, gaze_features=0, hidden=16, num_layers=2, activation="tanh")
    assert encoder.gaze_parameters() == []
    assert encoder(torch.randn(3, 4, 10)).shape == (3, 4, 16)


def test_gaze_features_must_leave_other_inputs():
    with pytest.raises(ValueError, match="gaze_features"):
        MLPEncoder(in_features=3, gaze_features=3, hidden=16, num_layers=2, activation="tanh")
