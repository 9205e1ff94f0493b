"""The mouse pointer as gaze: works on any machine, for demos and tests."""

from __future__ import annotations

from collections.abc import Callable

import torch

from bikkle_rl.gaze.screen import LiveGaze, WindowGeometry

Pointer = Callable[[], tuple[float, float] | None]
"""Returns the pointer position in window pixels, or None when the pointer is not over the window."""


def pygame_pointer() -> tuple[float, float] | None:
    """The pygame window's pointer position (pixels), or None while the window does not have the mouse."""
    import pygame

    if not pygame.display.get_init() or not pygame.mouse.get_focused():
        return None
    return pygame.mouse.get_pos()


class MouseGaze(LiveGaze):
    """Gaze at the mouse pointer of the play window (``geometry_frame = "window"``), the same in every arena.

    Invalid while the pointer is outside the window or outside the arena square. ``latency_s`` is 0: the
    pointer position is read when the gaze is sampled.

    Args:
        geometry: the arena's place in the window (set by the play window when None).
        pointer: where to read the pointer (window pixels or None); the pygame mouse by default. Tests and
            scripted demos pass their own.
    """

    def __init__(self, geometry: WindowGeometry | None = None, pointer: Pointer | None = None):
        super().__init__(geometry)
        self.pointer = pygame_pointer if pointer is None else pointer

    def read_point(self) -> torch.Tensor | None:
        position = self.pointer()
        self.latency_s = 0.0
        if position is None:
            return None
        pixels = torch.tensor(position, dtype=torch.float32)
        return self.require_geometry().pixels_to_arena(pixels)
