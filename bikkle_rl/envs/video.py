"""Writing rendered frames to an MP4 or GIF file."""

from __future__ import annotations

from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import torch

VIDEO_SUFFIXES = (".mp4", ".gif")


def save_video(frames: torch.Tensor | np.ndarray, path: str | Path, fps: float = 25.0) -> Path:
    """Writes uint8 frames [T,H,W,3] to ``path`` (``.mp4`` through imageio-ffmpeg, ``.gif`` through Pillow).

    Frames usually come from :func:`bikkle_rl.envs.render.render_frames`, one arena stacked over time.
    MP4 needs H and W to be multiples of 16 (the default 128 px is); other sizes are resized by ffmpeg.
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
