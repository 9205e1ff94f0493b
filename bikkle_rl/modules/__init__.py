"""Policy and value networks: MLP, token-transformer and CNN encoders under actor, critic and Q heads."""

from bikkle_rl.modules.cnn import CNNEncoder
from bikkle_rl.modules.config import ModelConfig
from bikkle_rl.modules.encoders import ENCODER_IN_KEYS, GAZE_KEYS, make_encoder
from bikkle_rl.modules.gaze_params import gaze_parameters
from bikkle_rl.modules.heads import make_actor, make_critic, make_q
from bikkle_rl.modules.mlp import MLPEncoder
from bikkle_rl.modules.networks import Networks, algorithm_model_config, make_networks
from bikkle_rl.modules.token_transformer import TokenTransformer

__all__ = [
    "ENCODER_IN_KEYS",
    "GAZE_KEYS",
    "CNNEncoder",
    "MLPEncoder",
    "ModelConfig",
    "Networks",
    "TokenTransformer",
    "algorithm_model_config",
    "gaze_parameters",
    "make_actor",
    "make_critic",
    "make_encoder",
    "make_networks",
    "make_q",
]
