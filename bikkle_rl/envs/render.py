"""Batched RGB frames of Bikkle arenas, drawn with tensor ops only (no per-arena drawing loop).

Image convention: a square ``size x size`` picture of the unit arena. Pixel ``(row, col)`` shows the arena point
``x = (col + 0.5) / size``, ``y = 1 - (row + 0.5) / size``: row 0 is the *top* of the arena (y near 1), so y
grows upwards as in a plot. A shape covers a pixel when it covers that pixel's centre.

Two views:

- ``"agent"``: what the policy could know: pinks pink, blues blue, the agent white on a dark background.
  The high-value pellet looks like any other pink.
- ``"human"``: what the person in the original study saw: the same, but the high-value pellet green,
  a grey round-progress bar along the bottom edge and, when a gaze is given, a yellow cross at the gaze point
  on arenas where it is valid and a red border on arenas where it is not (the tracker lost the eye this step).
  Videos carry a key to these glyphs below the arenas (:func:`bikkle_rl.envs.video.with_legend`).

Shapes are *stamped*: each object only touches the small square of pixels around it (one ``index_put_`` for the
whole batch), so the cost is one background fill plus a few hundred pixels per object and arena. Objects are
stamped in painter's order (pellets by slot, the agent, then the overlays); the only Python loop is over the
few pellet slots.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from tensordict import TensorDictBase

from bikkle_rl.envs.config import BikkleConfig
from bikkle_rl.envs.dynamics import PINK

RENDER_MODES = ("agent", "human")

BACKGROUND = (24, 24, 32)
PINK_COLOUR = (255, 105, 180)
BLUE_COLOUR = (0, 190, 255)
AGENT_COLOUR = (255, 255, 255)
HIGH_VALUE_COLOUR = (40, 220, 60)
GAZE_COLOUR = (255, 220, 0)
GAZE_INVALID_COLOUR = (230, 30, 30)
PROGRESS_COLOUR = (170, 170, 170)

GAZE_ARM = 0.05
"""Half-length of the gaze cross's arms, in arena units (the correlated gaze's noise std)."""

Shape = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``inside(dx, dy) -> bool``: whether a pixel centre at offset (dx, dy) from the shape's centre is covered."""


def colour(rgb: tuple[int, int, int], device: torch.device) -> torch.Tensor:
    """An RGB triple as a uint8 tensor [3]."""
    return torch.tensor(rgb, dtype=torch.uint8, device=device)


def disc(radius: float) -> Shape:
    """A filled disc of ``radius`` (arena units)."""
    return lambda dx, dy: dx * dx + dy * dy <= radius * radius


def ring(inner: float, outer: torch.Tensor) -> Shape:
    """An annulus between radius ``inner`` (excluded) and ``outer`` [N] per arena (arena units); empty where
    ``outer <= inner``."""
    outer = outer[:, None, None]
    return lambda dx, dy: (dx * dx + dy * dy > inner * inner) & (dx * dx + dy * dy <= outer * outer)


def cross(arm: float, half_width: float) -> Shape:
    """An axis-aligned ``+`` with arms ``arm`` long and ``2 * half_width`` thick."""
    return lambda dx, dy: (
        ((dx.abs() <= half_width) & (dy.abs() <= arm)) | ((dy.abs() <= half_width) & (dx.abs() <= arm))
    )


