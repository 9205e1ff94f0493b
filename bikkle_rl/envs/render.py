"""Batched RGB frames of Bikkle arenas, drawn with tensor ops only (no per-arena drawing loop).

Image convention: a square ``size x size`` picture of the unit arena. Column ``j`` shows x around
``(j + 0.5) / size``; row 0 is the *top* of the arena (y near 1), so y grows upwards as in a plot.

Two views:

- ``"agent"``: what the policy could know: pinks pink, blues blue, the agent white on a dark background.
  The high-value pellet looks like any other pink.
- ``"human"``: what the person in the original study saw: the same, but the high-value pellet green,
  a round-progress bar along the bottom edge and, when a gaze is given, a yellow cross at the gaze point
  on arenas where it is valid and a red border on arenas where it is not.

Objects are painted in order (pellets by slot, then the agent, then the overlays), each as one masked
``torch.where`` over the whole batch; the only Python loop is over the few pellet slots.
"""

from __future__ import annotations

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


def colour(rgb: tuple[int, int, int], device: torch.device) -> torch.Tensor:
    """An RGB triple as a uint8 tensor [3]."""
    return torch.tensor(rgb, dtype=torch.uint8, device=device)


def disc(centre: torch.Tensor, radius: float, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """Pixels whose centre lies within ``radius`` of ``centre`` [N,2]: [N,H,W] bool (xs [W], ys [H])."""
    dx_sq = (xs - centre[:, 0:1]) ** 2
    dy_sq = (ys - centre[:, 1:2]) ** 2
    return dy_sq[:, :, None] + dx_sq[:, None, :] <= radius**2


def cross(centre: torch.Tensor, arm: float, half_width: float, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """Pixels of an axis-aligned cross (``+``) at ``centre`` [N,2]: [N,H,W] bool."""
    dx = (xs - centre[:, 0:1]).abs()[:, None, :]
    dy = (ys - centre[:, 1:2]).abs()[:, :, None]
    return ((dx <= half_width) & (dy <= arm)) | ((dy <= half_width) & (dx <= arm))


def paint(image: torch.Tensor, where: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
    """``image`` [N,H,W,3] with the pixels ``where`` [N,H,W] set to ``rgb`` ([3], or [N,3] per arena)."""
    if rgb.ndim == 2:
        rgb = rgb[:, None, None, :]
    return torch.where(where[..., None], rgb, image)


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
        config: the arena's config (radii, round length).
        state: the env state of batch [N] (``BikkleEnv.get_state()``: ``agent_pos``, ``pellet_pos``,
            ``pellet_kind``, ``pellet_mask``, ``high_value``, ``round_step``).
        mode: ``"agent"`` or ``"human"`` (see the module docstring).
        size: image side in pixels.
        gaze: [N,2] gaze points in arena coordinates, human view only.
        gaze_valid: [N] or [N,1] bool; where False the cross is hidden and a red border is drawn
            (all valid when None).
    """
    if mode not in RENDER_MODES:
        raise ValueError(f"mode must be one of {RENDER_MODES}, got {mode!r}")
    if int(size) < 1:
        raise ValueError(f"size must be >= 1, got {size!r}")
    if mode == "agent" and (gaze is not None or gaze_valid is not None):
        raise ValueError("gaze is drawn in the 'human' view only; got a gaze for mode='agent'")
    if gaze is None and gaze_valid is not None:
        raise ValueError("gaze_valid was given without a gaze")

    agent_pos, pellet_pos = state["agent_pos"], state["pellet_pos"]
    pellet_mask = state["pellet_mask"]
    device, num = agent_pos.device, agent_pos.shape[0]
    size = int(size)
    xs = (torch.arange(size, device=device, dtype=agent_pos.dtype) + 0.5) / size
    ys = xs.flip(0)

    pellet_colours = torch.where(
        (state["pellet_kind"] == PINK)[..., None], colour(PINK_COLOUR, device), colour(BLUE_COLOUR, device)
    )  # [N,P,3]
    if mode == "human":
        is_high = torch.nn.functional.one_hot(state["high_value"], config.num_pellets).bool()
        pellet_colours = torch.where(is_high[..., None], colour(HIGH_VALUE_COLOUR, device), pellet_colours)

    image = colour(BACKGROUND, device).expand(num, size, size, 3)
    for slot in range(config.num_pellets):
        covered = disc(pellet_pos[:, slot], config.pellet_radius, xs, ys) & pellet_mask[:, slot, None, None]
        image = paint(image, covered, pellet_colours[:, slot])
    image = paint(image, disc(agent_pos, config.agent_radius, xs, ys), colour(AGENT_COLOUR, device))
    if mode == "human":
        image = paint_human_overlays(config, state, image, xs, ys, gaze, gaze_valid)
    return image.contiguous()


def paint_human_overlays(
    config: BikkleConfig,
    state: TensorDictBase,
    image: torch.Tensor,
    xs: torch.Tensor,
    ys: torch.Tensor,
    gaze: torch.Tensor | None,
    gaze_valid: torch.Tensor | None,
) -> torch.Tensor:
    """The human view's round-progress bar, gaze cross and invalid-gaze border on ``image`` [N,H,W,3].

    The bar runs along the bottom edge, inset by the border's width so the two never overlap.
    """
    num, size, device = image.shape[0], image.shape[1], image.device
    edge = max(1, size // 40)  # border width and bar height, in pixels
    rows = torch.arange(size, device=device)
    in_border = (
        (rows[:, None] < edge) | (rows[:, None] >= size - edge) | (rows[None, :] < edge) | (rows[None, :] >= size - edge)
    )  # [H,W]

    progress = state["round_step"].to(xs.dtype) / config.round_len  # [N]
    bar_rows = (rows >= size - 2 * edge) & (rows < size - edge)  # [H]
    bar_cols = (rows >= edge) & (rows < size - edge)  # [W]
    filled = (rows - edge + 0.5) / (size - 2 * edge) <= progress[:, None]  # [N,W]
    image = paint(image, bar_rows[None, :, None] & (bar_cols & filled)[:, None, :], colour(PROGRESS_COLOUR, device))

    if gaze is None:
        return image
    gaze = gaze.reshape(num, 2).to(xs.dtype)
    valid = torch.ones(num, dtype=torch.bool, device=device) if gaze_valid is None else gaze_valid.reshape(num).bool()
    half_width = 1.0 / size  # about two pixels thick
    image = paint(image, cross(gaze, GAZE_ARM, half_width, xs, ys) & valid[:, None, None], colour(GAZE_COLOUR, device))
    return paint(image, in_border & ~valid[:, None, None], colour(GAZE_INVALID_COLOUR, device))
