"""Batched rendering: shapes, colours at hand-placed objects, the human view's overlays, video files."""

from __future__ import annotations

import imageio.v2 as imageio
import pytest
import torch

from bikkle_rl.envs import BikkleEnv, render
from bikkle_rl.envs.render import render_frames
from bikkle_rl.envs.video import LEGEND, LEGEND_ROW_PX, legend_strip, save_video, with_legend

SIZE = 64
AGENT = (0.1, 0.1)
PELLETS = [(0.25, 0.75), (0.75, 0.75), (0.75, 0.25)]  # pink (high value), pink, blue


def pixel(frames: torch.Tensor, x: float, y: float) -> tuple[int, ...]:
    """The colour of every frame at arena point (x, y): row 0 is the top of the arena (y = 1)."""
    size = frames.shape[1]
    return tuple(frames[:, int((1 - y) * size), int(x * size)].unique(dim=0).flatten().tolist())


@pytest.fixture
def env(place) -> BikkleEnv:
    env = BikkleEnv(num_envs=2, seed=0, num_pink=2, num_blue=1)
    place(env, AGENT, PELLETS, high_value=0, round_step=50)
    return env


@pytest.mark.parametrize("mode", ["agent", "human"])
@pytest.mark.parametrize("size", [32, 128])
def test_frames_are_uint8_rgb_per_arena(mode, size):
    env = BikkleEnv(num_envs=3, seed=1, num_pink=[1, 3], num_blue=[0, 2])
    frames = render_frames(env.config, env.get_state(), mode=mode, size=size)
    assert frames.shape == (3, size, size, 3)
    assert frames.dtype == torch.uint8
    assert frames.is_contiguous()


def test_agent_view_colours_and_orientation(env):
    frames = render_frames(env.config, env.get_state(), mode="agent", size=SIZE)
    assert pixel(frames, *AGENT) == render.AGENT_COLOUR
    assert pixel(frames, *PELLETS[0]) == render.PINK_COLOUR  # the high-value pink looks like any pink
    assert pixel(frames, *PELLETS[1]) == render.PINK_COLOUR
    assert pixel(frames, *PELLETS[2]) == render.BLUE_COLOUR
    assert pixel(frames, 0.5, 0.5) == render.BACKGROUND
    assert pixel(frames, 0.25, 0.25) == render.BACKGROUND  # y is not flipped: nothing at (0.25, 0.25)


def test_human_view_shows_high_value_green(env):
    frames = render_frames(env.config, env.get_state(), mode="human", size=SIZE)
    assert pixel(frames, *PELLETS[0]) == render.HIGH_VALUE_COLOUR
    assert pixel(frames, *PELLETS[1]) == render.PINK_COLOUR
    assert pixel(frames, *PELLETS[2]) == render.BLUE_COLOUR
    assert pixel(frames, *AGENT) == render.AGENT_COLOUR


def test_absent_pellet_is_not_drawn(place):
    env = BikkleEnv(num_envs=1, seed=0, num_pink=2, num_blue=1)
    place(env, AGENT, PELLETS, mask=[True, True, False])
    frames = render_frames(env.config, env.get_state(), size=SIZE)
    assert pixel(frames, *PELLETS[2]) == render.BACKGROUND


def test_shapes_at_the_edge_do_not_wrap_to_the_next_row(place):
    env = BikkleEnv(num_envs=1, seed=0, num_pink=1, num_blue=0)
    place(env, (0.5, 0.5), [(0.999, 0.5)])
    frames = render_frames(env.config, env.get_state(), size=SIZE)
    assert pixel(frames, 0.995, 0.5) == render.PINK_COLOUR
    assert pixel(frames, 0.001, 0.5) == render.BACKGROUND
    assert pixel(frames, 0.001, 0.5 - 1 / SIZE) == render.BACKGROUND


def test_batch_renders_each_arena_as_alone():
    env = BikkleEnv(num_envs=4, seed=2, num_pink=3, num_blue=[0, 3])
    state = env.get_state()
    gaze, valid = torch.rand(4, 2), torch.tensor([True, False, True, False])
    batched = render_frames(env.config, state, mode="human", size=SIZE, gaze=gaze, gaze_valid=valid)
    for i in range(4):
        alone = render_frames(
            env.config, state[i : i + 1], mode="human", size=SIZE, gaze=gaze[i : i + 1], gaze_valid=valid[i : i + 1]
        )
        assert torch.equal(batched[i], alone[0])


