"""The interface every training algorithm implements: what the training loop, the collector and the checkpoint
code use of PPO and SAC, and nothing else."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from tensordict import TensorDictBase
from tensordict.nn import TensorDictModuleBase
from torchrl.modules import ProbabilisticActor

from bikkle_rl.buffers import ReplayBuffer


@runtime_checkable
class Algorithm(Protocol):
    """An algorithm owns its networks (handed to it by :func:`~bikkle_rl.experiment.make_algorithm`), its
    torchrl loss module, optimizers and counters; a run drives it through these members only.

    ``isinstance(algo, Algorithm)`` checks that the members exist (not their signatures).
    """

    actor: ProbabilisticActor
    """The trained policy (samples by default; evaluation runs it deterministic). Its weights are saved under
    ``"actor"`` in :meth:`state_dict`, where :func:`~bikkle_rl.agent_io.load_agent` reads them."""

    buffer: ReplayBuffer | None
    """The replay buffer an off-policy algorithm samples from (``None`` on-policy). The checkpoint code writes it
    to disk beside a checkpoint when the run asks (``algo.save_buffer``); :meth:`state_dict` never does."""

    @property
    def collection_policy(self) -> TensorDictModuleBase:
        """The policy the collector runs to gather training batches."""

    @property
    def init_random_frames(self) -> int:
        """Frames the collector still gathers with uniform random actions before ``collection_policy`` takes
        over (0 for PPO; SAC's warm-up, less what a resumed run has already collected)."""

    def update(self, batch: TensorDictBase, progress: float = 0.0) -> dict[str, float]:
        """Trains on one collected batch ``[num_envs, frames_per_env]``; returns metrics by name.

        ``progress``: the fraction of the run done in [0, 1], along which learning rates are scheduled.
        """

    def load_weights(self, state: Mapping[str, Any]) -> None:
        """Network weights only from a :meth:`state_dict` (``init_from``): optimizers and counters start fresh,
        gaze adapters the checkpoint lacks stay fresh."""

    def state_dict(self) -> dict[str, Any]:
        """Networks, optimizers and counters as plain containers of tensors and numbers; writes nothing."""

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restores everything :meth:`state_dict` saved (a resumed run)."""
