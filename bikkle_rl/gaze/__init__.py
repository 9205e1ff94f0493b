"""Gaze: where the human looks. Sources behind one small interface, built by name from configs."""

from bikkle_rl.gaze.mixture import MixtureGaze
from bikkle_rl.gaze.realistic import RealisticGaze
from bikkle_rl.gaze.registry import GAZE_SOURCES, make_gaze_source
from bikkle_rl.gaze.source import GazeSource, high_value_position
from bikkle_rl.gaze.synthetic import CorrelatedGaze, NoGaze, OracleGaze, UniformGaze

__all__ = [
    "GAZE_SOURCES",
    "CorrelatedGaze",
    "GazeSource",
    "MixtureGaze",
    "NoGaze",
    "OracleGaze",
    "RealisticGaze",
    "UniformGaze",
    "high_value_position",
    "make_gaze_source",
]
