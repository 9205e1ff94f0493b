"""Gaze sources by name, so that configs can say ``source: correlated`` and pass its options."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bikkle_rl.gaze.fitted import FittedGaze
from bikkle_rl.gaze.lsl import LSLGaze
from bikkle_rl.gaze.mixture import MixtureGaze
from bikkle_rl.gaze.mouse import MouseGaze
from bikkle_rl.gaze.realistic import RealisticGaze
from bikkle_rl.gaze.replay import ReplayGaze
from bikkle_rl.gaze.source import GazeSource
from bikkle_rl.gaze.synthetic import CorrelatedGaze, NoGaze, OracleGaze, UniformGaze


def _make_mixture(components: list[Mapping[str, Any]]) -> MixtureGaze:
    """``components``: a list of ``{source: name, weight: w, **options}`` (weight defaults to 1)."""
    sources, weights = [], []
    for component in components:
        options = dict(component)
        if "source" not in options:
            raise ValueError(f"each mixture component needs a 'source' name, got {component!r}")
        weights.append(options.pop("weight", 1.0))
        sources.append(make_gaze_source(options.pop("source"), **options))
    return MixtureGaze(sources, weights)


GAZE_SOURCES: dict[str, Callable[..., GazeSource]] = {
    "correlated": CorrelatedGaze,
    "uniform": UniformGaze,
    "none": NoGaze,
    "oracle": OracleGaze,
    "realistic": RealisticGaze,
    "mixture": _make_mixture,
    "mouse": MouseGaze,
    "lsl": LSLGaze,
    "replay": ReplayGaze,
    "fitted": FittedGaze,
}


def make_gaze_source(name: str, **options: Any) -> GazeSource:
    """The gaze source registered as ``name``, built with ``options`` (a clear error for unknown ones)."""
    if name not in GAZE_SOURCES:
        raise ValueError(f"unknown gaze source {name!r}; choose one of {sorted(GAZE_SOURCES)}")
    try:
        return GAZE_SOURCES[name](**options)
    except TypeError as error:
        raise ValueError(f"bad options {sorted(options)} for gaze source {name!r}: {error}") from None
