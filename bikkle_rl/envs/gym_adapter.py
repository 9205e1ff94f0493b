"""A single Bikkle arena as a ``gymnasium.Env``, for users of Stable-Baselines3, CleanRL and the like.

Registered when ``bikkle_rl`` is imported (``bikkle_rl/__init__.py`` lists the ids)::

    import gymnasium, bikkle_rl
    env = gymnasium.make("bikkle_rl/Bikkle-v0", render_mode="rgb_array")  # the evaluation arena

One arena is too small for tensor programs: a batched torch step costs about a hundred kernel launches of a few
microseconds each. So this env steps its one arena in NumPy (:func:`step_one_arena`), mirroring
:func:`bikkle_rl.envs.dynamics.step_arena` operation for operation in float32, and draws every random number
from a ``torch.Generator`` with the same calls in the same order. Layouts come from
:func:`~bikkle_rl.envs.dynamics.new_arena` itself, and the operations whose float32 results NumPy does not
reproduce bit for bit (``cos``/``sin`` of a heading, ``sqrt``/``norm`` in the shaping term, sums over pellets)
are computed by torch.
A seed therefore gives exactly the trajectory of ``BikkleEnv(num_envs=1)`` seeded alike (tests compare them
step by step). Importing this module does not import TorchRL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import gymnasium
import numpy as np
import torch
from gymnasium import spaces
from tensordict import TensorDict

from bikkle_rl.envs import dynamics
from bikkle_rl.envs.config import BikkleConfig
from bikkle_rl.envs.random import ArenaRNG
from bikkle_rl.envs.render import RENDER_MODES, render_frames

OBSERVATION_KEYS = ("agent_pos", "pellet_rel", "pellet_kind", "pellet_mask", "round_progress")
EVENT_KEYS = ("pink", "blue", "high_value")
"""``info`` keys of every step: touches of pink, blue and high-value pellets in that step."""

ArenaState = dict[str, Any]
"""One arena's state: ``dynamics.STATE_KEYS`` as NumPy arrays (``agent_pos`` [2], ``pellet_pos`` [P,2],
``pellet_kind`` [P], ``pellet_mask`` [P]) and ints (``high_value``, ``round_step``, ``step_count``)."""


def arena_config(config: BikkleConfig | Mapping[str, Any] | None, overrides: Mapping[str, Any]) -> BikkleConfig:
    """``config`` (a :class:`BikkleConfig`, a mapping of its fields, or None for its defaults) with ``overrides``.

    A registered id's ``config`` is a mapping, so ``gymnasium.make(id, config=...)`` replaces the whole arena
    and ``gymnasium.make(id, num_pink=3)`` changes one field of the registered one.
    """
    fields = config.to_dict() if isinstance(config, BikkleConfig) else dict(config or {})
    return BikkleConfig(**{**fields, **overrides})


def observation_space(config: BikkleConfig) -> spaces.Dict:
    """One arena's observation space; ``pellet_mask`` is a bool ``Box``, as ``BikkleEnv``'s mask is bool."""
    num_pellets = config.num_pellets
    return spaces.Dict(
        agent_pos=spaces.Box(0.0, 1.0, (2,), np.float32),
        pellet_rel=spaces.Box(-1.0, 1.0, (num_pellets, 2), np.float32),
        pellet_kind=spaces.MultiDiscrete(np.full(num_pellets, 2), dtype=np.int64),
        pellet_mask=spaces.Box(0, 1, (num_pellets,), np.bool_),
        round_progress=spaces.Box(0.0, 1.0, (1,), np.float32),
    )


def action_space(config: BikkleConfig) -> spaces.Box:
    """One arena's action space: ``velocity`` [2] or ``heading`` [1] in [-1, 1]."""
    return spaces.Box(-1.0, 1.0, (2 if config.action_mode == "velocity" else 1,), np.float32)


