"""The Bikkle arena: batched TorchRL env, its config, dynamics, rendering and gymnasium adapters.

Everything but the config and the keys is imported on first use: the gymnasium adapters, which import this
package, must not import TorchRL (it switches multiprocessing to ``spawn`` on import).
"""

from importlib import import_module

from bikkle_rl.envs.config import BikkleConfig
from bikkle_rl.envs.keys import PRIVILEGED

LAZY_ATTRIBUTES = {
    "BikkleEnv": "bikkle_rl.envs.bikkle",
    "make_env": "bikkle_rl.envs.stack",
    "render_frames": "bikkle_rl.envs.render",
    "save_video": "bikkle_rl.envs.video",
}

__all__ = ["PRIVILEGED", "BikkleConfig", "BikkleEnv", "make_env", "render_frames", "save_video"]


def __getattr__(name: str):
    if name in LAZY_ATTRIBUTES:
        return getattr(import_module(LAZY_ATTRIBUTES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
