"""A rasterised top-down view of the arena for CNN policies (James's "semantic image")."""

from __future__ import annotations

import math

import torch
from tensordict import TensorDictBase
from torchrl.data import Bounded, Composite

from bikkle_rl.envs.dynamics import BLUE, PINK
from bikkle_rl.envs.transforms.observation_view import ObservationView

CHANNELS = ("agent", "pink", "blue", "gaze")


class SemanticImage(ObservationView):
    """Writes ``image`` [N, 4, size, size] float in {0, 1}: one channel per :data:`CHANNELS`.

    Each object is drawn as a filled disc of ``radius`` (arena units) on a ``size`` x ``size`` grid covering
    the unit square; row ``i`` is y in ``[i / size, (i + 1) / size)`` and column ``j`` is x likewise. A disc
    never shrinks below half a pixel diagonal, so every object lights at least one pixel. Pellets come from the
    policy-visible ``agent_pos + pellet_rel`` and ``pellet_mask``; the gaze channel is drawn where
    ``gaze_valid`` (empty without ``GazeInjection`` earlier in the stack).
    """

    def __init__(self, size: int = 32, radius: float = 0.04):
        if int(size) < 2:
            raise ValueError(f"SemanticImage size must be >= 2, got {size!r}")
        if not radius > 0:
            raise ValueError(f"SemanticImage radius must be > 0, got {radius!r}")
        super().__init__(in_keys=[], out_keys=["image"])
        self.size = int(size)
        self.radius = max(float(radius), math.sqrt(0.5) / self.size)

    def _discs(self, centres: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """Union of the present discs: centres [*B, K, 2], present [*B, K] -> [*B, size, size]."""
        axis = (torch.arange(self.size, device=centres.device) + 0.5) / self.size
        dx = axis - centres[..., 0, None]  # [*B, K, W]
        dy = axis - centres[..., 1, None]  # [*B, K, H]
        inside = dy[..., :, None] ** 2 + dx[..., None, :] ** 2 <= self.radius**2  # [*B, K, H, W]
        return (inside & present[..., None, None]).any(-3).float()

    def _call(self, next_tensordict: TensorDictBase) -> TensorDictBase:
        td = next_tensordict
        agent_pos = td.get("agent_pos")
        pellet_pos = agent_pos[..., None, :] + td.get("pellet_rel")
        mask, kind = td.get("pellet_mask"), td.get("pellet_kind")
        one = torch.ones_like(agent_pos[..., :1], dtype=torch.bool)
        if "gaze" in td:
            gaze, gaze_present = td.get("gaze"), td.get("gaze_valid")
        else:
            gaze, gaze_present = agent_pos, torch.zeros_like(one)
        channels = (
            self._discs(agent_pos[..., None, :], one),
            self._discs(pellet_pos, mask & (kind == PINK)),
            self._discs(pellet_pos, mask & (kind == BLUE)),
            self._discs(gaze[..., None, :], gaze_present),
        )
        td.set("image", torch.stack(channels, -3))
        return td

    def transform_observation_spec(self, observation_spec: Composite) -> Composite:
        shape = (*observation_spec.shape, len(CHANNELS), self.size, self.size)
        observation_spec["image"] = Bounded(0.0, 1.0, shape, device=observation_spec.device)
        return observation_spec
