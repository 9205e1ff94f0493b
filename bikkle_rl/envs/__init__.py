"""The Bikkle arena: batched TorchRL env, its config, dynamics, rendering and gymnasium adapter."""

from bikkle_rl.envs.bikkle import PRIVILEGED, BikkleEnv
from bikkle_rl.envs.config import BikkleConfig

__all__ = ["BikkleConfig", "BikkleEnv", "PRIVILEGED"]