def check_action(action: Any, space: spaces.Box) -> np.ndarray:
    """``action`` as float32 of ``space``'s shape; a wrong shape or a NaN raises a ValueError naming it.

    Values outside the box are clipped by the dynamics, as in ``BikkleEnv``.
    """
    action = np.asarray(action, dtype=np.float32)
    if action.shape != space.shape:
        raise ValueError(f"action must have shape {space.shape}, got {action.shape}")
    if np.isnan(action).any():
        raise ValueError(f"action contains NaN: {action}")
    return action


def numpy_state(state: TensorDict) -> ArenaState:
    """Arena 0 of a batched dynamics state (``BikkleEnv.get_state()``, ``dynamics.new_arena``) in NumPy."""
    arena = {key: state[key][0].cpu().numpy().copy() for key in dynamics.STATE_KEYS}
    for key in ("high_value", "round_step", "step_count"):
        arena[key] = int(arena[key])
    return arena


def torch_state(state: ArenaState) -> TensorDict:
    """A NumPy arena state as a batch-of-one dynamics state (for the renderer and for ``BikkleEnv.set_state``)."""
    return TensorDict({key: torch.as_tensor(np.asarray(state[key]))[None] for key in dynamics.STATE_KEYS},
                      batch_size=[1])


def observe_one_arena(config: BikkleConfig, state: ArenaState) -> dict[str, np.ndarray]:
    """The policy-visible observation of one arena, fresh arrays (:func:`dynamics.observe` for one arena)."""
    mask = state["pellet_mask"]
    return {
        "agent_pos": state["agent_pos"].copy(),
        "pellet_rel": (state["pellet_pos"] - state["agent_pos"]) * mask[:, None],
        "pellet_kind": state["pellet_kind"].copy(),
        "pellet_mask": mask.copy(),
        "round_progress": np.array([np.float32(state["round_step"]) / np.float32(config.round_len)]),
    }


def move_agent(config: BikkleConfig, agent_pos: np.ndarray, action: np.ndarray) -> np.ndarray:
    """:func:`dynamics.move_agent` for one arena (headings go through torch's ``cos``/``sin``)."""
    if config.action_mode == "heading":
        return dynamics.move_agent(config, torch.from_numpy(agent_pos), torch.from_numpy(action)).numpy()
    delta = action.clip(-1.0, 1.0) * np.float32(config.max_speed)
    return (agent_pos + delta).clip(0.0, 1.0)


def first_free(candidates: np.ndarray, obstacles: np.ndarray, min_dist_sq: np.ndarray) -> np.ndarray:
    """:func:`dynamics.first_free` for one arena: candidates [K,2], obstacles [M,2], min_dist_sq [M] -> [2]."""
    dx = candidates[:, 0, None] - obstacles[None, :, 0]
    dy = candidates[:, 1, None] - obstacles[None, :, 1]
    blocked = (dx * dx + dy * dy <= min_dist_sq).any(-1)
    return candidates[int((~blocked).argmax())]


def respawn(config: BikkleConfig, pellet_pos: np.ndarray, pellet_mask: np.ndarray, touched: np.ndarray,
            generator: ArenaRNG) -> np.ndarray:
    """:func:`dynamics.respawn` for one arena with at least one touched pellet: new positions [P,2]."""
    positions = pellet_pos.copy()
    min_dist_sq = np.where(pellet_mask, np.float32((2 * config.pellet_radius) ** 2), np.float32(-1.0))
    candidates = dynamics.spawn_candidates(config, 1, config.num_pellets, generator)[0].numpy()
    for slot in np.flatnonzero(touched):
        positions[slot] = first_free(candidates[slot], positions, min_dist_sq)
    return positions


def draw_high_value(pellet_mask: np.ndarray, max_pink: int, generator: ArenaRNG) -> int:
    """:func:`dynamics.draw_high_value` for one arena."""
    num_pink = int(np.count_nonzero(pellet_mask[:max_pink]))
    uniform = generator.uniform(1).item()
    return min(int(np.float32(uniform) * np.float32(num_pink)), num_pink - 1)


