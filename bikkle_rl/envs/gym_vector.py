"""Many Bikkle arenas as one ``gymnasium.vector.VectorEnv``: every step is one batched tensor program.

It is the registered ``vector_entry_point``, so ``make_vec`` builds it by default::

    import gymnasium, bikkle_rl
    envs = gymnasium.make_vec("bikkle_rl/Bikkle-v0", num_envs=4096)

The arenas are stepped by the dynamics functions :class:`~bikkle_rl.envs.bikkle.BikkleEnv` runs, on one
``torch.Generator``, without TorchRL's per-step bookkeeping (and without importing TorchRL); only the NumPy
observations cross to the host.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space
from tensordict import TensorDict

from bikkle_rl.envs import dynamics
from bikkle_rl.envs.config import BikkleConfig
from bikkle_rl.envs.gym_adapter import EVENT_KEYS, action_space, arena_config, observation_space
from bikkle_rl.envs.random import ArenaRNG


class BikkleVectorEnv(VectorEnv):
    """``num_envs`` Bikkle arenas behind gymnasium's vector API, stepped as one batch on ``device``.

    Observations and actions are :class:`~bikkle_rl.envs.gym_adapter.BikkleGymEnv`'s with a leading [N] axis.
    Actions must have shape [N, action_dim] with no NaN (a ValueError says which). ``info`` holds the touches
    ``pink``, ``blue``, ``high_value`` [N] and, under ``privileged_info``, ``high_value_slot`` [N] and
    ``pellet_pos`` [N,P,2], each beside its ``_key`` mask as in gymnasium's own vector envs.

    ``reset(seed=s)`` seeds one generator for all arenas: the layouts and trajectories are those of
    ``BikkleEnv(num_envs=N, seed=s)``. ``reset(options={"reset_mask": mask})`` resets the arenas where the
    bool [N] ``mask`` is set.

    Autoreset (``metadata["autoreset_mode"]``):

    - ``NEXT_STEP`` (gymnasium's default): the step after an arena's episode ended resets it, ignores its action
      and returns reward 0, not done.
    - ``SAME_STEP``: an ending arena is reset within the step; the observation is the new episode's, the last
      one is in ``info["final_obs"]`` (an object array: that arena's observation dict, None elsewhere) and its
      touches in ``info["final_info"]``. This is ``BikkleEnv.step_and_maybe_reset``, draw for draw.
    - ``DISABLED``: arenas are reset only by ``reset``.

    Args:
        num_envs: number of arenas N.
        max_episode_steps: gymnasium's episode limit (``make_vec`` passes the registered 200); episodes are
            truncated at the smaller of it and the config's ``max_steps``, as ``make``'s ``TimeLimit`` does.
        autoreset_mode: an :class:`~gymnasium.vector.AutoresetMode` or its value (``"NextStep"``...).
        privileged_info: add the privileged entries to ``info`` (never feed them to a policy).
        device: where the arenas are stepped.
        config: a :class:`BikkleConfig` or a mapping of its fields; keyword arguments override its fields.
    """

    def __init__(
        self,
        num_envs: int = 1,
        max_episode_steps: int | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        privileged_info: bool = False,
        device: torch.device | str = "cpu",
        config: BikkleConfig | Mapping[str, Any] | None = None,
        **config_fields: Any,
    ):
        if int(num_envs) < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs!r}")
        config = arena_config(config, config_fields)
        if max_episode_steps is not None and max_episode_steps < config.max_steps:
            config = arena_config(config, {"max_steps": int(max_episode_steps)})
        self.config = config
        self.num_envs = int(num_envs)
        self.device = torch.device(device)
        self.privileged_info = bool(privileged_info)
        self.metadata = {"autoreset_mode": AutoresetMode(autoreset_mode)}
        self.single_observation_space = observation_space(config)
        self.single_action_space = action_space(config)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.rng: ArenaRNG | None = None
        self.state: TensorDict | None = None
        self.autoreset = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)

    @property
    def autoreset_mode(self) -> AutoresetMode:
        return self.metadata["autoreset_mode"]

    def _observation(self) -> dict[str, np.ndarray]:
        """The arenas' observations as fresh NumPy arrays [N, ...]."""
        observation = dynamics.observe(self.config, self.state)
        return {key: value.to("cpu", copy=True).numpy() for key, value in observation.items()}

    def _info(self, events: Mapping[str, torch.Tensor], present: np.ndarray) -> dict[str, np.ndarray]:
        """Gymnasium's vector info: each entry [N] (or [N, ...]) beside a ``_key`` mask (``present`` [N] bool)."""
        info = {key: events[key].cpu().numpy() for key in EVENT_KEYS}
        if self.privileged_info:
            info["high_value_slot"] = self.state["high_value"].cpu().numpy()
            info["pellet_pos"] = self.state["pellet_pos"].cpu().numpy()
        return {**info, **{f"_{key}": present.copy() for key in info}}

    def _actions(self, actions: Any) -> torch.Tensor:
        """``actions`` checked on the host, where they come from (a NaN check on a device would sync), then moved
        to ``device``."""
        actions = np.asarray(actions, dtype=np.float32)
        if actions.shape != self.action_space.shape:
            raise ValueError(f"actions must have shape {self.action_space.shape}, got {actions.shape}")
        if (nan_rows := np.isnan(actions).any(-1)).any():
            raise ValueError(f"actions contain NaN in arenas {nan_rows.nonzero()[0].tolist()}")
        return torch.as_tensor(actions, device=self.device)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        super().reset(seed=seed)
        if seed is not None or self.rng is None:
            torch_seed = seed if seed is not None else int(self.np_random.integers(2**63))
            self.rng = ArenaRNG(int(torch_seed), self.device, num_arenas=self.num_envs)
        reset_mask = (options or {}).get("reset_mask")
        if reset_mask is None:
            self.state = dynamics.new_arena(self.config, self.num_envs, self.rng, self.device)
            present = np.ones(self.num_envs, dtype=bool)
        else:
            present = np.asarray(reset_mask)
            if present.dtype != np.bool_ or present.shape != (self.num_envs,):
                raise ValueError(f"options['reset_mask'] must be a bool array of shape ({self.num_envs},), "
                                 f"got {present.dtype} {present.shape}")
            mask = torch.as_tensor(present, device=self.device)
            self.state = dynamics.reset_arenas(self.config, self.state, mask, self.rng)
        self.autoreset = self.autoreset & ~torch.as_tensor(present, device=self.device)
        no_events = dict.fromkeys(EVENT_KEYS, torch.zeros(self.num_envs, dtype=torch.long))
        return self._observation(), self._info(no_events, present)

    def step(
        self, actions: Any
    ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if self.state is None:
            raise RuntimeError("call reset() before step()")
        cfg, mode = self.config, self.autoreset_mode
        self.state, reward, events = dynamics.step_arena(cfg, self.state, self._actions(actions), self.rng)
        terminated = dynamics.is_terminated(cfg, events)
        truncated = dynamics.is_truncated(cfg, self.state)
        final = {}
        if mode == AutoresetMode.NEXT_STEP and self.autoreset.any():
            restarted = self.autoreset
            self.state = dynamics.reset_arenas(cfg, self.state, restarted, self.rng)
            reward, events = reward.masked_fill(restarted, 0.0), events.masked_fill(restarted, 0)
            terminated, truncated = terminated & ~restarted, truncated & ~restarted
        done = terminated | truncated
        if mode == AutoresetMode.SAME_STEP and done.any():
            final = self._final(events, done)
            self.state = dynamics.reset_arenas(cfg, self.state, done, self.rng)
            events = events.masked_fill(done, 0)
        self.autoreset = done
        info = {**self._info(events, np.ones(self.num_envs, dtype=bool)), **final}
        return (self._observation(), reward.cpu().numpy(), terminated.cpu().numpy(), truncated.cpu().numpy(), info)

    def _final(self, events: TensorDict, done: torch.Tensor) -> dict[str, Any]:
        """``final_obs`` and ``final_info`` of the arenas whose episode ends now, as gymnasium's vector envs give."""
        ended = done.cpu().numpy()
        observation = self._observation()
        final_obs = np.full(self.num_envs, None, dtype=object)
        for arena in np.flatnonzero(ended):
            final_obs[arena] = {key: value[arena] for key, value in observation.items()}
        return {"final_obs": final_obs, "_final_obs": ended, "final_info": self._info(events, ended),
                "_final_info": ended.copy()}
