"""Calibration check: how far from, and how steadily on, known targets a person's live gaze lands, before a session.

An eye tracker's calibration drifts with posture and lighting, and a webcam tracker's error can exceed a
pellet's size, so an agent fed live gaze is only as good as that gaze. The check measures it in the play
window: ``num_targets`` dots (5: the centre and four near-corners; 9: a 3x3 grid; 13: the grid plus four
points halfway between its centre and corners), all ``margin`` or more inside the arena, shown one at a time
in a fixed order (the centre first, then row by row from the top), each for ``target_s`` seconds. The gaze is
read on every frame; the reads of a target's first ``settle_s`` seconds are dropped while the eye travels
and lands, the others are kept (a lost read as a NaN row).

Per target, over its kept reads:

* ``lost_fraction``: the share of reads with no gaze (None or not finite);
* ``accuracy``: the mean Euclidean distance of the valid samples from the target, and ``offset_of_mean``, the
  distance of their mean point from it (the systematic part of the error);
* ``precision``: the RMS of the distances between consecutive valid samples (RMS sample-to-sample, the jitter).

Samples outside the arena are kept: clipping them would understate the error at the outer targets. The
overall values are means over the targets that have them (each target weighs the same); the overall lost
fraction is pooled over all reads.

Distances are in arena units (the arena's side is 1) and, when the physical screen is known, in degrees of
visual angle (:class:`ViewingGeometry`): the arena's side measures ``arena_px * screen_width_cm /
screen_width_px`` cm, and a distance of d cm from the target subtends ``atan(d / viewing_distance_cm)``, the
exact angle for an eye straight in front of the target. Every distance is converted before averaging.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from bikkle_rl.envs.render import BACKGROUND
from bikkle_rl.gaze.screen import LiveGaze

if TYPE_CHECKING:  # the play loop runs the check, so this module imports it only where it runs
    from bikkle_rl.human.play import PlayWindow, RealTimePacer, SimulatedPacer

TARGET_COUNTS = (5, 9, 13)
ON_FAIL = ("refuse", "warn")
RING_RADIUS = 0.03
"""The target ring's radius, in arena units (the dot inside it is a fifth of that)."""
RING_COLOUR = (255, 255, 255)
DOT_COLOUR = (230, 30, 30)
TEXT_COLOUR = (230, 230, 230)


class CalibrationError(RuntimeError):
    """The gaze failed the check (``on_fail="refuse"``); ``result`` holds the measurement."""

    def __init__(self, message: str, result: CalibrationResult):
        super().__init__(message)
        self.result = result


class CalibrationWarning(UserWarning):
    """The gaze failed the check and ``on_fail="warn"`` lets the session go on."""


class CalibrationAborted(RuntimeError):
    """The player pressed Escape or closed the window during the check."""


