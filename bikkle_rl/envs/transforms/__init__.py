"""Composable TorchRL transforms over the Bikkle observation (one transform per module)."""

from bikkle_rl.envs.transforms.episode_sum import EpisodeSum
from bikkle_rl.envs.transforms.flatten import Flatten
from bikkle_rl.envs.transforms.gaze_evidence import GazeEvidence
from bikkle_rl.envs.transforms.gaze_injection import GazeInjection
from bikkle_rl.envs.transforms.max_norm_action import MaxNormAction
from bikkle_rl.envs.transforms.reward_normalization import RewardNormalization
from bikkle_rl.envs.transforms.semantic_image import SemanticImage
from bikkle_rl.envs.transforms.sort_pellets import SortPellets
from bikkle_rl.envs.transforms.token_layout import NUM_TOKEN_TYPES, TOKEN_FEATURES, TokenType
from bikkle_rl.envs.transforms.tokenize import Tokenize

__all__ = [
    "NUM_TOKEN_TYPES",
    "TOKEN_FEATURES",
    "EpisodeSum",
    "Flatten",
    "GazeEvidence",
    "GazeInjection",
    "MaxNormAction",
    "RewardNormalization",
    "SemanticImage",
    "SortPellets",
    "TokenType",
    "Tokenize",
]