def paint_pixels(
    canvas: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, covered: torch.Tensor, rgb: torch.Tensor
) -> None:
    """Sets the pixels ``(rows, cols)`` of every arena's image where ``covered``, in place.

    canvas: [N+1, H, W, 3] uint8, the images plus one scratch image whose first pixel absorbs every pixel that
    is not covered or lies outside the image (so no boolean indexing and no host sync). rows [N,A,1] and
    cols [N,1,B] (or broadcastable) index pixels; covered: [N,A,B] bool. rgb: [3], or [N,3] per arena.
    """
    num, height, width = canvas.shape[0] - 1, canvas.shape[1], canvas.shape[2]
    inside = covered & (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    arena = torch.arange(num, device=canvas.device)[:, None, None]
    pixel = torch.where(inside, (arena * height + rows) * width + cols, num * height * width)
    values = (rgb[:, None, None, :] if rgb.ndim == 2 else rgb).expand(*pixel.shape, 3)
    canvas.view(-1, 3).index_put_((pixel.reshape(-1),), values.reshape(-1, 3))


def stamp(
    canvas: torch.Tensor,
    centre: torch.Tensor,
    reach: float,
    inside: Shape,
    rgb: torch.Tensor,
    enabled: torch.Tensor | None = None,
) -> None:
    """Paints a shape at ``centre`` [N,2] (arena coordinates) into every arena's image, in place.

    Only the square of pixels within ``reach`` (the shape's half-extent, arena units) of the centre is visited.
    enabled: [N] bool, the arenas where the shape is drawn (all when None). See :func:`paint_pixels`.
    """
    size = canvas.shape[1]
    half = math.ceil(reach * size) + 1
    offsets = torch.arange(-half, half + 1, device=centre.device)
    cols = (centre[:, 0:1] * size).floor().long() + offsets  # [N,K]
    rows = ((1.0 - centre[:, 1:2]) * size).floor().long() + offsets  # [N,K]
    dx = ((cols + 0.5) / size - centre[:, 0:1])[:, None, :]
    dy = ((1.0 - (rows + 0.5) / size) - centre[:, 1:2])[:, :, None]
    covered = inside(dx, dy)
    if enabled is not None:
        covered = covered & enabled[:, None, None]
    paint_pixels(canvas, rows[:, :, None], cols[:, None, :], covered, rgb)


def render_frames(
    config: BikkleConfig,
    state: TensorDictBase,
    mode: str = "agent",
    size: int = 128,
    gaze: torch.Tensor | None = None,
    gaze_valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """RGB frames of every arena in ``state``: uint8 [N, size, size, 3] on the state's device.

    Args:
        config: the arena's config (radii, round length, pellet slots).
        state: the env state of batch [N] (``BikkleEnv.get_state()``: ``agent_pos``, ``pellet_pos``,
            ``pellet_kind``, ``pellet_mask``, ``high_value``, ``round_step``).
        mode: ``"agent"`` or ``"human"`` (see the module docstring).
        size: image side in pixels.
        gaze: [N,2] gaze points in arena coordinates; human view only.
        gaze_valid: [N] or [N,1] bool; where False the cross is hidden and a red border drawn (all valid when None).
    """
    if mode not in RENDER_MODES:
        raise ValueError(f"mode must be one of {RENDER_MODES}, got {mode!r}")
    if int(size) < 1:
        raise ValueError(f"size must be >= 1, got {size!r}")
    if mode == "agent" and (gaze is not None or gaze_valid is not None):
        raise ValueError("gaze is drawn in the 'human' view only; got a gaze for mode='agent'")
    if gaze is None and gaze_valid is not None:
        raise ValueError("gaze_valid was given without a gaze")

    size = int(size)
    agent_pos, pellet_pos, pellet_mask = state["agent_pos"], state["pellet_pos"], state["pellet_mask"]
    device, num = agent_pos.device, agent_pos.shape[0]
    pellet_colours = torch.where(
        (state["pellet_kind"] == PINK)[..., None], colour(PINK_COLOUR, device), colour(BLUE_COLOUR, device)
    )  # [N,P,3]
    if mode == "human":
        is_high = torch.nn.functional.one_hot(state["high_value"], config.num_pellets).bool()
        pellet_colours = torch.where(is_high[..., None], colour(HIGH_VALUE_COLOUR, device), pellet_colours)

    background = colour(BACKGROUND, device).expand(size, size, 3).contiguous()
    canvas = background.expand(num + 1, size, size, 3).contiguous()
    pellet_disc = disc(config.pellet_radius)
    for slot in range(config.num_pellets):
        stamp(
            canvas,
            pellet_pos[:, slot],
            config.pellet_radius,
            pellet_disc,
            pellet_colours[:, slot],
            pellet_mask[:, slot],
        )
    stamp(canvas, agent_pos, config.agent_radius, disc(config.agent_radius), colour(AGENT_COLOUR, device))
    if mode == "human":
        progress = state["round_step"].float() / config.round_len
        paint_human_overlays(canvas, progress, gaze, gaze_valid)
    return canvas[:num]


def paint_human_overlays(
    canvas: torch.Tensor, progress: torch.Tensor, gaze: torch.Tensor | None, gaze_valid: torch.Tensor | None
) -> None:
    """The human view's round-progress bar, gaze cross and invalid-gaze border, in place.

    canvas: see :func:`paint_pixels`. progress: [N] in [0, 1]. The bar runs along the bottom edge, inset by the
    border's width so that the two never overlap.
    """
    num, size, device = canvas.shape[0] - 1, canvas.shape[1], canvas.device
    edge = max(1, size // 40)  # border width and bar height, in pixels
    pixels = torch.arange(size, device=device)
    bar_rows, bar_cols = pixels[size - 2 * edge : size - edge], pixels[edge : size - edge]
    filled = (bar_cols - edge + 0.5) / max(size - 2 * edge, 1) <= progress[:, None]  # [N,W']
    paint_pixels(
        canvas,
        bar_rows[None, :, None],
        bar_cols[None, None, :],
        filled[:, None, :].expand(num, bar_rows.shape[0], -1),
        colour(PROGRESS_COLOUR, device),
    )

    if gaze is None:
        return
    gaze = gaze.reshape(num, 2).float()
    valid = torch.ones(num, dtype=torch.bool, device=device) if gaze_valid is None else gaze_valid.reshape(num).bool()
    stamp(canvas, gaze, GAZE_ARM, cross(GAZE_ARM, half_width=1.0 / size), colour(GAZE_COLOUR, device), valid)
    edges = torch.cat((pixels[:edge], pixels[size - edge :]))
    invalid = ~valid[:, None, None]
    red = colour(GAZE_INVALID_COLOUR, device)
    paint_pixels(canvas, edges[None, :, None], pixels[None, None, :], invalid.expand(num, edges.shape[0], size), red)
    paint_pixels(canvas, pixels[None, :, None], edges[None, None, :], invalid.expand(num, size, edges.shape[0]), red)
