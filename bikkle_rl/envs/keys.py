"""TensorDict keys the env writes and other packages read, in a module that imports nothing at run time.

Gaze sources and transforms read the privileged observations by these keys without importing the TorchRL env.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from tensordict import TensorDictBase

PRIVILEGED = "privileged"
"""Nested key of the privileged observations (``pellet_pos`` [N, P, 2], ``is_high_value`` [N, P]): what the
human sees. Never feed these to a policy; gaze sources and the oracle baseline read them."""

GAZE_INFORMATIVE_KEY = (PRIVILEGED, "gaze_informative")
"""[N, 1] bool, written by ``GazeInjection``: whether the arena's gaze source this episode carries anything about
the high-value pellet (False for uniform and absent gaze). What a trainer may know and the agent must find out."""


def gaze_informative(batch: TensorDictBase, needed_by: str) -> torch.Tensor:
    """``batch``'s :data:`GAZE_INFORMATIVE_KEY`; a ``KeyError`` naming the option ``needed_by`` (a training option
    that reads it) where the batch has none, as in a run without gaze."""
    informative = batch.get(GAZE_INFORMATIVE_KEY, None)
    if informative is None:
        raise KeyError(f"{needed_by} > 0 needs gaze in the env: the batch has no {GAZE_INFORMATIVE_KEY!r} "
                       "(written by GazeInjection)")
    return informative
