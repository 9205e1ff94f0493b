"""The calibration check: its statistics on hand-placed samples, and a headless run against a scripted gaze."""

from __future__ import annotations

import json
import math

import pytest
import torch

from bikkle_rl.gaze.screen import LiveGaze
from bikkle_rl.human.calibration import (
    DOT_COLOUR,
    CalibrationAborted,
    CalibrationConfig,
    CalibrationError,
    CalibrationWarning,
    ViewingGeometry,
    calibration_statistics,
    calibration_targets,
    measure_target,
    run_calibration,
)
from bikkle_rl.human.play import PlayConfig, PlayWindow, SimulatedPacer

pygame = pytest.importorskip("pygame")

ARENA_PX, HUD_PX = 64, 16
FRAME_RATE = 64.0  # frame times k / 64 are exact in binary, so the frame counts below are exact
TIMING = {"target_s": 0.5, "settle_s": 0.125}  # 32 frames a target: 8 settling, 24 kept
SETTLE_READS, KEPT_READS = 8, 24
SCREEN = {"screen_width_cm": 53.0, "viewing_distance_cm": 60.0, "screen_width_px": 1920}
SCREEN_AS_640_PX = {**SCREEN, "screen_width_px": 192}
"""The test window's 64 px arena is 17.7 cm wide on this screen, as a 640 px arena on the 1920 px one."""
NAN = math.nan


def degrees(arena_distance: float, arena_px: float) -> float:
    """The visual angle of ``arena_distance`` on a 53 cm, 1920 px wide screen seen from 60 cm."""
    return math.degrees(math.atan(arena_distance * arena_px * 53.0 / 1920 / 60.0))