def test_gaze_cross_only_where_valid(env):
    gaze = torch.tensor([[0.5, 0.5], [0.5, 0.5]])
    valid = torch.tensor([[True], [False]])
    frames = render_frames(env.config, env.get_state(), mode="human", size=SIZE, gaze=gaze, gaze_valid=valid)
    for x, y in [(0.5, 0.5), (0.5 + 0.8 * render.GAZE_ARM, 0.5), (0.5, 0.5 - 0.8 * render.GAZE_ARM)]:
        assert pixel(frames[:1], x, y) == render.GAZE_COLOUR
        assert pixel(frames[1:], x, y) == render.BACKGROUND
    assert pixel(frames[:1], 0.5 + 0.03, 0.5 + 0.03) == render.BACKGROUND  # a cross, not a square
    # the invalid arena gets a red border, the valid one does not
    assert tuple(frames[1, 0, 0].tolist()) == render.GAZE_INVALID_COLOUR
    assert tuple(frames[1, SIZE // 2, -1].tolist()) == render.GAZE_INVALID_COLOUR
    assert tuple(frames[0, 0, 0].tolist()) == render.BACKGROUND


def test_no_gaze_no_overlay(env):
    frames = render_frames(env.config, env.get_state(), mode="human", size=SIZE)
    assert not (frames == torch.tensor(render.GAZE_COLOUR, dtype=torch.uint8)).all(-1).any()
    assert not (frames == torch.tensor(render.GAZE_INVALID_COLOUR, dtype=torch.uint8)).all(-1).any()


def test_round_progress_bar_fills_with_the_round(env):
    frames = render_frames(env.config, env.get_state(), mode="human", size=SIZE)  # round_step 50 of 100
    edge = max(1, SIZE // 40)
    bar_y = 1.5 * edge / SIZE  # the bar lies just above the bottom border, both ``edge`` pixels high
    assert pixel(frames, 0.3, bar_y) == render.PROGRESS_COLOUR
    assert pixel(frames, 0.7, bar_y) == render.BACKGROUND
    agent_view = render_frames(env.config, env.get_state(), mode="agent", size=SIZE)
    assert pixel(agent_view, 0.3, bar_y) == render.BACKGROUND


def test_bad_arguments_raise(env):
    state = env.get_state()
    with pytest.raises(ValueError, match="mode"):
        render_frames(env.config, state, mode="top-down")
    with pytest.raises(ValueError, match="human"):
        render_frames(env.config, state, mode="agent", gaze=torch.zeros(2, 2))
    with pytest.raises(ValueError, match="size"):
        render_frames(env.config, state, size=0)


def colours_in(image: torch.Tensor) -> set[tuple[int, ...]]:
    """The distinct RGB colours of an image [..., 3]."""
    return {tuple(rgb) for rgb in image.reshape(-1, 3).unique(dim=0).tolist()}


def test_legend_strip_below_unchanged_arenas(env):
    gaze, valid = torch.tensor([[0.5, 0.5], [0.5, 0.5]]), torch.tensor([True, False])
    frames = render_frames(env.config, env.get_state(), mode="human", size=128, gaze=gaze, gaze_valid=valid)
    side_by_side = torch.cat(list(frames), dim=1)[None]  # as record_video lays out the arenas: [1, 128, 256, 3]
    shown = with_legend(side_by_side)
    legend = legend_strip(256)
    assert shown.shape == (1, 128 + legend.shape[0], 256, 3) and shown.dtype == torch.uint8
    assert legend.shape[0] % 16 == 0  # MP4 frames of 16-multiple arenas stay unscaled
    assert torch.equal(shown[:, :128], side_by_side)  # the arenas' pixels are untouched
    assert torch.equal(shown[0, 128:], legend)
    glyphs = {rgb for _, rgb, _ in LEGEND}
    assert {render.PINK_COLOUR, render.BLUE_COLOUR, render.HIGH_VALUE_COLOUR, render.AGENT_COLOUR,
            render.GAZE_COLOUR, render.GAZE_INVALID_COLOUR, render.PROGRESS_COLOUR} <= glyphs
    assert glyphs <= colours_in(legend)  # every glyph is drawn in its arena colour
    labels = " ".join(label for _, _, label in LEGEND)
    assert "high-value" in labels and "gaze lost" in labels and "red border" in labels


def test_legend_wraps_into_more_rows_when_narrow():
    wide, narrow = legend_strip(512), legend_strip(64)
    assert wide.shape[1:] == (512, 3) and wide.shape[0] <= 2 * LEGEND_ROW_PX  # record_video's 4 arenas of 128 px
    assert narrow.shape[1] == 64 and narrow.shape[0] > wide.shape[0] and narrow.shape[0] % LEGEND_ROW_PX == 0
    frames = torch.zeros(3, 8, 64, 3, dtype=torch.uint8)
    assert torch.equal(with_legend(frames)[2, 8:], narrow)


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_save_video_round_trip(tmp_path, suffix):
    frames = torch.randint(0, 256, (5, 32, 32, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    path = save_video(frames, tmp_path / f"clip{suffix}", fps=10)
    read_back = imageio.mimread(path)
    assert len(read_back) == 5
    assert read_back[0].shape[:2] == (32, 32)


def test_save_video_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="suffix|writes"):
        save_video(torch.zeros(2, 16, 16, 3, dtype=torch.uint8), tmp_path / "clip.avi")
    with pytest.raises(ValueError, match="uint8"):
        save_video(torch.zeros(2, 16, 16, 3), tmp_path / "clip.gif")
