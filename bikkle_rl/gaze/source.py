"""The gaze-source interface: anything that says where the human looks, one point per arena and step.

A source is a small stateful object driven by the ``GazeInjection`` transform:

- ``reset(td, mask, generator)`` starts a new episode for the arenas where ``mask`` [N] is True (all when
  ``mask`` is None, which also (re)allocates any per-arena state for the batch and device of ``td``);
- ``sample(td, mask, generator) -> (gaze [N, 2], valid [N, 1])`` returns the gaze for the current
  observation ``td`` and advances the per-arena state of the masked rows only (rows outside ``mask`` may
  return anything; the caller ignores them). ``gaze`` is in arena coordinates, ``valid`` is bool.

``td`` is the observation of batch [N]: sources may read ``agent_pos``, ``pellet_mask``, ``pellet_kind`` and
the privileged ``("privileged", "pellet_pos")`` / ``("privileged", "is_high_value")`` (a model of the human,
who sees the high-value pellet). They must not depend on the pellet slot order (``SortPellets`` reorders
slots every step). All randomness comes from ``generator`` (an :class:`~bikkle_rl.envs.random.ArenaRNG` on
``td``'s device: draw for the arenas :func:`drawing` names, e.g. ``generator.uniform(drawing(mask, td), 2)``),
so a seeded ``GazeInjection`` is reproducible, and a source without host syncs or data-dependent shapes runs
inside the fused collector's compiled step. Recorded gaze files and live trackers plug in by implementing the
same two methods.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from tensordict import TensorDictBase

from bikkle_rl.envs.keys import PRIVILEGED
from bikkle_rl.envs.random import ArenaRNG, Arenas


class GazeSource(ABC):
    """Base class of gaze sources (see the module docstring for the contract).

    ``default_p_valid`` is the availability ``GazeInjection`` applies when it is not given one: the original's
    0.25 for synthetic sources, 1.0 for sources that model their own validity (oracle, realistic).
    """

    default_p_valid: float = 0.25
    informative: bool = True
    """Whether the source's gaze carries anything about the high-value pellet (uniform and absent gaze do not).
    Training may read it (``("privileged", "gaze_informative")``); a policy never does."""

    def reset(self, td: TensorDictBase, mask: torch.Tensor | None, generator: ArenaRNG) -> None:
        """Starts a new episode for the masked arenas (stateless sources need nothing)."""

    @abstractmethod
    def sample(self, td: TensorDictBase, mask: torch.Tensor | None, generator: ArenaRNG
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Gaze [N, 2] (arena coordinates) and validity [N, 1] bool for the observation ``td``."""

    def is_informative(self, td: TensorDictBase) -> torch.Tensor:
        """Per arena [N, 1] bool: whether its gaze this episode is informative (a mixture answers per arena)."""
        return torch.full((*td.batch_size, 1), self.informative, dtype=torch.bool, device=observation_device(td))

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({options})"


def high_value_position(td: TensorDictBase) -> torch.Tensor:
    """Absolute position [N, 2] of each arena's high-value pellet, whatever the slot order."""
    is_high = td.get((PRIVILEGED, "is_high_value"))
    return (td.get((PRIVILEGED, "pellet_pos")) * is_high[..., None]).sum(-2)


def observation_device(td: TensorDictBase) -> torch.device:
    """The device of the observation's tensors (read off ``agent_pos``; a TensorDict's own device may be None)."""
    return td.get("agent_pos").device


def drawing(mask: torch.Tensor | None, td: TensorDictBase) -> Arenas:
    """Who draws random numbers for a call with ``mask``: the masked arenas, or all of ``td``'s when None."""
    return td.batch_size[0] if mask is None else mask


def where_rows(mask: torch.Tensor | None, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    """``new`` on the rows where ``mask`` [N] is True (all rows when None), ``old`` elsewhere."""
    if mask is None:
        return new
    return torch.where(mask.view(-1, *([1] * (new.ndim - 1))), new, old)
