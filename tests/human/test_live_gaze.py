"""Live gaze: the screen-to-arena geometry, the mouse source and an LSL stream over loopback."""

from __future__ import annotations

import time
import uuid

import pytest
import torch
from tensordict import TensorDict

from bikkle_rl.gaze.lsl import LSLGaze, stream_predicate
from bikkle_rl.gaze.mouse import MouseGaze
from bikkle_rl.gaze.screen import WindowGeometry

# A 1000 x 800 monitor with a 400 px arena whose top-left corner is at (300, 250).
MONITOR = WindowGeometry(1000, 800, arena_left=300, arena_top=250, arena_size=400)


def observation(num: int) -> TensorDict:
    return TensorDict(agent_pos=torch.zeros(num, 2), batch_size=[num])


def test_geometry_maps_corners_and_round_trips():
    corners = torch.tensor([[300.0, 250.0], [700.0, 650.0], [500.0, 450.0]])  # top-left, bottom-right, centre
    arena = MONITOR.pixels_to_arena(corners)
    torch.testing.assert_close(arena, torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]]))
    torch.testing.assert_close(MONITOR.arena_to_pixels(arena), corners)
    normalized = MONITOR.arena_to_normalized(arena)
    torch.testing.assert_close(normalized, corners / torch.tensor([1000.0, 800.0]))
    torch.testing.assert_close(MONITOR.normalized_to_arena(normalized), arena)


def test_geometry_offset_places_a_window_on_the_monitor():
    window = WindowGeometry.centred(400, 400)
    on_monitor = window.offset(300, 250, 1000, 800)
    assert on_monitor == MONITOR
    with pytest.raises(ValueError, match="arena_size must be > 0"):
        WindowGeometry(100, 100, 0, 0, 0)


def test_mouse_gaze_maps_the_pointer_and_is_lost_outside_the_arena():
    pointer = [(350.0, 350.0)]
    source = MouseGaze(MONITOR, pointer=lambda: pointer[0])
    gaze, valid = source.sample(observation(3), None, None)
    assert gaze.shape == (3, 2) and valid.shape == (3, 1) and valid.all()
    torch.testing.assert_close(gaze, torch.tensor([[0.125, 0.75]]).expand(3, 2))
    for outside in ((100.0, 300.0), None):  # beside the arena; pointer not over the window
        pointer[0] = outside
        gaze, valid = source.sample(observation(3), None, None)
        assert not valid.any() and (gaze == 0).all()


def test_mouse_gaze_reads_pygame_under_a_dummy_display(monkeypatch):
    pygame = pytest.importorskip("pygame")
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    pygame.display.init()
    try:
        surface = pygame.display.set_mode((200, 200))
        source = MouseGaze(WindowGeometry.centred(*surface.get_size()))
        _, valid = source.sample(observation(1), None, None)
        assert not valid.any()  # the dummy display never has the pointer
    finally:
        pygame.display.quit()
    with pytest.raises(RuntimeError, match="no WindowGeometry"):
        MouseGaze(pointer=lambda: (1.0, 1.0)).sample(observation(1), None, None)


@pytest.fixture
def outlet():
    """An LSL outlet on loopback with a unique source id: (outlet, source_id)."""
    pylsl = pytest.importorskip("pylsl")
    source_id = f"bikkle-test-{uuid.uuid4().hex}"
    info = pylsl.StreamInfo("bikkle_test_gaze", "Gaze", 2, 0, "float32", source_id)
    stream = pylsl.StreamOutlet(info)
    yield pylsl, stream, source_id
    del stream


def wait_for_gaze(source: LSLGaze, td: TensorDict, timeout_s: float = 5.0):
    """Samples until a valid gaze arrives (the network needs a moment); fails after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        gaze, valid = source.sample(td, None, None)
        if valid.all():
            return gaze
        time.sleep(0.01)
    raise AssertionError("no valid LSL gaze arrived")


@pytest.mark.parametrize(("coordinates", "flip_y", "sent", "expected"), [
    ("normalized", False, (0.5, 0.5625), (0.5, 0.5)),  # normalised centre of the arena
    ("normalized", True, (0.3, 0.6875), (0.0, 1.0)),  # y up: the arena's top-left corner
    ("pixels", False, (700.0, 650.0), (1.0, 0.0)),  # the arena's bottom-right corner
])
def test_lsl_gaze_arrives_mapped_to_the_arena(outlet, coordinates, flip_y, sent, expected):
    pylsl, stream, source_id = outlet
    source = LSLGaze(source_id=source_id, stream_type=None, coordinates=coordinates, flip_y=flip_y,
                     geometry=MONITOR, max_age_s=2.0)
    try:
        td = observation(2)
        source.connect()
        stream.push_sample([0.9, 0.9] if coordinates == "normalized" else [0.0, 0.0], pylsl.local_clock())
        stream.push_sample(list(sent), pylsl.local_clock())  # only the newest sample counts
        gaze = wait_for_gaze(source, td)
        torch.testing.assert_close(gaze, torch.tensor([expected]).expand(2, 2))
        report = source.latency_report()
        assert report["reads"] >= 1 and 0 <= report["p50_s"] <= report["max_s"] < 2.0
        assert 0 <= source.latency_s < 2.0
    finally:
        source.close()


def test_lsl_gaze_is_lost_when_samples_are_too_old_or_outside(outlet):
    pylsl, stream, source_id = outlet
    source = LSLGaze(source_id=source_id, geometry=MONITOR, max_age_s=1.0)
    try:
        source.connect()
        stream.push_sample([0.5, 0.5], pylsl.local_clock())
        wait_for_gaze(source, observation(1))
        stream.push_sample([0.5, 0.5], pylsl.local_clock() - 10.0)  # sent ten seconds ago
        time.sleep(0.05)
        deadline = time.monotonic() + 5.0
        while source.latency_s < 5.0 and time.monotonic() < deadline:
            _, valid = source.sample(observation(1), None, None)
        assert source.latency_s > 5.0 and not valid.any()
        stream.push_sample([0.01, 0.01], pylsl.local_clock())  # on the monitor, beside the arena
        time.sleep(0.05)
        deadline = time.monotonic() + 5.0
        while source.latency_s > 1.0 and time.monotonic() < deadline:
            _, valid = source.sample(observation(1), None, None)
        assert source.latency_s < 1.0 and not valid.any()
        assert source.latency_report()["lost"] >= 1
    finally:
        source.close()


def test_lsl_gaze_configuration_errors():
    with pytest.raises(ValueError, match="coordinates must be one of"):
        LSLGaze(coordinates="degrees")
    with pytest.raises(ValueError, match="at least one of name"):
        stream_predicate(None, None, None)
    assert stream_predicate("eyes", "Gaze", None) == "name='eyes' and type='Gaze'"
    source = LSLGaze(source_id=f"absent-{uuid.uuid4().hex}", geometry=MONITOR, resolve_timeout_s=0.2)
    with pytest.raises(RuntimeError, match="no LSL stream matching"):
        source.connect()