def torch_sum(values: np.ndarray) -> np.float32:
    """The sum of a float32 [P] array in torch's summation order (NumPy's may round differently)."""
    return np.float32(torch.from_numpy(values).sum().item())


def approach_sum(pellet_pos: np.ndarray, pellet_kind: np.ndarray, pellet_mask: np.ndarray, agent_pos_old: np.ndarray,
                 dist_sq: np.ndarray) -> np.float32:
    """The shaping term before its weight: how much nearer the agent came to pinks and farther from blues.

    Computed by torch, as in :func:`dynamics.step_arena`: its ``sqrt`` and ``norm`` round differently from NumPy's.
    """
    dist_old = (torch.from_numpy(pellet_pos) - torch.from_numpy(agent_pos_old)).norm(dim=-1)
    sign = torch.where(torch.from_numpy(pellet_kind == dynamics.PINK), -1.0, 1.0) * torch.from_numpy(pellet_mask)
    return np.float32((sign * (torch.from_numpy(dist_sq).sqrt() - dist_old)).sum().item())


def slot_values(config: BikkleConfig, round_step: int, high_value: int) -> np.ndarray:
    """What touching each slot is worth: [P] float32 (pinks first, the high-value pink's reward decayed)."""
    value = np.full(config.num_pellets, config.blue_reward, np.float32)
    value[: config.max_pink] = config.pink_reward
    decay = np.float32(config.round_len - round_step) / np.float32(config.round_len)
    value[high_value] = max(np.float32(config.high_value_reward) * decay, np.float32(config.pink_reward))
    return value


def step_one_arena(config: BikkleConfig, state: ArenaState, action: np.ndarray, generator: ArenaRNG
                   ) -> tuple[ArenaState, float, dict[str, int]]:
    """:func:`dynamics.step_arena` for one arena: ``(next_state, reward, events)``, the same floats and draws."""
    pellet_pos, mask, high_value = state["pellet_pos"], state["pellet_mask"], state["high_value"]
    agent_pos = move_agent(config, state["agent_pos"], action)

    offset = pellet_pos - agent_pos
    dist_sq = (offset * offset).sum(-1)
    touched = (dist_sq <= np.float32(config.touch_distance**2)) & mask
    num_touched, pink_touched = int(np.count_nonzero(touched)), int(np.count_nonzero(touched[: config.max_pink]))
    value = slot_values(config, state["round_step"], high_value)
    reward = torch_sum(touched * value) if num_touched else np.float32(0.0)
    if config.shaping:
        approach = approach_sum(pellet_pos, state["pellet_kind"], mask, state["agent_pos"], dist_sq)
        reward = reward + np.float32(config.shaping) * approach

    high_touched = bool(touched[high_value])
    round_step = state["round_step"] + 1
    round_over = round_step >= config.round_len
    if num_touched:
        pellet_pos = respawn(config, pellet_pos, mask, touched, generator)
    # the batched step draws a high-value slot for every arena every step: skipping the draw where it would not
    # be used keeps this arena's counter-based stream in step with it
    if high_touched or round_over:
        high_value = draw_high_value(mask, config.max_pink, generator)
    else:
        generator.skip()
    next_state = {
        "agent_pos": agent_pos,
        "pellet_pos": pellet_pos,
        "pellet_kind": state["pellet_kind"],
        "pellet_mask": mask,
        "high_value": high_value,
        "round_step": 0 if round_over else round_step,
        "step_count": state["step_count"] + 1,
    }
    events = {"pink": pink_touched, "blue": num_touched - pink_touched, "high_value": int(high_touched)}
    return next_state, float(reward), events


