"""Reward scaling by the running std of the discounted return (gymnasium's ``NormalizeReward``), batched."""

from __future__ import annotations

import torch
from tensordict import TensorDictBase
from torchrl.data import Composite
from torchrl.envs.transforms import Transform


class RewardNormalization(Transform):
    """Divides the reward by a running std of the discounted return, then clips; keeps the raw reward.

    Per arena, the discounted return ``R <- gamma * R + r`` is accumulated and cleared when the arena's episode
    resets. Each step the batch of N returns updates a running mean/variance (Chan et al.'s parallel update,
    started at mean 0, var 1, count 1e-4, as gymnasium's ``RunningMeanStd``), and the reward becomes
    ``clip(r / sqrt(var + eps), -clip, clip)``. This is what the prototype had with gymnasium's
    ``NormalizeReward`` followed by a reward clip; the one difference is the episode boundary: gymnasium 1.x
    multiplies ``R`` by ``1 - terminated`` *before* adding the final reward (a backward-compatibility quirk),
    this transform adds it and then starts the next episode at 0 (as CleanRL's original wrapper).

    TorchRL has no equivalent: ``VecNorm`` standardises the reward itself (subtracting its mean), and
    ``RewardScaling`` uses fixed constants; neither scales by the std of the discounted return.

    Keys: ``reward`` [N, 1] is replaced by the normalised reward; ``raw_reward`` [N, 1] keeps the original
    (an observation entry, 0 after a reset) so episode returns can still be logged. The running statistics
    ``return_mean``, ``return_var``, ``count`` are buffers, so they are saved in ``state_dict``; they stop
    updating while ``frozen`` (see :meth:`freeze`), as for evaluation. (Not tied to ``eval()``: TorchRL keeps
    every transform in eval mode.)

    Put torchrl's ``RewardSum`` *before* this transform to sum the raw reward.
    """

    def __init__(self, gamma: float = 0.99, clip: float | None = 10.0, eps: float = 1e-8,
                 in_key: str = "reward", raw_key: str = "raw_reward"):
        if not 0 <= gamma <= 1:
            raise ValueError(f"gamma must be in [0, 1], got {gamma!r}")
        if clip is not None and not clip > 0:
            raise ValueError(f"clip must be > 0 or None, got {clip!r}")
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps!r}")
        super().__init__(in_keys=[in_key], out_keys=[in_key])
        self.raw_key = raw_key
        self.gamma = float(gamma)
        self.clip = None if clip is None else float(clip)
        self.eps = float(eps)
        self.frozen = False
        self.register_buffer("return_mean", torch.zeros(()))
        self.register_buffer("return_var", torch.ones(()))
        self.register_buffer("count", torch.full((), 1e-4))
        self.register_buffer("discounted_return", None, persistent=False)  # [N, 1], per arena

    def freeze(self) -> RewardNormalization:
        """Stops updating the statistics (evaluation); rewards are still scaled."""
        self.frozen = True
        return self

    def unfreeze(self) -> RewardNormalization:
        self.frozen = False
        return self

    @property
    def scale(self) -> torch.Tensor:
        """The current divisor ``sqrt(var + eps)``."""
        return (self.return_var + self.eps).sqrt()

    def _update_statistics(self, returns: torch.Tensor) -> None:
        """Merges the batch of returns [N, 1] into the running mean and variance."""
        batch_count = returns.numel()
        batch_mean = returns.mean()
        batch_var = returns.var(unbiased=False)
        total = self.count + batch_count
        delta = batch_mean - self.return_mean
        old_weight, new_weight = self.count / total, batch_count / total
        self.return_mean.copy_(self.return_mean + delta * new_weight)
        self.return_var.copy_(self.return_var * old_weight + batch_var * new_weight + delta**2 * old_weight * new_weight)
        self.count.copy_(total)

    def _reset(self, tensordict: TensorDictBase, tensordict_reset: TensorDictBase) -> TensorDictBase:
        reward_shape = (*tensordict_reset.batch_size, 1)
        device = tensordict_reset.device or self.return_mean.device
        if self.return_mean.device != device:
            self.to(device)
        mask = tensordict.get("_reset", None) if tensordict is not None else None
        if mask is None or self.discounted_return is None or self.discounted_return.shape != reward_shape:
            self.discounted_return = torch.zeros(reward_shape, device=device)
        else:
            self.discounted_return = self.discounted_return * ~mask.reshape(reward_shape)
        tensordict_reset.set(self.raw_key, torch.zeros(reward_shape, device=device))
        return tensordict_reset

    def _step(self, tensordict: TensorDictBase, next_tensordict: TensorDictBase) -> TensorDictBase:
        if self.discounted_return is None:
            raise RuntimeError("RewardNormalization: reset the env before stepping it")
        key = self.in_keys[0]
        reward = next_tensordict.get(key)
        self.discounted_return = self.gamma * self.discounted_return + reward
        if not self.frozen:
            self._update_statistics(self.discounted_return)
        scaled = reward / self.scale
        if self.clip is not None:
            scaled = scaled.clamp(-self.clip, self.clip)
        next_tensordict.set(self.raw_key, reward)
        next_tensordict.set(key, scaled)
        return next_tensordict

    def transform_observation_spec(self, observation_spec: Composite) -> Composite:
        observation_spec[self.raw_key] = self.parent.full_reward_spec[self.in_keys[0]].clone()
        return observation_spec

    def forward(self, tensordict: TensorDictBase) -> TensorDictBase:
        raise NotImplementedError("RewardNormalization is stateful and only runs inside an env (TransformedEnv)")
