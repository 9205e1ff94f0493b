"""The Bikkle arena as a native, batched TorchRL environment."""

from __future__ import annotations

import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Binary, Bounded, Categorical, Composite, Unbounded
from torchrl.envs import EnvBase

from bikkle_rl.envs import dynamics
from bikkle_rl.envs.config import BikkleConfig
from bikkle_rl.envs.keys import PRIVILEGED
from bikkle_rl.envs.random import ArenaRNG
from bikkle_rl.envs.render import render_frames


class BikkleEnv(EnvBase):
    """``num_envs`` Bikkle arenas stepped as one tensor program on ``device``.

    Observations (policy-visible): ``agent_pos`` [N,2], ``pellet_rel`` [N,P,2] (pellet minus agent, zero when
    absent), ``pellet_kind`` [N,P] (0 pink, 1 blue), ``pellet_mask`` [N,P] (True = present), ``round_progress``
    [N,1] in [0, 1].

    Privileged observations, under ``("privileged", ...)``: ``pellet_pos`` [N,P,2] absolute positions and
    ``is_high_value`` [N,P]. They exist for transforms that model the human (gaze) and for the oracle baseline;
    a policy must never read them otherwise.

    Per-step touch counts are reported under ``("events", "pink" | "blue" | "high_value")`` [N,1] for logging.

    Actions must have the action spec's shape [N, action_dim] (else a ValueError); NaN entries are read as 0.

    Args:
        num_envs: number of arenas N (the env's batch size).
        device: where state lives and every step runs.
        seed: seeds the env's own counter-based :class:`~bikkle_rl.envs.random.ArenaRNG` (drawn at random when
            None).
        config: a :class:`BikkleConfig`; keyword arguments override its fields.

    Examples:
        >>> env = BikkleEnv(num_envs=8, num_pink=1, num_blue=1, episode_mode="continuing")
        >>> rollout = env.rollout(10)
        >>> rollout["next", "reward"].shape
        torch.Size([8, 10, 1])

    The whole state can be read with :meth:`get_state` and installed with :meth:`set_state`, which is how
    tests and tools hand-place agents and pellets.
    """

    batch_locked = True

    def __init__(self, num_envs: int = 1, device: torch.device | str = "cpu", seed: int | None = None,
                 config: BikkleConfig | None = None, **overrides):
        if int(num_envs) < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs!r}")
        if config is None:
            config = BikkleConfig(**overrides)
        elif overrides:
            config = BikkleConfig(**{**config.to_dict(), **overrides})
        super().__init__(device=device, batch_size=torch.Size([int(num_envs)]))
        self.config = config
        self.rng: ArenaRNG | None = None
        self._make_spec()
        if seed is None:
            seed = int(torch.empty((), dtype=torch.int64).random_().item())
        self.set_seed(seed)
        # a placeholder layout until reset(), drawn apart so that BikkleEnv(seed=s).reset() is set_seed(s); reset()
        self._state = dynamics.new_arena(config, self.num_envs, ArenaRNG(seed, self.device), self.device)

    @property
    def num_envs(self) -> int:
        return self.batch_size[0]

    def _make_spec(self) -> None:
        cfg, n, p = self.config, self.num_envs, self.config.num_pellets
        self.observation_spec = Composite(
            agent_pos=Bounded(0.0, 1.0, (n, 2)),
            pellet_rel=Bounded(-1.0, 1.0, (n, p, 2)),
            pellet_kind=Categorical(2, (n, p), dtype=torch.long),
            pellet_mask=Binary(p, (n, p), dtype=torch.bool),
            round_progress=Bounded(0.0, 1.0, (n, 1)),
            privileged=Composite(
                pellet_pos=Bounded(0.0, 1.0, (n, p, 2)),
                is_high_value=Binary(p, (n, p), dtype=torch.bool),
                shape=(n,),
            ),
            events=Composite(
                pink=Bounded(0, cfg.max_pink, (n, 1), dtype=torch.long),
                blue=Bounded(0, max(cfg.max_blue, 1), (n, 1), dtype=torch.long),
                high_value=Bounded(0, 1, (n, 1), dtype=torch.long),
                shape=(n,),
            ),
            shape=(n,),
        )
        action_dim = 2 if cfg.action_mode == "velocity" else 1
        self._action_shape = torch.Size((n, action_dim))
        self.action_spec = Bounded(-1.0, 1.0, self._action_shape)
        self.reward_spec = Unbounded((n, 1))
        self.done_spec = Composite(
            done=Categorical(2, (n, 1), dtype=torch.bool),
            terminated=Categorical(2, (n, 1), dtype=torch.bool),
            truncated=Categorical(2, (n, 1), dtype=torch.bool),
            shape=(n,),
        )

    def _set_seed(self, seed: int | None) -> None:
        self.rng = ArenaRNG(int(seed), self.device, num_arenas=self.num_envs)

    def _observation(self, events: dict[str, torch.Tensor] | None = None, **flags: torch.Tensor) -> TensorDict:
        """Observation of the current state plus ``flags`` (reward, done...), built as one TensorDict.

        Without ``events`` it is a fresh start: no touches, not done.
        """
        state, n = self._state, self.num_envs
        if events is None:
            zeros = torch.zeros(n, 1, dtype=torch.long, device=self.device)
            events = dict.fromkeys(("pink", "blue", "high_value"), zeros)
            not_done = torch.zeros(n, 1, dtype=torch.bool, device=self.device)
            flags = {"done": not_done, "terminated": not_done, "truncated": not_done}
        is_high_value = torch.nn.functional.one_hot(state["high_value"], self.config.num_pellets).bool()
        return TensorDict(
            {
                **dynamics.observe(self.config, state),
                PRIVILEGED: {"pellet_pos": state["pellet_pos"], "is_high_value": is_high_value},
                "events": events,
                **flags,
            },
            batch_size=self.batch_size,
            device=self.device,
        )

    def _action(self, tensordict: TensorDictBase) -> torch.Tensor:
        """The action [N, action_dim] with NaN read as 0, without a host sync (a step may be CUDA-graph captured).

        A wrong shape raises (shapes are host metadata, free to check): a [N, 1] action would otherwise broadcast
        over both velocity axes.
        """
        action = tensordict["action"]
        if action.shape != self._action_shape:
            raise ValueError(f"action must have shape {tuple(self._action_shape)}, got {tuple(action.shape)}")
        return action.nan_to_num(nan=0.0)

    def _step(self, tensordict: TensorDictBase) -> TensorDictBase:
        cfg = self.config
        self._state, reward, events = dynamics.step_arena(cfg, self._state, self._action(tensordict), self.rng)
        terminated = dynamics.is_terminated(cfg, events)[:, None]
        truncated = dynamics.is_truncated(cfg, self._state)[:, None]
        return self._observation(
            {name: count[:, None] for name, count in events.items()},
            reward=reward[:, None],
            terminated=terminated,
            truncated=truncated,
            done=terminated | truncated,
        )

    def _reset(self, tensordict: TensorDictBase | None, **kwargs) -> TensorDictBase:
        reset = None if tensordict is None else tensordict.get("_reset", None)
        if reset is None:
            self._state = dynamics.new_arena(self.config, self.num_envs, self.rng, self.device)
        else:
            self._state = dynamics.reset_arenas(self.config, self._state, reset.reshape(self.num_envs), self.rng)
        return self._observation()

    def _check_layout(self, state: TensorDictBase) -> None:
        """A state must keep the slot layout the dynamics rely on: pinks first, present slots first per kind."""
        layout = dynamics.new_arena(self.config, 1, None, self.device)["pellet_kind"]
        if not (state["pellet_kind"] == layout).all():
            raise ValueError(f"set_state: pellet_kind must be {layout[0].tolist()} in every arena (pinks first)")
        mask, max_pink = state["pellet_mask"], self.config.max_pink
        for name, part in (("pink", mask[:, :max_pink]), ("blue", mask[:, max_pink:])):
            if (part[:, 1:] & ~part[:, :-1]).any():
                raise ValueError(f"set_state: present {name} pellets must fill the first {name} slots")
        if not mask[:, :max_pink].any(-1).all():
            raise ValueError("set_state: every arena needs at least one present pink pellet")
        high = state["high_value"]
        if ((high < 0) | (high >= max_pink)).any() or not mask.gather(1, high[:, None].clamp(0, max_pink - 1)).all():
            raise ValueError("set_state: high_value must index a present pink slot")

    def render(self, mode: str = "agent", size: int = 128, gaze: torch.Tensor | None = None,
               gaze_valid: torch.Tensor | None = None) -> torch.Tensor:
        """RGB frames of every arena: uint8 [N, size, size, 3] on the env's device (see :mod:`bikkle_rl.envs.render`).

        ``mode="human"`` shows the high-value pellet green, the round progress and, given ``gaze`` [N,2] and
        ``gaze_valid`` [N] or [N,1], a gaze cross (valid) or a red border (invalid).
        """
        return render_frames(self.config, self._state, mode=mode, size=size, gaze=gaze, gaze_valid=gaze_valid)

    def get_state(self) -> TensorDict:
        """A copy of the full state (see :func:`bikkle_rl.envs.dynamics.new_arena` for its keys)."""
        return self._state.clone()

    def set_state(self, state: TensorDictBase) -> TensorDict:
        """Installs a full state (e.g. hand-placed agents and pellets) and returns its observation."""
        expected = dynamics.new_arena(self.config, self.num_envs, None, self.device)
        missing = set(dynamics.STATE_KEYS) - set(state.keys())
        if missing:
            raise KeyError(f"set_state: state is missing keys {sorted(missing)}")
        installed = TensorDict(batch_size=self.batch_size, device=self.device)
        for key in dynamics.STATE_KEYS:
            value = torch.as_tensor(state[key], device=self.device)
            if value.shape != expected[key].shape:
                raise ValueError(
                    f"set_state: {key!r} has shape {tuple(value.shape)}, expected {tuple(expected[key].shape)}"
                )
            installed[key] = value.to(expected[key].dtype)
        self._check_layout(installed)
        self._state = installed
        return self._observation()
