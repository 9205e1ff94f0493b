"""The Bikkle arena: batched TorchRL env, its config, dynamics, rendering and gymnasium adapter."""

from bikkle_rl.envs.bikkle import PRIVILEGED, BikkleEnv
from bikkle_rl.envs.config import BikkleConfig
from bikkle_rl.envs.render import render_frames
from bikkle_rl.envs.video import save_video
from bikkle_rl.envs.make_env import make_env  # noqa: E402 (after the modules it builds on)

__all__ = ["PRIVILEGED", "BikkleConfig", "BikkleEnv", "make_env", "render_frames", "save_video"]
