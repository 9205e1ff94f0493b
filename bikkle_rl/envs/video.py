"""Writing rendered frames to an MP4 or GIF file, with a legend strip that says what the human view's glyphs mean."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from bikkle_rl.envs.render import (
    AGENT_COLOUR,
    BLUE_COLOUR,
    GAZE_COLOUR,
    GAZE_INVALID_COLOUR,
    HIGH_VALUE_COLOUR,
    PINK_COLOUR,
    PROGRESS_COLOUR,
)

VIDEO_SUFFIXES = (".mp4", ".gif")

LegendEntry = tuple[str, tuple[int, int, int], str]
"""``(glyph, colour, label)``: a glyph of :func:`draw_glyph` in an RGB colour, and what it means."""

LEGEND: tuple[LegendEntry, ...] = (
    ("disc", AGENT_COLOUR, "agent"),
    ("disc", PINK_COLOUR, "pink (reward)"),
    ("disc", HIGH_VALUE_COLOUR, "high-value pink"),
    ("disc", BLUE_COLOUR, "blue (penalty)"),
    ("cross", GAZE_COLOUR, "gaze point"),
    ("border", GAZE_INVALID_COLOUR, "red border: gaze lost"),
    ("bar", PROGRESS_COLOUR, "round progress"),
)
"""The legend's entries, ``(glyph, colour, label)``, in the order drawn: the human view of
:func:`bikkle_rl.envs.render.render_frames`."""
LEGEND_BACKGROUND = (0, 0, 0)
LEGEND_TEXT_COLOUR = (220, 220, 220)
LEGEND_ROW_PX = 16
"""Height of one legend row: a multiple of 16 keeps MP4 frames of 16-multiple arenas unscaled."""
SWATCH_PX = 12
"""Side of the square in which a glyph is drawn, left of its label."""


def draw_glyph(draw: ImageDraw.ImageDraw, glyph: str, rgb: tuple[int, int, int], left: int, top: int) -> None:
    """One legend glyph in the ``SWATCH_PX`` square at (left, top): a disc, a cross, a border, a bar or a ring."""
    right, bottom, middle = left + SWATCH_PX - 1, top + SWATCH_PX - 1, SWATCH_PX // 2
    if glyph == "disc":
        draw.ellipse((left + 1, top + 1, right - 1, bottom - 1), fill=rgb)
    elif glyph == "cross":
        draw.rectangle((left, top + middle - 1, right, top + middle), fill=rgb)
        draw.rectangle((left + middle - 1, top, left + middle, bottom), fill=rgb)
    elif glyph == "border":
        draw.rectangle((left, top, right, bottom), outline=rgb, width=2)
    elif glyph == "ring":
        draw.ellipse((left, top, right, bottom), outline=rgb, width=2)
    elif glyph == "bar":
        draw.rectangle((left, top + middle - 1, right, top + middle + 1), fill=rgb)
    else:
        raise ValueError(f"unknown legend glyph {glyph!r}")


def legend_strip(width: int, legend: Sequence[LegendEntry] = LEGEND) -> torch.Tensor:
    """``legend`` as an image uint8 [L, width, 3]: its entries flow left to right in rows of ``LEGEND_ROW_PX``."""
    font = ImageFont.load_default()
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    gap = SWATCH_PX // 2
    rows: list[list[tuple[int, tuple]]] = [[]]
    used = gap
    for entry in legend:
        item_width = SWATCH_PX + gap // 2 + int(measure.textlength(entry[2], font=font)) + gap
        if rows[-1] and used + item_width > width:
            rows.append([])
            used = gap
        rows[-1].append((used, entry))
        used += item_width
    image = Image.new("RGB", (width, LEGEND_ROW_PX * len(rows)), LEGEND_BACKGROUND)
    draw = ImageDraw.Draw(image)
    for row, items in enumerate(rows):
        top = row * LEGEND_ROW_PX + (LEGEND_ROW_PX - SWATCH_PX) // 2
        for left, (glyph, rgb, label) in items:
            draw_glyph(draw, glyph, rgb, left, top)
            draw.text((left + SWATCH_PX + gap // 2, top + SWATCH_PX // 2), label, fill=LEGEND_TEXT_COLOUR, font=font,
                      anchor="lm")
    return torch.from_numpy(np.asarray(image).copy())


def with_legend(frames: torch.Tensor, legend: Sequence[LegendEntry] = LEGEND) -> torch.Tensor:
    """Frames uint8 [T,H,W,3] with the strip of ``legend`` below them: [T,H+L,W,3]; the frames' pixels are
    unchanged. An overlay on the frames extends :data:`LEGEND` with its own entries."""
    strip = legend_strip(frames.shape[2], legend).to(frames.device)
    return torch.cat((frames, strip.expand(frames.shape[0], *strip.shape)), dim=1)


def save_video(frames: torch.Tensor | np.ndarray, path: str | Path, fps: float = 25.0) -> Path:
    """Writes uint8 frames [T,H,W,3] to ``path`` (``.mp4`` through imageio-ffmpeg, ``.gif`` through Pillow).

    Frames usually come from :func:`bikkle_rl.envs.render.render_frames`, one arena stacked over time, with
    :func:`with_legend` below them. MP4 needs H and W to be multiples of 16 (the default 128 px arena and the
    legend's rows are); other sizes are resized by ffmpeg.
    """
    path = Path(path)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise ValueError(f"save_video writes {VIDEO_SUFFIXES} files, got {str(path)!r}")
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps!r}")
    if isinstance(frames, torch.Tensor):
        frames = frames.cpu().numpy()
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 [T,H,W,3], got {frames.dtype} {tuple(frames.shape)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".gif":
        imageio.mimwrite(path, list(frames), format="GIF-PIL", duration=1.0 / fps, loop=0)
    else:
        imageio.mimwrite(path, list(frames), format="FFMPEG", fps=fps)
    return path
