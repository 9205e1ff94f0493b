"""Recorded sessions: the file format (:mod:`~bikkle_rl.recording.format`) and the object-centric gaze derived
from a step's state (:mod:`~bikkle_rl.recording.gaze_targets`).

Both the gaze sources (replaying and fitting a person's gaze) and the human side (the play window, XDF import,
BIDS export) read recordings, so the format lives apart from both and imports neither.
"""

from bikkle_rl.recording.format import (
    BASE_COLUMNS,
    COLUMNS,
    GAZE_TARGET_COLUMNS,
    SCHEMA_VERSION,
    STATE_COLUMNS,
    Recording,
    RecordingError,
    RecordingWriter,
    load_recording,
    row_shape,
    save_recording,
    select_episodes,
)

__all__ = [
    "BASE_COLUMNS",
    "COLUMNS",
    "GAZE_TARGET_COLUMNS",
    "SCHEMA_VERSION",
    "STATE_COLUMNS",
    "Recording",
    "RecordingError",
    "RecordingWriter",
    "load_recording",
    "row_shape",
    "save_recording",
    "select_episodes",
]
