"""The human side: the recording format here; the play window in :mod:`bikkle_rl.human.play` and the
``bikkle-play`` command in :mod:`bikkle_rl.human.cli`.

Only the recording format is imported with the package: gaze sources (``ReplayGaze``) read recordings, and
the play loop builds on the gaze sources, so importing it here would make the two packages import each other.
"""

from bikkle_rl.human.recording import (
    COLUMNS,
    SCHEMA_VERSION,
    Recording,
    RecordingError,
    RecordingWriter,
    load_recording,
    save_recording,
)

__all__ = [
    "COLUMNS",
    "SCHEMA_VERSION",
    "Recording",
    "RecordingError",
    "RecordingWriter",
    "load_recording",
    "save_recording",
]
