"""Play the arena: a pygame window with the human view, driven by the keyboard or by a policy fed live gaze.

The loop draws frames at ``frame_rate_hz`` and steps the env on its own fixed clock, ``step_rate_hz``: a step
is taken on the first frame at or after its due time, so the step rate does not depend on the screen's
refresh (a late step delays the next due time instead of bursting). Every episode starts with a countdown
during which the arena is shown but nothing moves; the window shows the score (the episode's return), the
episode and step, the gaze cross, and a red border with "GAZE LOST" while the gaze is invalid.

The env is a batch-1 ``TransformedEnv`` holding a :class:`~bikkle_rl.envs.transforms.GazeInjection`: the gaze
of a step is read when its observation is produced (for the first step of an episode, when the countdown
starts), as in training. Every step is recorded (:mod:`bikkle_rl.recording`), with the raw reward when
the env normalises it.

Optional parts of a session: a calibration check of a live gaze source before the first episode
(:mod:`bikkle_rl.human.calibration`, its result stored in the recording's metadata), a learner that acts
and trains from the steps (:class:`~bikkle_rl.human.live_finetune.LiveFinetune`), and an LSL marker stream of
every state shown and step taken (:mod:`bikkle_rl.human.markers`: LabRecorder stores it beside the eye
tracker's stream, and a simulated participant watches the arena through it).

Headless: with ``SDL_VIDEODRIVER=dummy`` the window is drawn off-screen, and a :class:`SimulatedPacer` replaces
the wall clock with frame counting and can inject input (pygame events) on given frames, which is how the
tests play.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from tensordict import TensorDictBase
from tensordict.nn import TensorDictModule
from torchrl.envs import Compose, EnvBase, TransformedEnv
from torchrl.envs.utils import ExplorationType, set_exploration_type, step_mdp

from bikkle_rl.envs.bikkle import BikkleEnv
from bikkle_rl.envs.config import BikkleConfig
from bikkle_rl.envs.render import GAZE_INVALID_COLOUR, render_frames
from bikkle_rl.envs.transforms.gaze_injection import GazeInjection
from bikkle_rl.gaze.screen import LiveGaze, WindowGeometry
from bikkle_rl.gaze.source import GazeSource
from bikkle_rl.human.calibration import CalibrationConfig, run_calibration
from bikkle_rl.human.markers import MarkerOutlet
from bikkle_rl.recording import STATE_COLUMNS, Recording, RecordingWriter

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")


@dataclass
class PlayConfig:
    """How a session runs: timing, stop conditions and window layout."""

    step_rate_hz: float = 10.0
    frame_rate_hz: float = 60.0
    countdown_s: float = 3.0
    max_episodes: int | None = 1  # None: until the player quits
    max_steps: int | None = None  # over the whole session; None: no limit
    arena_px: int = 640
    hud_px: int = 48
    fullscreen: bool = False

    def __post_init__(self) -> None:
        for name in ("step_rate_hz", "frame_rate_hz"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.countdown_s < 0:
            raise ValueError(f"countdown_s must be >= 0, got {self.countdown_s!r}")
        for name in ("max_episodes", "max_steps"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1 or None, got {getattr(self, name)!r}")
        if self.arena_px < 16 or self.hud_px < 0:
            raise ValueError(f"need arena_px >= 16 and hud_px >= 0, got {self.arena_px!r}, {self.hud_px!r}")


class RealTimePacer:
    """The wall clock: ``wait_frame`` sleeps until the next frame is due."""

    def __init__(self, frame_rate_hz: float):
        self.period = 1.0 / frame_rate_hz
        self._next = time.perf_counter()

    def now(self) -> float:
        return time.perf_counter()

    def wait_frame(self) -> None:
        self._next = max(self._next + self.period, time.perf_counter())
        time.sleep(max(0.0, self._next - time.perf_counter()))


class SimulatedPacer:
    """Simulated time: frame k happens at ``k / frame_rate_hz`` seconds, whatever the computer's speed.

    ``on_frame(k)`` runs once per frame, at its first :meth:`now` (the loop reads the time before the input):
    tests post pygame events from it.
    """

    def __init__(self, frame_rate_hz: float, on_frame: Callable[[int], None] | None = None):
        self.period = 1.0 / frame_rate_hz
        self.on_frame = on_frame
        self.frame = 0
        self._hooked_frame = -1

    def now(self) -> float:
        if self.on_frame is not None and self._hooked_frame < self.frame:
            self._hooked_frame = self.frame
            self.on_frame(self.frame)
        return self.frame * self.period

    def wait_frame(self) -> None:
        self.frame += 1


class KeyboardControls:
    """Arrow keys or WASD move the agent; Escape or closing the window quits.

    Held keys are tracked from KEYDOWN / KEYUP events (so injected events drive it like a real keyboard).
    ``velocity`` actions are the held direction (components in {-1, 0, 1}, y up); ``heading`` actions point
    the held direction and keep the last one while no key is held (the agent always moves).
    """

    def __init__(self):
        import pygame

        self.pygame = pygame
        self.directions = {
            pygame.K_RIGHT: (1, 0), pygame.K_d: (1, 0), pygame.K_LEFT: (-1, 0), pygame.K_a: (-1, 0),
            pygame.K_UP: (0, 1), pygame.K_w: (0, 1), pygame.K_DOWN: (0, -1), pygame.K_s: (0, -1),
        }
        self.held: set[int] = set()
        self.quit_requested = False
        self.heading = 0.0

    def poll(self) -> None:
        pygame = self.pygame
        for event in pygame.event.get():
            if event.type == pygame.QUIT or (event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE):
                self.quit_requested = True
            elif event.type == pygame.KEYDOWN and event.key in self.directions:
                self.held.add(event.key)
            elif event.type == pygame.KEYUP:
                self.held.discard(event.key)

    def action(self, action_mode: str) -> torch.Tensor:
        """The action for the held keys: [1, 2] (velocity) or [1, 1] (heading)."""
        x = sum(self.directions[key][0] for key in self.held)
        y = sum(self.directions[key][1] for key in self.held)
        direction = torch.tensor([[x, y]], dtype=torch.float32).clamp(-1, 1)
        if action_mode == "velocity":
            return direction
        if x or y:
            self.heading = math.atan2(y, x) / math.pi
        return torch.tensor([[self.heading]])


class PlayWindow:
    """The pygame window: a heads-up line on top, the arena square below it."""

    def __init__(self, config: PlayConfig):
        import pygame

        self.pygame = pygame
        pygame.display.init()
        pygame.font.init()
        if config.fullscreen:
            self.surface = pygame.display.set_mode((0, 0), pygame.FULLSCREEN)
        else:
            self.surface = pygame.display.set_mode((config.arena_px, config.arena_px + config.hud_px))
        pygame.display.set_caption("Bikkle")
        width, height = self.surface.get_size()
        size = min(config.arena_px, width, height - config.hud_px)
        self.geometry = WindowGeometry(width, height, (width - size) / 2, config.hud_px, size)
        self.font = pygame.font.Font(None, max(config.hud_px * 2 // 3, 12))
        self.big_font = pygame.font.Font(None, max(size // 3, 12))
        self._arena: object | None = None

    def screen_geometry(self) -> WindowGeometry:
        """The arena's place on the monitor (window position plus layout), for eye trackers."""
        pygame = self.pygame
        try:
            from pygame._sdl2.video import Window

            left, top = Window.from_display_module().position
        except (ImportError, AttributeError, pygame.error):  # position unknown: assume the top-left corner
            left, top = 0, 0
        desktop_width, desktop_height = pygame.display.get_desktop_sizes()[0]
        return self.geometry.offset(left, top, desktop_width, desktop_height)

    def show_arena(self, frame: torch.Tensor) -> None:
        """Keeps ``frame`` (uint8 [H, W, 3], row 0 = top) as the arena picture until the next call."""
        self._arena = self.pygame.surfarray.make_surface(frame.transpose(0, 1).cpu().numpy())

    def draw(self, status: str, gaze_lost: bool, countdown: int | None) -> None:
        pygame, geometry = self.pygame, self.geometry
        self.surface.fill((0, 0, 0))
        if self._arena is not None:
            self.surface.blit(self._arena, (geometry.arena_left, geometry.arena_top))
        self.surface.blit(self.font.render(status, True, (230, 230, 230)), (8, 8))
        if gaze_lost:
            lost = self.font.render("GAZE LOST", True, GAZE_INVALID_COLOUR)
            self.surface.blit(lost, (self.surface.get_width() - lost.get_width() - 8, 8))
        if countdown is not None:
            number = self.big_font.render(str(countdown), True, (255, 255, 255))
            centre = (geometry.arena_left + geometry.arena_size / 2, geometry.arena_top + geometry.arena_size / 2)
            self.surface.blit(number, number.get_rect(center=centre))
        pygame.display.flip()

    def close(self) -> None:
        self.pygame.display.quit()


