"""Where the arena sits on a screen, and the base of live gaze sources (a person looking at that screen).

Screen coordinates follow display conventions: pixels from the top-left corner, y growing *down*;
normalised screen coordinates divide by the screen's width and height, so (0, 0) is the top-left corner and
(1, 1) the bottom-right one. Arena coordinates are the unit square with y growing *up* (see
:mod:`bikkle_rl.envs.render`: row 0 of a frame is the top of the arena, y = 1).
"""

from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import dataclass

import torch
from tensordict import TensorDictBase

from bikkle_rl.gaze.source import GazeSource, observation_device


@dataclass(frozen=True)
class WindowGeometry:
    """The arena drawn as a ``arena_size`` pixel square at (``arena_left``, ``arena_top``) on a
    ``screen_width x screen_height`` pixel surface (a window, or the whole monitor for eye trackers).

    Maps points both ways; every method takes and returns tensors [..., 2].
    """

    screen_width: float
    screen_height: float
    arena_left: float
    arena_top: float
    arena_size: float

    def __post_init__(self) -> None:
        for name in ("screen_width", "screen_height", "arena_size"):
            if not getattr(self, name) > 0:
                raise ValueError(f"WindowGeometry.{name} must be > 0, got {getattr(self, name)!r}")

    @classmethod
    def centred(cls, screen_width: float, screen_height: float, arena_size: float | None = None) -> WindowGeometry:
        """The arena as the largest (or an ``arena_size``) square centred on the screen."""
        size = min(screen_width, screen_height) if arena_size is None else arena_size
        return cls(screen_width, screen_height, (screen_width - size) / 2, (screen_height - size) / 2, size)

    def offset(self, left: float, top: float, screen_width: float, screen_height: float) -> WindowGeometry:
        """The same arena seen from a larger surface in which this one's top-left corner sits at (left, top):
        e.g. a window's geometry on the monitor it is placed on."""
        return WindowGeometry(screen_width, screen_height, self.arena_left + left, self.arena_top + top,
                              self.arena_size)

    def pixels_to_arena(self, pixels: torch.Tensor) -> torch.Tensor:
        """Screen pixels [..., 2] (y down) to arena coordinates [..., 2] (y up); outside the arena maps
        outside the unit square."""
        x = (pixels[..., 0] - self.arena_left) / self.arena_size
        y = 1.0 - (pixels[..., 1] - self.arena_top) / self.arena_size
        return torch.stack((x, y), -1)

    def arena_to_pixels(self, arena: torch.Tensor) -> torch.Tensor:
        """Arena coordinates [..., 2] to screen pixels [..., 2]."""
        x = self.arena_left + arena[..., 0] * self.arena_size
        y = self.arena_top + (1.0 - arena[..., 1]) * self.arena_size
        return torch.stack((x, y), -1)

    def normalized_to_arena(self, normalized: torch.Tensor) -> torch.Tensor:
        """Normalised screen coordinates [..., 2] ((0, 0) top-left, (1, 1) bottom-right) to arena coordinates."""
        scale = torch.tensor([self.screen_width, self.screen_height], dtype=normalized.dtype,
                             device=normalized.device)
        return self.pixels_to_arena(normalized * scale)

    def arena_to_normalized(self, arena: torch.Tensor) -> torch.Tensor:
        """Arena coordinates [..., 2] to normalised screen coordinates."""
        scale = torch.tensor([self.screen_width, self.screen_height], dtype=arena.dtype, device=arena.device)
        return self.arena_to_pixels(arena) / scale


def in_arena(point: torch.Tensor) -> torch.Tensor:
    """Whether arena points [..., 2] are finite and inside the unit square: [...] bool."""
    return (point.isfinite() & (point >= 0.0) & (point <= 1.0)).all(-1)


class LiveGaze(GazeSource):
    """A single person's gaze, read live: the same point in every arena of the batch.

    Subclasses implement :meth:`read_point`, the current gaze in arena coordinates or None when the person's
    gaze is lost. A point outside the arena (the person looks elsewhere) or not finite (a tracker's NaN) is
    invalid. Validity is the source's own, so ``default_p_valid`` is 1.

    ``geometry`` maps the device's coordinates to the arena; ``geometry_frame`` says which surface those
    coordinates refer to: ``"window"`` (the game window's pixels, e.g. the mouse) or ``"screen"`` (the whole
    monitor, e.g. an eye tracker). A play window fills in a missing geometry from its own layout.
    ``latency_s`` is how old the last returned gaze was when it was read (NaN when the source cannot tell).
    """

    default_p_valid = 1.0
    geometry_frame: str = "window"

    def __init__(self, geometry: WindowGeometry | None = None):
        self.geometry = geometry
        self.latency_s = math.nan

    @abstractmethod
    def read_point(self) -> torch.Tensor | None:
        """The current gaze [2] in arena coordinates (float32, CPU), or None when it is lost."""

    def close(self) -> None:
        """Releases the device (nothing to release by default)."""

    def require_geometry(self) -> WindowGeometry:
        if self.geometry is None:
            raise RuntimeError(f"{type(self).__name__} has no WindowGeometry: pass geometry=... or run it inside "
                               "a play window, which sets it")
        return self.geometry

    def sample(self, td: TensorDictBase, mask: torch.Tensor | None, generator: torch.Generator
               ) -> tuple[torch.Tensor, torch.Tensor]:
        device = observation_device(td)
        point = self.read_point()
        if point is None:
            point = torch.full((2,), math.nan)
        valid = in_arena(point)
        point = torch.where(valid, point, torch.zeros_like(point)).to(device)
        num = td.batch_size[0]
        return point.expand(num, 2).clone(), valid.to(device).expand(num, 1).clone()
