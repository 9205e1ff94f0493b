"""Per-episode sums of per-step observation entries (e.g. touch counts), for logging."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tensordict import NestedKey, TensorDictBase
from torchrl.data import Composite, Unbounded
from torchrl.envs.transforms import Transform


class EpisodeSum(Transform):
    """Sums each ``in_keys`` entry over the episode into the matching ``out_keys`` entry (0 after a reset).

    TorchRL's ``RewardSum`` does this for reward entries only (its specs come from the reward spec); this is
    the same bookkeeping for observation entries such as ``("events", "pink")``, which the env reports per
    step. Like ``RewardSum``, the sums are carried in the tensordict (state spec), not inside the transform.

    Examples:
        >>> from torchrl.envs import TransformedEnv
        >>> from bikkle_rl.envs import BikkleEnv
        >>> env = TransformedEnv(BikkleEnv(4), EpisodeSum([("events", "pink")], ["episode_pink"]))
        >>> env.rollout(5)["next", "episode_pink"].shape
        torch.Size([4, 5, 1])
    """

    def __init__(self, in_keys: Sequence[NestedKey], out_keys: Sequence[NestedKey]):
        if len(in_keys) != len(out_keys):
            raise ValueError(f"EpisodeSum needs one out_key per in_key, got {in_keys!r} and {out_keys!r}")
        super().__init__(in_keys=in_keys, out_keys=out_keys)

    def _reset(self, tensordict: TensorDictBase, tensordict_reset: TensorDictBase) -> TensorDictBase:
        # on a partial reset TorchRL keeps the other arenas' entries from their last step, so zeros suffice
        for in_key, out_key in zip(self.in_keys, self.out_keys):
            tensordict_reset.set(out_key, torch.zeros_like(tensordict_reset.get(in_key)))
        return tensordict_reset

    def _step(self, tensordict: TensorDictBase, next_tensordict: TensorDictBase) -> TensorDictBase:
        for in_key, out_key in zip(self.in_keys, self.out_keys):
            value = next_tensordict.get(in_key)
            next_tensordict.set(out_key, tensordict.get(out_key, torch.zeros_like(value)) + value)
        return next_tensordict

    def _sum_specs(self) -> dict:
        spec = self.parent.full_observation_spec
        return {out_key: Unbounded(spec[in_key].shape, dtype=spec[in_key].dtype, device=spec[in_key].device)
                for in_key, out_key in zip(self.in_keys, self.out_keys)}

    def transform_observation_spec(self, observation_spec: Composite) -> Composite:
        for out_key, spec in self._sum_specs().items():
            observation_spec[out_key] = spec
        return observation_spec

    def transform_input_spec(self, input_spec: Composite) -> Composite:
        state_spec = input_spec["full_state_spec"]
        if state_spec is None:
            state_spec = Composite(shape=input_spec.shape, device=input_spec.device)
        for out_key, spec in self._sum_specs().items():
            state_spec[out_key] = spec
        input_spec["full_state_spec"] = state_spec
        return input_spec

    def forward(self, tensordict: TensorDictBase) -> TensorDictBase:
        raise NotImplementedError("EpisodeSum runs inside an env (TransformedEnv); use cumsum offline")