@dataclass
class CalibrationConfig:
    """How the check runs and what it accepts.

    Args:
        num_targets: 5, 9 or 13 (see the module docstring).
        target_s: how long each target is shown (seconds).
        settle_s: the first part of ``target_s`` whose reads are dropped.
        max_error_deg: the largest accepted overall accuracy in degrees (needs the physical screen); None: any.
        max_error_arena: the largest accepted overall accuracy in arena units; None: any.
        on_fail: ``"refuse"`` (raise :class:`CalibrationError`) or ``"warn"`` (warn and go on).
        min_samples: a target with fewer valid samples fails the check.
        margin: the outer targets' distance from the arena's edges (arena units).
        screen_width_cm, viewing_distance_cm: the monitor's visible width and the eye's distance from it, for
            degrees of visual angle (both or neither).
        screen_width_px: the monitor's width in pixels; None: the first desktop's, as pygame reports it.
    """

    num_targets: int = 9
    target_s: float = 1.5
    settle_s: float = 0.5
    max_error_deg: float | None = None
    max_error_arena: float | None = None
    on_fail: str = "refuse"
    min_samples: int = 3
    margin: float = 0.1
    screen_width_cm: float | None = None
    viewing_distance_cm: float | None = None
    screen_width_px: int | None = None

    def __post_init__(self) -> None:
        if self.num_targets not in TARGET_COUNTS:
            raise ValueError(f"num_targets must be one of {TARGET_COUNTS}, got {self.num_targets!r}")
        if not 0 <= self.settle_s < self.target_s:
            raise ValueError(f"need 0 <= settle_s < target_s, got settle_s={self.settle_s!r}, "
                             f"target_s={self.target_s!r}")
        if self.on_fail not in ON_FAIL:
            raise ValueError(f"on_fail must be one of {ON_FAIL}, got {self.on_fail!r}")
        if self.min_samples < 2:
            raise ValueError(f"min_samples must be >= 2 (precision needs two samples), got {self.min_samples!r}")
        if not 0 < self.margin < 0.5:
            raise ValueError(f"margin must be in (0, 0.5), got {self.margin!r}")
        for name in ("max_error_deg", "max_error_arena", "screen_width_cm", "viewing_distance_cm", "screen_width_px"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0 or None, got {value!r}")
        if (self.screen_width_cm is None) != (self.viewing_distance_cm is None):
            raise ValueError("screen_width_cm and viewing_distance_cm go together: give both or neither")
        if self.max_error_deg is not None and self.screen_width_cm is None:
            raise ValueError("max_error_deg needs screen_width_cm and viewing_distance_cm to measure degrees")


@dataclass(frozen=True)
class ViewingGeometry:
    """The arena's physical size on the monitor and the eye's distance from it: arena distances to degrees.

    ``arena_px``: the arena's side in monitor pixels; ``screen_width_px`` / ``screen_width_cm``: the monitor's
    width in pixels and in centimetres (the pixel pitch); ``viewing_distance_cm``: from the eye to the screen.
    """

    arena_px: float
    screen_width_px: float
    screen_width_cm: float
    viewing_distance_cm: float

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            if not getattr(self, field.name) > 0:
                raise ValueError(f"ViewingGeometry.{field.name} must be > 0, got {getattr(self, field.name)!r}")

    @property
    def arena_cm(self) -> float:
        """The arena's side in centimetres."""
        return self.arena_px * self.screen_width_cm / self.screen_width_px

    def degrees(self, distance: torch.Tensor) -> torch.Tensor:
        """Distances [...] in arena units to degrees [...] of visual angle, seen from straight in front."""
        return torch.rad2deg(torch.atan(distance * self.arena_cm / self.viewing_distance_cm))


@dataclass(frozen=True)
class GazeError:
    """Loss, accuracy and precision of a set of gaze samples (see the module docstring).

    Arena units; NaN where nothing was measurable (accuracy without a valid sample, precision with fewer than
    two). The ``_deg`` values are the same in degrees of visual angle, None without a :class:`ViewingGeometry`.
    """

    lost_fraction: float
    accuracy: float
    offset_of_mean: float
    precision: float
    accuracy_deg: float | None
    offset_of_mean_deg: float | None
    precision_deg: float | None


@dataclass(frozen=True)
class TargetError(GazeError):
    """The :class:`GazeError` of one target: its ``index`` in the order shown, its ``target`` point (arena
    coordinates), how many ``reads`` were kept after settling and how many of them were ``valid``."""

    index: int
    target: tuple[float, float]
    reads: int
    valid: int


def calibration_targets(num_targets: int, margin: float = 0.1) -> torch.Tensor:
    """The targets [num_targets, 2] in arena coordinates (y up): the centre first, then row by row from the top.

    5: the centre and the four corners ``margin`` inside the arena; 9: the 3x3 grid on {margin, 0.5,
    1 - margin}; 13: the grid plus the four points halfway between its centre and its corners.
    """
    if num_targets not in TARGET_COUNTS:
        raise ValueError(f"num_targets must be one of {TARGET_COUNTS}, got {num_targets!r}")
    low, high, inner_low, inner_high = margin, 1.0 - margin, (margin + 0.5) / 2, (1.5 - margin) / 2
    rows = {
        5: [[high, (low, high)], [low, (low, high)]],
        9: [[high, (low, 0.5, high)], [0.5, (low, high)], [low, (low, 0.5, high)]],
        13: [[high, (low, 0.5, high)], [inner_high, (inner_low, inner_high)], [0.5, (low, high)],
             [inner_low, (inner_low, inner_high)], [low, (low, 0.5, high)]],
    }[num_targets]
    points = [(0.5, 0.5)] + [(x, y) for y, xs in rows for x in xs]
    return torch.tensor(points, dtype=torch.float32)


def measure_target(index: int, target: torch.Tensor, samples: torch.Tensor,
                   viewing: ViewingGeometry | None = None) -> TargetError:
    """The error of the kept reads ``samples`` [S, 2] (arena coordinates; a lost read is a row that is not
    finite) around ``target`` [2]."""
    samples, target = samples.to(torch.float64).reshape(-1, 2), target.to(torch.float64)
    valid = samples[samples.isfinite().all(-1)]
    offsets = (valid - target).norm(dim=-1)  # [V]
    steps = (valid[1:] - valid[:-1]).norm(dim=-1)  # [V - 1]
    offset_of_mean = (valid.mean(0) - target).norm()  # NaN without a valid sample

    def mean(values: torch.Tensor) -> float:  # NaN when empty
        return values.mean().item()

    def rms(values: torch.Tensor) -> float:
        return values.square().mean().sqrt().item()

    def degrees(statistic: Callable[[torch.Tensor], float], distances: torch.Tensor) -> float | None:
        return None if viewing is None else statistic(viewing.degrees(distances))

    reads = len(samples)
    return TargetError(
        lost_fraction=(reads - len(valid)) / reads if reads else math.nan,
        accuracy=mean(offsets), offset_of_mean=offset_of_mean.item(), precision=rms(steps),
        accuracy_deg=degrees(mean, offsets), offset_of_mean_deg=degrees(mean, offset_of_mean),
        precision_deg=degrees(rms, steps),
        index=index, target=(target[0].item(), target[1].item()), reads=reads, valid=len(valid),
    )


def overall_error(rows: Sequence[TargetError]) -> GazeError:
    """The mean of every value over the targets that have it (NaN when none has); the lost fraction pooled
    over all reads."""

    def mean_over_targets(name: str) -> float | None:
        values = [getattr(row, name) for row in rows]
        if any(value is None for value in values):
            return None
        return torch.tensor(values, dtype=torch.float64).nanmean().item()

    reads = sum(row.reads for row in rows)
    lost = sum(row.reads - row.valid for row in rows)
    means = {field.name: mean_over_targets(field.name) for field in dataclasses.fields(GazeError)
             if field.name != "lost_fraction"}
    return GazeError(lost_fraction=lost / reads if reads else math.nan, **means)


def target_name(row: TargetError, num_targets: int) -> str:
    """``"target 2 of 9 at (0.10, 0.90)"``: counted from 1, as the window's caption counts."""
    return f"target {row.index + 1} of {num_targets} at ({row.target[0]:.2f}, {row.target[1]:.2f})"


def fmt_distance(arena: float, degrees: float | None) -> str:
    """``"0.021 arena"`` or, with degrees, ``"0.021 arena (0.84 deg)"``."""
    return f"{arena:.3f} arena" if degrees is None else f"{arena:.3f} arena ({degrees:.2f} deg)"


@dataclass(frozen=True)
class CalibrationResult:
    """A calibration check: the error at every target (``targets``), over all of them (``overall``), and the
    reasons it failed (``failures``, empty when it passed) under ``config``'s thresholds."""

    config: CalibrationConfig
    viewing: ViewingGeometry | None
    targets: list[TargetError]
    overall: GazeError
    failures: list[str]

    @property
    def passed(self) -> bool:
        return not self.failures

    def worst_target(self) -> TargetError | None:
        """The target with the largest accuracy error (None when no target has a valid sample)."""
        measured = [row for row in self.targets if not math.isnan(row.accuracy)]
        return max(measured, key=lambda row: row.accuracy) if measured else None

    def to_metadata(self) -> dict:
        """Everything as plain JSON values (NaN as None), for a recording's ``metadata["calibration"]``."""

        def plain(value):
            if isinstance(value, float) and math.isnan(value):
                return None
            if isinstance(value, dict):
                return {key: plain(item) for key, item in value.items()}
            if isinstance(value, (list, tuple)):
                return [plain(item) for item in value]
            return value

        return plain({
            "config": dataclasses.asdict(self.config),
            "viewing": None if self.viewing is None else {**dataclasses.asdict(self.viewing),
                                                         "arena_cm": self.viewing.arena_cm},
            "targets": [dataclasses.asdict(row) for row in self.targets],
            "overall": dataclasses.asdict(self.overall),
            "passed": self.passed,
            "failures": self.failures,
        })

    def summary(self) -> str:
        """One paragraph for the console: the overall error, the worst target, and the verdict."""
        overall = self.overall
        text = (f"Calibration on {len(self.targets)} targets: "
                f"accuracy {fmt_distance(overall.accuracy, overall.accuracy_deg)}, "
                f"offset of the mean {fmt_distance(overall.offset_of_mean, overall.offset_of_mean_deg)}, "
                f"precision (RMS sample-to-sample) {fmt_distance(overall.precision, overall.precision_deg)}, "
                f"{100 * overall.lost_fraction:.1f}% of reads lost.")
        worst = self.worst_target()
        if worst is not None:
            text += (f" Worst: {target_name(worst, len(self.targets))}, accuracy "
                     f"{fmt_distance(worst.accuracy, worst.accuracy_deg)}.")
        return text + (" Passed." if self.passed else f" Failed: {'; '.join(self.failures)}.")

    def check(self) -> None:
        """Raises :class:`CalibrationError` (``on_fail="refuse"``) or warns with :class:`CalibrationWarning`
        (``"warn"``) when the check failed; nothing when it passed."""
        if self.passed:
            return
        message = f"calibration failed: {'; '.join(self.failures)}"
        if self.config.on_fail == "refuse":
            raise CalibrationError(message, self)
        warnings.warn(message, CalibrationWarning, stacklevel=2)


def calibration_failures(rows: Sequence[TargetError], overall: GazeError, config: CalibrationConfig) -> list[str]:
    """Why the measurement fails ``config``: targets with too few valid samples, an accuracy over a limit."""
    failures = [f"{target_name(row, len(rows))} has {row.valid} valid samples of {row.reads} reads, needs at least "
                f"{config.min_samples}" for row in rows if row.valid < config.min_samples]
    limits = [(overall.accuracy_deg, config.max_error_deg, "deg", "max_error_deg"),
              (overall.accuracy, config.max_error_arena, "arena units", "max_error_arena")]
    for measured, limit, unit, name in limits:
        if limit is not None and measured is not None and measured > limit:
            failures.append(f"accuracy {measured:.3f} {unit} exceeds {name} = {limit:g}")
    return failures


def calibration_statistics(targets: torch.Tensor, samples: Sequence[torch.Tensor], config: CalibrationConfig,
                           viewing: ViewingGeometry | None = None) -> CalibrationResult:
    """The check's result from ``targets`` [N, 2] and each target's kept reads ``samples[i]`` [S_i, 2]
    (arena coordinates; lost reads as rows that are not finite), judged by ``config``."""
    if len(samples) != len(targets):
        raise ValueError(f"{len(targets)} targets but samples for {len(samples)}")
    rows = [measure_target(index, target, points, viewing)
            for index, (target, points) in enumerate(zip(targets, samples))]
    overall = overall_error(rows)
    return CalibrationResult(config, viewing, rows, overall, calibration_failures(rows, overall, config))


def viewing_geometry(window: PlayWindow, config: CalibrationConfig) -> ViewingGeometry | None:
    """The physical geometry of ``window``'s arena under ``config`` (None when the config gives none)."""
    if config.screen_width_cm is None:
        return None
    width_px = config.screen_width_px
    if width_px is None:
        width_px = window.pygame.display.get_desktop_sizes()[0][0]
    return ViewingGeometry(window.geometry.arena_size, width_px, config.screen_width_cm, config.viewing_distance_cm)


def draw_target(window: PlayWindow, target: torch.Tensor, caption: str) -> None:
    """One frame: the empty arena with a ring and a dot at ``target`` [2] (arena coordinates), ``caption`` on top."""
    pygame, surface, geometry = window.pygame, window.surface, window.geometry
    surface.fill((0, 0, 0))
    arena = (geometry.arena_left, geometry.arena_top, geometry.arena_size, geometry.arena_size)
    pygame.draw.rect(surface, BACKGROUND, arena)
    centre = [round(pixel) for pixel in geometry.arena_to_pixels(target).tolist()]
    ring = max(5.0, RING_RADIUS * geometry.arena_size)
    pygame.draw.circle(surface, RING_COLOUR, centre, ring, width=max(1, round(ring / 4)))
    pygame.draw.circle(surface, DOT_COLOUR, centre, max(1.5, ring / 5))
    surface.blit(window.font.render(caption, True, TEXT_COLOUR), (8, 8))
    pygame.display.flip()


def run_calibration(window: PlayWindow, source: LiveGaze, pacer: RealTimePacer | SimulatedPacer,
                    config: CalibrationConfig | None = None,
                    on_target: Callable[[int, torch.Tensor], None] | None = None) -> CalibrationResult:
    """Shows the targets in ``window``, reads ``source`` on every frame and returns the checked result.

    The source must already map into this window's arena (``source.geometry`` set, as a play session does). It
    is read once before the first target, so a source that connects on first use (LSL) does so before the clock
    starts. Each target is shown for ``config.target_s`` from its first frame, whatever earlier frames took.

    Args:
        window, source, pacer: the play window, the person's gaze, the clock (real or simulated).
        config: targets, timing, thresholds and physical screen (defaults: 9 targets, no thresholds).
        on_target: called with (index, target [2]) as each target appears, before its first read.

    Raises:
        CalibrationAborted: Escape or the window closed.
        CalibrationError: the check failed and ``config.on_fail == "refuse"`` (the error holds the result);
            with ``"warn"`` a :class:`CalibrationWarning` is issued and the result returned.
    """
    from bikkle_rl.human.play import KeyboardControls  # here: the play loop imports this module

    config = CalibrationConfig() if config is None else config
    if source.geometry is None:
        raise ValueError(f"{type(source).__name__} has no WindowGeometry: set source.geometry to the window's "
                         "arena (or the monitor's, for a screen-frame tracker) before calibrating")
    targets = calibration_targets(config.num_targets, config.margin)
    controls = KeyboardControls()
    source.read_point()
    samples = []
    for index, target in enumerate(targets):
        if on_target is not None:
            on_target(index, target.clone())
        caption = f"calibration {index + 1}/{len(targets)}: look at the red dot"
        shown_at, reads = pacer.now(), []
        while (elapsed := pacer.now() - shown_at) < config.target_s:
            controls.poll()
            if controls.quit_requested:
                raise CalibrationAborted(f"calibration aborted by the player at target {index + 1} of {len(targets)}")
            draw_target(window, target, caption)
            point = source.read_point()
            if elapsed >= config.settle_s:
                reads.append(torch.full((2,), math.nan) if point is None else point.float())
            pacer.wait_frame()
        samples.append(torch.stack(reads) if reads else torch.empty(0, 2))
    result = calibration_statistics(targets, samples, config, viewing_geometry(window, config))
    result.check()
    return result
