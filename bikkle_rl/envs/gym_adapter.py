"""A single Bikkle arena as a ``gymnasium.Env``, for users of Stable-Baselines3, CleanRL and the like.

It drives a :class:`~bikkle_rl.envs.bikkle.BikkleEnv` with one arena, so the dynamics are the very same code.
Registered as ``"bikkle_rl/Bikkle-v0"`` when ``bikkle_rl`` is imported::

    import gymnasium, bikkle_rl
    env = gymnasium.make("bikkle_rl/Bikkle-v0", num_pink=3, num_blue=3, render_mode="rgb_array")
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium
import numpy as np
import torch
from gymnasium import spaces
from tensordict import TensorDict

from bikkle_rl.envs.bikkle import PRIVILEGED, BikkleEnv
from bikkle_rl.envs.config import BikkleConfig
from bikkle_rl.envs.render import RENDER_MODES, render_frames

OBSERVATION_KEYS = ("agent_pos", "pellet_rel", "pellet_kind", "pellet_mask", "round_progress")


class BikkleGymEnv(gymnasium.Env):
    """One Bikkle arena behind the gymnasium API.

    Observation (a ``Dict``): ``agent_pos`` float32 [2] in [0, 1], ``pellet_rel`` float32 [P,2] in [-1, 1]
    (pellet minus agent, zero when absent), ``pellet_kind`` int64 [P] (0 pink, 1 blue; ``MultiDiscrete``),
    ``pellet_mask`` int8 [P] (1 = present; ``MultiBinary``), ``round_progress`` float32 [1] in [0, 1].
    Action: float32 ``Box(-1, 1)`` of shape [2] (``velocity``) or [1] (``heading``).

    ``info`` carries, for logging and analysis only, the per-step touch counts ``events`` (``pink``, ``blue``,
    ``high_value``) and, under ``privileged``, the ``high_value`` slot and absolute ``pellet_pos`` [P,2] (absent
    slots hold stale positions: read ``pellet_mask``).
    The privileged entries are what only the human sees: never feed them to a policy.

    Episodes end as in :class:`BikkleEnv`: ``terminated`` on a touch in ``episodic`` mode, ``truncated`` at
    ``max_steps`` (so no ``TimeLimit`` wrapper is needed). ``reset(seed=s)`` re-seeds the underlying env's
    generator, so a seed gives the same episode as ``BikkleEnv(num_envs=1)`` seeded with ``s`` and then reset.

    Args:
        render_mode: ``"rgb_array"`` or None.
        render_view: ``"agent"`` (default) or ``"human"`` (high-value pellet green, round-progress bar).
        render_size: side of the rendered frames in pixels.
        device: where the underlying env runs.
        config: a :class:`BikkleConfig`; keyword arguments override its fields (invalid ones raise its errors).
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 25}

    def __init__(
        self,
        render_mode: str | None = None,
        render_view: str = "agent",
        render_size: int = 128,
        device: torch.device | str = "cpu",
        config: BikkleConfig | None = None,
        **config_fields: Any,
    ):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        if render_view not in RENDER_MODES:
            raise ValueError(f"render_view must be one of {RENDER_MODES}, got {render_view!r}")
        self.env = BikkleEnv(num_envs=1, device=device, config=config, **config_fields)
        self.config = self.env.config
        self.render_mode = render_mode
        self.render_view = render_view
        self.render_size = int(render_size)

        num_pellets = self.config.num_pellets
        self.observation_space = spaces.Dict(
            agent_pos=spaces.Box(0.0, 1.0, (2,), np.float32),
            pellet_rel=spaces.Box(-1.0, 1.0, (num_pellets, 2), np.float32),
            pellet_kind=spaces.MultiDiscrete(np.full(num_pellets, 2), dtype=np.int64),
            pellet_mask=spaces.MultiBinary(num_pellets),
            round_progress=spaces.Box(0.0, 1.0, (1,), np.float32),
        )
        action_dim = 2 if self.config.action_mode == "velocity" else 1
        self.action_space = spaces.Box(-1.0, 1.0, (action_dim,), np.float32)

    def _observation(self, td: TensorDict) -> dict[str, np.ndarray]:
        """The arena's observation as fresh numpy arrays of the observation space's dtypes."""
        return {key: td[key][0].cpu().numpy().astype(self.observation_space[key].dtype) for key in OBSERVATION_KEYS}

    def _info(self, td: TensorDict) -> dict[str, Any]:
        """Touch counts of the last step and the privileged state (for logging only, never for a policy)."""
        privileged = td[PRIVILEGED]
        return {
            "events": {key: int(td["events", key][0, 0]) for key in ("pink", "blue", "high_value")},
            "privileged": {
                "high_value": int(privileged["is_high_value"][0].long().argmax()),
                "pellet_pos": privileged["pellet_pos"][0].cpu().numpy().copy(),
            },
        }

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None:
            self.env.set_seed(seed)
        td = self.env.reset()
        return self._observation(td), self._info(td)

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        action = torch.as_tensor(np.asarray(action, dtype=np.float32), device=self.env.device).reshape(1, -1)
        td = self.env.step(TensorDict(action=action, batch_size=self.env.batch_size, device=self.env.device))["next"]
        return (
            self._observation(td),
            float(td["reward"][0, 0]),
            bool(td["terminated"][0, 0]),
            bool(td["truncated"][0, 0]),
            self._info(td),
        )

    def render(self) -> np.ndarray | None:
        """The arena as a uint8 [H,W,3] frame (``render_view`` picks the agent or the human view)."""
        if self.render_mode is None:
            return None
        frames = render_frames(self.config, self.env.get_state(), mode=self.render_view, size=self.render_size)
        return frames[0].cpu().numpy()