def find_gaze_injection(env: EnvBase) -> GazeInjection:
    """The env's :class:`GazeInjection` transform (a clear error when it has none)."""
    transforms = env.transform if isinstance(env, TransformedEnv) else None
    candidates = list(transforms) if isinstance(transforms, Compose) else [transforms]
    for transform in candidates:
        if isinstance(transform, GazeInjection):
            return transform
    raise ValueError("the env has no GazeInjection transform, so there is no gaze to feed the person's eyes into")


def make_play_env(config: BikkleConfig, source: GazeSource, seed: int | None = None) -> TransformedEnv:
    """One arena with the raw observation plus ``gaze`` / ``gaze_valid`` from ``source`` (for the keyboard and
    scripted policies; a checkpoint brings its own env, see :func:`use_gaze_source`)."""
    base = BikkleEnv(1, config=config, seed=seed)
    return TransformedEnv(base, Compose(GazeInjection(source, seed=None if seed is None else seed + 1)))


def use_gaze_source(env: TransformedEnv, source: GazeSource, p_valid: float | None = None) -> TransformedEnv:
    """Puts ``source`` into the env's GazeInjection (e.g. a trained agent's env, fed a person's gaze).

    ``p_valid``: the availability applied on top of the source's own validity (None: the source's default,
    1 for live and recorded gaze). Call before the env is reset.
    """
    injection = find_gaze_injection(env)
    injection.source = source
    injection.p_valid = source.default_p_valid if p_valid is None else float(p_valid)
    return env


