"""Builds the configured encoder from an env's observation spec, and names the keys each encoder reads."""

from __future__ import annotations

from torch import nn
from torchrl.data import Composite

from bikkle_rl.modules.cnn import CNNEncoder
from bikkle_rl.modules.config import ModelConfig
from bikkle_rl.modules.mlp import MLPEncoder
from bikkle_rl.modules.token_transformer import TokenTransformer

ENCODER_IN_KEYS = {
    "mlp": ["observation_vector"],
    "transformer": ["tokens", "token_type", "token_mask"],
    "cnn": ["image"],
}
"""The observation keys each encoder reads, in the order its ``forward`` takes them."""

GAZE_KEYS = ("gaze", "gaze_valid", "gaze_age")
"""Gaze observations; when present, Flatten appends them (in this order) as the last columns of the vector."""

IMAGE_OBJECT_CHANNELS = 3
"""The image's first channels (agent, pink, blue); any channel after them is gaze."""


def make_encoder(cfg: ModelConfig, observation_spec: Composite, extra_inputs: int = 0) -> tuple[nn.Module, list[str]]:
    """The encoder ``cfg.encoder`` sized from ``observation_spec``, and the keys it reads.

    Which inputs are gaze is read from the spec: the MLP's last columns, as many as the ``GAZE_KEYS`` present
    in the spec hold; the CNN's channels after the first ``IMAGE_OBJECT_CHANNELS``; the transformer's gaze token.
    ``extra_inputs`` widens the MLP's input by that many columns placed before the observation (a Q network's
    action, :class:`~bikkle_rl.modules.heads.QNet`).
    """
    in_keys = ENCODER_IN_KEYS[cfg.encoder]
    missing = [key for key in in_keys if key not in observation_spec]
    if missing:
        raise KeyError(
            f"encoder {cfg.encoder!r} reads {in_keys} but the observation spec lacks {missing} "
            f"(it has {sorted(map(str, observation_spec.keys()))}); add the transform that writes them"
        )
    if cfg.encoder == "mlp":
        in_features = observation_spec["observation_vector"].shape[-1] + extra_inputs
        gaze_features = sum(observation_spec[key].shape[-1] for key in GAZE_KEYS if key in observation_spec)
        encoder = MLPEncoder(in_features, gaze_features, cfg.hidden, cfg.mlp_layers, cfg.activation)
    elif cfg.encoder == "transformer":
        encoder = TokenTransformer(cfg.token_width, cfg.transformer_layers, cfg.num_heads, cfg.ff_multiplier,
                                   cfg.pooling, cfg.gaze_adapter, cfg.gaze_token, cfg.gaze_gate)
    else:
        channels, height, width = observation_spec["image"].shape[-3:]
        encoder = CNNEncoder(channels, channels - IMAGE_OBJECT_CHANNELS, height, width, cfg.cnn_channels,
                             cfg.hidden, cfg.activation)
    return encoder, list(in_keys)
