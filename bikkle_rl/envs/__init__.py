"""The Bikkle arena: batched TorchRL env, its config, dynamics, rendering and gymnasium adapter.

``make_env`` (the transform-stack builder of :mod:`bikkle_rl.envs.stack`) is imported on first use: the
transforms it builds read gaze sources, which themselves build on this package.
"""

from bikkle_rl.envs.bikkle import PRIVILEGED, BikkleEnv
from bikkle_rl.envs.config import BikkleConfig
from bikkle_rl.envs.render import render_frames
from bikkle_rl.envs.video import save_video

__all__ = ["PRIVILEGED", "BikkleConfig", "BikkleEnv", "make_env", "render_frames", "save_video"]


def __getattr__(name: str):
    if name == "make_env":
        from bikkle_rl.envs.stack import make_env

        return make_env
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