def base_env(env: EnvBase) -> BikkleEnv:
    base = env.base_env if isinstance(env, TransformedEnv) else env
    if not isinstance(base, BikkleEnv) or base.num_envs != 1:
        raise ValueError(f"play needs a BikkleEnv with one arena, got {type(base).__name__} {tuple(base.batch_size)}")
    return base


class PlaySession:
    """One play session: the loop described in the module docstring.

    Args:
        env: a batch-1 ``TransformedEnv`` over :class:`BikkleEnv` with a GazeInjection (:func:`make_play_env`).
        policy: a TensorDictModule writing ``"action"`` from the env's observation; None: the keyboard drives.
        config: timing, stop conditions, layout.
        pacer: the clock (:class:`RealTimePacer` at ``config.frame_rate_hz`` when None).
        seed, driver: written into the recording's metadata (``driver`` defaults to "keyboard" / the policy's type).
        calibration: check a live gaze source on targets before the first episode (None: no check).
        markers: publish the session as an LSL marker stream (with this source id; None: no stream).
        learner: acts in place of ``policy`` and sees every step (a live fine-tune); its ``resumed_recording``
            (a resumed session's finished episodes) is continued, episode numbers included.
    """

    def __init__(self, env: TransformedEnv, policy: TensorDictModule | None = None, config: PlayConfig | None = None,
                 pacer: RealTimePacer | SimulatedPacer | None = None, seed: int | None = None,
                 driver: str | None = None, calibration: CalibrationConfig | None = None, learner=None,
                 markers: str | None = None):
        self.env = env
        self.base = base_env(env)
        self.source = find_gaze_injection(env).source
        self.policy = policy
        self.config = PlayConfig() if config is None else config
        self.pacer = RealTimePacer(self.config.frame_rate_hz) if pacer is None else pacer
        if driver is None:
            driver = "keyboard" if policy is None else type(getattr(policy, "module", policy)).__name__
        self.writer = RecordingWriter({
            "config": self.base.config, "seed": seed, "step_rate_hz": self.config.step_rate_hz, "driver": driver,
            "gaze_source": repr(self.source),
        })
        if learner is not None and learner.resumed_recording is not None:
            self.writer.rows = learner.resumed_recording.rows
        self.calibration = calibration
        self.learner = learner
        self.markers_source_id = markers
        self.markers: MarkerOutlet | None = None
        self.scores: list[float] = []  # return of every episode finished in this run

    def _gaze_latency(self) -> float:
        return self.source.latency_s if isinstance(self.source, LiveGaze) else math.nan

    def run(self) -> Recording:
        """Plays until the player quits or ``max_episodes`` / ``max_steps`` is reached; returns the recording."""
        window = PlayWindow(self.config)
        controls = KeyboardControls()
        if isinstance(self.source, LiveGaze) and self.source.geometry is None:
            live_geometry = window.geometry if self.source.geometry_frame == "window" else window.screen_geometry()
            self.source.geometry = live_geometry
        try:
            if self.markers_source_id is not None:
                self.markers = MarkerOutlet(self.base.config, self.writer.metadata["seed"], self.config.step_rate_hz,
                                            window.screen_geometry(), source_id=self.markers_source_id)
            if self.calibration is not None:
                if not isinstance(self.source, LiveGaze):
                    raise ValueError(f"a calibration check needs a live gaze source, got {type(self.source).__name__}")
                result = run_calibration(window, self.source, self.pacer, self.calibration)
                self.writer.metadata["calibration"] = result.to_metadata()
                print(result.summary())
            self._loop(window, controls)
        finally:
            window.close()
            if self.markers is not None:
                self.markers.close()
            if isinstance(self.source, LiveGaze):
                self.source.close()
        return self.writer.to_recording()

    def _loop(self, window: PlayWindow, controls: KeyboardControls) -> None:
        cfg, period = self.config, 1.0 / self.config.step_rate_hz
        start = self.pacer.now()
        td, latency = self.env.reset(), self._gaze_latency()
        episode, episode_step, episode_return, steps = self._first_episode(), 0, 0.0, 0
        play_from = start + cfg.countdown_s
        due = play_from
        self._show(window, td, episode, episode_step)
        waiting_since = None  # when a due step started waiting for the learner's update
        while True:
            now = self.pacer.now()
            controls.poll()
            if controls.quit_requested:
                return
            if now >= due and self.learner is not None and not self.learner.ready:
                waiting_since = now if waiting_since is None else waiting_since
            elif now >= due:
                if waiting_since is not None:
                    self.learner.waits.append(now - waiting_since)
                    waiting_since = None
                state = {key: value[0] for key, value in self.base.get_state().items() if key in STATE_COLUMNS}
                td = self._act(td, controls, episode)
                td = self.env.step(td)
                if self.learner is not None:
                    self.learner.observe(td, episode)
                reward = td.get(("next", "raw_reward"), td["next", "reward"])[0, 0].item()
                done = bool(td["next", "done"][0, 0])
                row = dict(time=now - start, episode=episode, episode_step=episode_step, **state,
                           action=td["action"][0], reward=reward, done=done, gaze=td["gaze"][0],
                           gaze_valid=td["gaze_valid"][0, 0], gaze_latency=latency)
                self.writer.append(**row)
                if self.markers is not None:
                    self.markers.step(row)
                td, latency = step_mdp(td), self._gaze_latency()
                episode_return, episode_step, steps = episode_return + reward, episode_step + 1, steps + 1
                due = max(due + period, now)
                if done:
                    self.scores.append(episode_return)
                    if self.learner is not None:
                        self.learner.end_episode(episode, episode_return, self.writer)
                    episode, episode_step, episode_return = episode + 1, 0, 0.0
                    if cfg.max_episodes is not None and episode >= cfg.max_episodes:
                        return
                    td, latency = self.env.reset(), self._gaze_latency()
                    play_from = due = now + cfg.countdown_s
                self._show(window, td, episode, episode_step)
                if cfg.max_steps is not None and steps >= cfg.max_steps:
                    return
            countdown = math.ceil(play_from - now) if now < play_from else None
            status = f"score {episode_return:+.1f}  ep {episode + 1}  step {episode_step}/{self.base.config.max_steps}"
            status += "  updating..." if waiting_since is not None else ""
            window.draw(status, gaze_lost=not bool(td["gaze_valid"][0, 0]), countdown=countdown)
            self.pacer.wait_frame()

    def _show(self, window: PlayWindow, td: TensorDictBase, episode: int, episode_step: int) -> None:
        """Draws the state now reached, and publishes it as a marker."""
        window.show_arena(self._frame(td))
        if self.markers is not None:
            self.markers.state(episode, episode_step, {key: value[0] for key, value in self.base.get_state().items()})

    def _first_episode(self) -> int:
        """The first episode's number: after a resumed session's finished ones, else 0."""
        return int(self.writer.rows[-1]["episode"]) + 1 if self.writer.rows else 0

    def _act(self, td: TensorDictBase, controls: KeyboardControls, episode: int) -> TensorDictBase:
        if self.learner is not None:
            return self.learner.act(td, episode)
        if self.policy is None:
            td["action"] = controls.action(self.base.config.action_mode).to(self.base.device)
            return td
        with torch.no_grad(), set_exploration_type(ExplorationType.DETERMINISTIC):
            return self.policy(td)

    def _frame(self, td: TensorDictBase) -> torch.Tensor:
        return render_frames(self.base.config, self.base.get_state(), mode="human", size=self.config.arena_px,
                             gaze=td["gaze"], gaze_valid=td["gaze_valid"])[0]