class BikkleGymEnv(gymnasium.Env):
    """One Bikkle arena behind the gymnasium API.

    Observation (a ``Dict``, as ``BikkleEnv``'s policy-visible keys): ``agent_pos`` float32 [2] in [0, 1],
    ``pellet_rel`` float32 [P,2] in [-1, 1] (pellet minus agent, zero when absent), ``pellet_kind`` int64 [P]
    (0 pink, 1 blue; ``MultiDiscrete``), ``pellet_mask`` bool [P] (True = present; a bool ``Box``),
    ``round_progress`` float32 [1] in [0, 1].
    Action: float32 ``Box(-1, 1)`` of shape [2] (``velocity``) or [1] (``heading``); a wrong shape or a NaN
    raises a ValueError.

    ``info`` is flat: the touches of the step, ``pink``, ``blue`` and ``high_value`` (ints, for logging). With
    ``privileged_info=True`` it also holds what only the human sees: ``high_value_slot`` (int) and the absolute
    ``pellet_pos`` [P,2] (absent slots hold stale positions: read ``pellet_mask``). Never feed those to a policy.

    Episodes end as in :class:`~bikkle_rl.envs.bikkle.BikkleEnv`: ``terminated`` on a touch in ``episodic``
    mode, ``truncated`` at ``max_steps``. ``reset(seed=s)`` seeds the arena's ``torch.Generator`` with ``s``,
    giving the episode of ``BikkleEnv(num_envs=1, seed=s)`` and, for the same actions, the same trajectory.

    ``state`` holds the arena's full state (:data:`ArenaState`); tests and tools may install a hand-placed one.

    Args:
        render_mode: ``"rgb_array"`` or None.
        render_view: ``"agent"`` (default) or ``"human"`` (high-value pellet green, round-progress bar).
        render_size: side of the rendered frames in pixels.
        privileged_info: add the privileged entries to ``info``.
        config: a :class:`BikkleConfig` or a mapping of its fields; keyword arguments override its fields
            (invalid ones raise its errors).
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 25}

    def __init__(
        self,
        render_mode: str | None = None,
        render_view: str = "agent",
        render_size: int = 128,
        privileged_info: bool = False,
        config: BikkleConfig | Mapping[str, Any] | None = None,
        **config_fields: Any,
    ):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        if render_view not in RENDER_MODES:
            raise ValueError(f"render_view must be one of {RENDER_MODES}, got {render_view!r}")
        self.config = arena_config(config, config_fields)
        self.render_mode = render_mode
        self.render_view = render_view
        self.render_size = int(render_size)
        self.privileged_info = bool(privileged_info)
        self.observation_space = observation_space(self.config)
        self.action_space = action_space(self.config)
        self.rng: ArenaRNG | None = None
        self.state: ArenaState | None = None

    def _info(self, events: dict[str, int]) -> dict[str, Any]:
        if not self.privileged_info:
            return dict(events)
        return {**events, "high_value_slot": self.state["high_value"], "pellet_pos": self.state["pellet_pos"].copy()}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None or self.rng is None:
            torch_seed = seed if seed is not None else int(self.np_random.integers(2**63))
            self.rng = ArenaRNG(int(torch_seed), num_arenas=1)
        self.state = numpy_state(dynamics.new_arena(self.config, 1, self.rng))
        return observe_one_arena(self.config, self.state), self._info(dict.fromkeys(EVENT_KEYS, 0))

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        action = check_action(action, self.action_space)
        self.state, reward, events = step_one_arena(self.config, self.state, action, self.rng)
        terminated = self.config.episode_mode == "episodic" and events["pink"] + events["blue"] > 0
        truncated = self.state["step_count"] >= self.config.max_steps
        return observe_one_arena(self.config, self.state), reward, terminated, truncated, self._info(events)

    def render(self) -> np.ndarray | None:
        """The arena as a uint8 [H,W,3] frame (``render_view`` picks the agent or the human view)."""
        if self.render_mode is None:
            return None
        frames = render_frames(self.config, torch_state(self.state), mode=self.render_view, size=self.render_size)
        return frames[0].numpy()
