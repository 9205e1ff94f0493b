"""Object-centric gaze: which pellet a gaze sample falls on, and the role that pellet plays.

A person's gaze means something through the object it rests on, not through its coordinates: "looks at the
high-value pink" transfers to another arena, "looks at (0.31, 0.72)" does not. Every recorded step therefore
carries the pellet the gaze falls on (the nearest present pellet within ``radius`` of the gaze point, or none),
the gaze's offset from that pellet, and the pellet's *role*:

==========  ====  =============================================================
role        code  meaning
==========  ====  =============================================================
(lost)      -1    the gaze is invalid (the tracker lost the eye)
off         0     a valid gaze on no pellet (nothing within ``radius``)
high_value  1     on the high-value pink
pink        2     on another pink
blue        3     on a blue
==========  ====  =============================================================

The functions are numpy, row-wise over T recorded steps (recordings are numpy; see
:mod:`bikkle_rl.recording`).
"""

from __future__ import annotations

import numpy as np

DEFAULT_TARGET_RADIUS = 0.12
"""Three pellet radii: a sample this close to a pellet counts as looking at it (webcam trackers err by ~0.05)."""

ROLE_LOST, ROLE_OFF, ROLE_HIGH_VALUE, ROLE_PINK, ROLE_BLUE = -1, 0, 1, 2, 3
ROLE_NAMES = {ROLE_LOST: "lost", ROLE_OFF: "off", ROLE_HIGH_VALUE: "high_value", ROLE_PINK: "pink",
              ROLE_BLUE: "blue"}


def gaze_targets(gaze: np.ndarray, gaze_valid: np.ndarray, pellet_pos: np.ndarray, pellet_mask: np.ndarray,
                 radius: float = DEFAULT_TARGET_RADIUS) -> tuple[np.ndarray, np.ndarray]:
    """The pellet each gaze sample falls on and the gaze's offset from it.

    Args:
        gaze [T, 2], gaze_valid [T], pellet_pos [T, P, 2], pellet_mask [T, P]: one recorded step per row
            (an arena always holds at least one pellet slot).
        radius: the largest distance at which a sample counts as on a pellet.

    Returns:
        target [T] int64 (the pellet slot, -1 for none or an invalid sample) and offset [T, 2] float32
        (gaze minus that pellet's position; 0 where there is no target).
    """
    distance = np.linalg.norm(gaze[:, None, :] - pellet_pos, axis=-1)
    distance = np.where(pellet_mask, distance, np.inf)
    nearest = distance.argmin(-1)
    rows = np.arange(len(gaze))
    hit = gaze_valid & (distance[rows, nearest] <= radius)
    target = np.where(hit, nearest, -1).astype(np.int64)
    offset = np.where(hit[:, None], gaze - pellet_pos[rows, nearest], 0.0)
    return target, offset.astype(np.float32)


def gaze_roles(target: np.ndarray, gaze_valid: np.ndarray, pellet_kind: np.ndarray,
               high_value: np.ndarray) -> np.ndarray:
    """The role code [T] (see the module docstring) of each step's gaze target.

    ``target`` [T] as :func:`gaze_targets` returns it, ``pellet_kind`` [T, P] (0 pink, 1 blue), ``high_value``
    [T] the slot of the high-value pellet.
    """
    rows = np.arange(len(target))
    slot = np.maximum(target, 0)
    kind = pellet_kind[rows, slot]
    role = np.where(kind == 1, ROLE_BLUE, np.where(slot == high_value, ROLE_HIGH_VALUE, ROLE_PINK))
    role = np.where(target < 0, ROLE_OFF, role)
    return np.where(gaze_valid, role, ROLE_LOST).astype(np.int64)
