"""Base class of the transforms that rewrite or add a view of the observation (sorting, flat, tokens, image)."""

from __future__ import annotations

from tensordict import TensorDictBase
from torchrl.envs.transforms import Transform


class ObservationView(Transform):
    """A transform computed from the observation alone: the same ``_call`` after a step, after a reset, and
    when applied to a stand-alone TensorDict (``forward``)."""

    def _reset(self, tensordict: TensorDictBase, tensordict_reset: TensorDictBase) -> TensorDictBase:
        return self._call(tensordict_reset)

    def forward(self, tensordict: TensorDictBase) -> TensorDictBase:
        return self._call(tensordict)