@pytest.fixture(autouse=True)
def headless(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")


@pytest.fixture
def window():
    window = PlayWindow(PlayConfig(arena_px=ARENA_PX, hud_px=HUD_PX))
    yield window
    window.close()


class TargetFollower(LiveGaze):
    """Looks at the shown target plus ``offset``: ``show`` is the ``on_target`` hook.

    For the first ``settle_reads`` reads of a target it looks at ``settle_point`` (None: lost); after them, every
    ``lose_every``-th read is lost, starting with the first.
    """

    def __init__(self, window: PlayWindow, offset: tuple[float, float], settle_reads: int = 0,
                 settle_point: tuple[float, float] | None = None, lose_every: int | None = None):
        super().__init__(window.geometry)
        self.offset = torch.tensor(offset)
        self.settle_reads, self.lose_every = settle_reads, lose_every
        self.settle_point = None if settle_point is None else torch.tensor(settle_point)
        self.target: torch.Tensor | None = None
        self.reads = 0

    def show(self, index: int, target: torch.Tensor) -> None:
        self.target, self.reads = target, 0

    def read_point(self) -> torch.Tensor | None:
        if self.target is None:  # the read before the first target
            return None
        read, self.reads = self.reads, self.reads + 1
        if read < self.settle_reads:
            return self.settle_point
        if self.lose_every is not None and (read - self.settle_reads) % self.lose_every == 0:
            return None
        return self.target + self.offset


def calibrate(window: PlayWindow, source: TargetFollower, pacer: SimulatedPacer | None = None, **config):
    config = CalibrationConfig(**{"num_targets": 5, **TIMING, **config})
    pacer = SimulatedPacer(FRAME_RATE) if pacer is None else pacer
    return run_calibration(window, source, pacer, config, on_target=source.show)


@pytest.mark.parametrize("num_targets", [5, 9, 13])
def test_targets_are_the_layout_inside_the_margin_and_start_at_the_centre(num_targets):
    targets = calibration_targets(num_targets, margin=0.1)
    assert targets.shape == (num_targets, 2) and targets[0].tolist() == [0.5, 0.5]
    assert targets[1].tolist() == pytest.approx([0.1, 0.9])  # then row by row from the top (y up)
    corners = {(0.1, 0.1), (0.1, 0.9), (0.9, 0.1), (0.9, 0.9)}
    grid = {(x, y) for x in (0.1, 0.5, 0.9) for y in (0.1, 0.5, 0.9)}
    expected = {5: corners | {(0.5, 0.5)}, 9: grid, 13: grid | {(0.3, 0.3), (0.3, 0.7), (0.7, 0.3), (0.7, 0.7)}}
    assert {(round(x, 6), round(y, 6)) for x, y in targets.tolist()} == expected[num_targets]


def test_statistics_on_hand_placed_samples():
    viewing = ViewingGeometry(arena_px=640, screen_width_px=1920, screen_width_cm=53.0, viewing_distance_cm=60.0)
    assert viewing.arena_cm == pytest.approx(640 * 53 / 1920)
    # three samples 0.05 from the target (3-4-5 offsets), one lost read in between
    samples = torch.tensor([[0.53, 0.54], [NAN, NAN], [0.47, 0.46], [0.53, 0.46]], dtype=torch.float64)
    row = measure_target(0, torch.tensor([0.5, 0.5], dtype=torch.float64), samples, viewing)

    assert (row.reads, row.valid, row.lost_fraction) == (4, 3, 0.25)
    assert row.accuracy == pytest.approx(0.05)
    assert row.offset_of_mean == pytest.approx(0.05 / 3)  # the offsets sum to (0.03, -0.04)
    assert row.precision == pytest.approx(math.sqrt((0.1 ** 2 + 0.06 ** 2) / 2))  # steps 0.1 and 0.06
    assert row.accuracy_deg == pytest.approx(degrees(0.05, 640)) and row.accuracy_deg == pytest.approx(0.8435, abs=1e-4)
    assert row.offset_of_mean_deg == pytest.approx(degrees(0.05 / 3, 640))
    assert row.precision_deg == pytest.approx(math.sqrt((degrees(0.1, 640) ** 2 + degrees(0.06, 640) ** 2) / 2))

    no_physical = measure_target(0, torch.tensor([0.5, 0.5], dtype=torch.float64), samples)
    assert no_physical.accuracy == row.accuracy
    assert no_physical.accuracy_deg is None and no_physical.precision_deg is None


def test_overall_values_average_the_targets_and_pool_the_lost_reads():
    targets = torch.tensor([[0.5, 0.5], [0.1, 0.9], [0.9, 0.1]])
    samples = [torch.tensor([[0.52, 0.5], [0.5, 0.52], [0.48, 0.5]]),  # all 0.02 away
               torch.tensor([[0.1, 0.86], [NAN, NAN], [0.1, 0.86], [0.1, 0.86]]),  # 0.04 away, still
               torch.full((5, 2), NAN)]  # lost throughout
    result = calibration_statistics(targets, samples, CalibrationConfig(num_targets=5, on_fail="warn"))

    assert result.overall.accuracy == pytest.approx(0.03) and result.overall.lost_fraction == pytest.approx(6 / 12)
    assert result.overall.precision == pytest.approx((0.02 * math.sqrt(2) + 0.0) / 2)  # diagonal steps, then none
    assert math.isnan(result.targets[2].accuracy) and result.overall.accuracy_deg is None
    assert result.worst_target().index == 1
    assert result.failures == ["target 3 of 3 at (0.90, 0.10) has 0 valid samples of 5 reads, needs at least 3"]
    metadata = json.loads(json.dumps(result.to_metadata(), allow_nan=False))  # strict JSON: NaN is None
    assert metadata["targets"][2]["accuracy"] is None and metadata["passed"] is False
    assert metadata["overall"]["accuracy"] == pytest.approx(0.03) and metadata["viewing"] is None
    assert "Worst: target 2 of 3 at (0.10, 0.90)" in result.summary() and "50.0% of reads lost" in result.summary()


def test_a_headless_run_measures_the_offset_and_the_lost_reads(window):
    offset = (0.03, -0.04)
    source = TargetFollower(window, offset, lose_every=4)  # 6 of the 24 kept reads lost
    pacer = SimulatedPacer(FRAME_RATE)
    result = calibrate(window, source, pacer, max_error_arena=0.06, **SCREEN)

    assert pacer.frame == 5 * (SETTLE_READS + KEPT_READS)
    assert [row.reads for row in result.targets] == [KEPT_READS] * 5
    assert [row.valid for row in result.targets] == [18] * 5 and result.overall.lost_fraction == pytest.approx(0.25)
    torch.testing.assert_close(torch.tensor([row.target for row in result.targets]), calibration_targets(5))
    assert result.overall.accuracy == pytest.approx(0.05, abs=1e-6)
    assert result.overall.offset_of_mean == pytest.approx(0.05, abs=1e-6)
    assert result.overall.precision == pytest.approx(0.0, abs=1e-6)
    assert result.overall.accuracy_deg == pytest.approx(degrees(0.05, ARENA_PX), abs=1e-5) and result.passed
    assert result.viewing.arena_px == ARENA_PX and "Passed." in result.summary()
    last = window.geometry.arena_to_pixels(calibration_targets(5)[-1])  # the last frame shows the last target
    assert tuple(window.surface.get_at([round(v) for v in last.tolist()]))[:3] == DOT_COLOUR


@pytest.mark.parametrize("settle_point", [None, (0.05, 0.95)])
def test_the_settling_reads_do_not_count(window, settle_point):
    steady = calibrate(window, TargetFollower(window, (0.02, 0.0))).to_metadata()
    wandering = TargetFollower(window, (0.02, 0.0), settle_reads=SETTLE_READS, settle_point=settle_point)
    assert calibrate(window, wandering).to_metadata() == steady


def test_a_large_error_refuses_or_warns(window):
    source = TargetFollower(window, (0.0, 0.05))
    with pytest.raises(CalibrationError, match=r"accuracy 0\.84\d deg exceeds max_error_deg = 0\.5") as error:
        calibrate(window, source, max_error_deg=0.5, **SCREEN_AS_640_PX)
    assert error.value.result.overall.accuracy == pytest.approx(0.05, abs=1e-6)

    with pytest.warns(CalibrationWarning, match=r"accuracy 0\.050 arena units exceeds max_error_arena = 0\.04"):
        result = calibrate(window, source, max_error_arena=0.04, on_fail="warn")
    assert not result.passed and result.to_metadata()["passed"] is False


def test_a_target_without_enough_samples_fails_by_name(window):
    source = TargetFollower(window, (0.0, 0.0), lose_every=1)  # every kept read lost
    with pytest.raises(CalibrationError, match=r"target 1 of 5 at \(0\.50, 0\.50\) has 0 valid samples of 24 reads"):
        calibrate(window, source)


def test_escape_aborts(window):
    def press_escape_at_frame_40(frame: int) -> None:
        if frame == 40:  # target 1 is shown on frames 32 to 63
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_ESCAPE))

    pacer = SimulatedPacer(FRAME_RATE, press_escape_at_frame_40)
    with pytest.raises(CalibrationAborted, match="target 2 of 5"):
        calibrate(window, TargetFollower(window, (0.0, 0.0)), pacer)


def test_config_errors_are_clear():
    with pytest.raises(ValueError, match="num_targets must be one of"):
        CalibrationConfig(num_targets=7)
    with pytest.raises(ValueError, match="settle_s < target_s"):
        CalibrationConfig(target_s=0.5, settle_s=0.5)
    with pytest.raises(ValueError, match="max_error_deg needs screen_width_cm"):
        CalibrationConfig(max_error_deg=1.0)
    with pytest.raises(ValueError, match="give both or neither"):
        CalibrationConfig(screen_width_cm=53.0)
    with pytest.raises(ValueError, match="on_fail must be one of"):
        CalibrationConfig(on_fail="ignore")
