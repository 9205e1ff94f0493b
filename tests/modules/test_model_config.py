import pytest

from bikkle_rl.modules import ModelConfig


def test_defaults_are_valid():
    cfg = ModelConfig()
    assert cfg.encoder == "mlp" and cfg.token_width % cfg.num_heads == 0


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"encoder": "rnn"}, "encoder must be one of"),
        ({"pooling": "max"}, "pooling must be one of"),
        ({"distribution": "beta"}, "distribution must be one of"),
        ({"hidden": 0}, "hidden must be >= 1"),
        ({"q_action_input": "late"}, "q_action_input must be one of"),
        ({"q_action_input": "encoder", "encoder": "transformer"}, "needs the mlp encoder"),
        ({"token_width": 30, "num_heads": 4}, "divisible by num_heads"),
        ({"cnn_channels": []}, "cnn_channels"),
        ({"min_scale": 2.0, "init_scale": 1.0}, "min_scale < init_scale"),
        ({"policy_init_gain": 0.0}, "policy_init_gain must be > 0"),
        ({"gaze_adapter": -1, "encoder": "transformer"}, "gaze_adapter must be 0"),
        ({"gaze_adapter": 8, "encoder": "mlp"}, "with the transformer encoder"),
        ({"gaze_token": False, "encoder": "transformer"}, "gaze_token: false needs gaze_adapter > 0"),
        ({"gaze_token": "no", "encoder": "transformer", "gaze_adapter": 8}, "gaze_token must be true or false"),
        ({"init_scale": "wide"}, "init_scale must be a number, got 'wide'"),
        ({"min_scale": True}, "min_scale must be a number, got True"),
        ({"hidden": 64.5}, "hidden must be a whole number, got 64.5"),
        ({"gaze_adapter": "32", "encoder": "transformer"}, "gaze_adapter must be a whole number, got '32'"),
    ],
)
def test_invalid_values_raise_naming_the_field(overrides, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**overrides)
