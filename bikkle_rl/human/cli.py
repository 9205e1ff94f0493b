"""``bikkle-play``: play the arena with the keyboard, or watch a policy play while it reads your gaze.

Examples::

    bikkle-play                                     # keyboard, mouse pointer as gaze, 3 pink + 3 blue
    bikkle-play --policy greedy-gaze --gaze mouse   # the scripted gaze follower reads your pointer
    bikkle-play --checkpoint outputs/run/final.pt --gaze lsl --lsl-type Gaze   # on the protocol it was evaluated on
    bikkle-play --checkpoint outputs/run/final.pt --arena training             # the arena it was trained in
    bikkle-play --gaze replay --replay outputs/recordings/me.npz --seed 7 --policy greedy-gaze   # seed as recorded
    bikkle-play --env num_pink=1 --env num_blue=1 --episodes 5 --record outputs/recordings/me.npz
    bikkle-play --gaze lsl --calibrate 9 --screen-width-cm 53 --viewing-distance-cm 60 --calibration-max-error-deg 1.5
    bikkle-play --finetune --checkpoint final.pt --gaze lsl --session-dir sessions/p01   # live gaze-only fine-tune
    bikkle-play --finetune --checkpoint final.pt --gaze lsl --session-dir sessions/p01 --resume   # after a crash

A checkpoint plays the arena of the evaluation protocol its run was evaluated on (its ``evaluation.protocol``:
continuing 200-step episodes, :mod:`bikkle_rl.evaluation.protocols`), or another protocol (``--protocol``), or
the arena it was trained in (``--arena training``: in episodic training an episode ends at the first touch).

Every session is saved to ``--record`` (default ``outputs/recordings/play-<time>.npz``) unless ``--no-record``;
a live fine-tune saves into its ``--session-dir`` (see :mod:`bikkle_rl.human.live_finetune`).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from bikkle_rl.atomic_write import write_json
from bikkle_rl.envs.config import BikkleConfig
from bikkle_rl.envs.stack import EnvStackConfig, make_env
from bikkle_rl.evaluation.protocols import PROTOCOLS, evaluation_stack
from bikkle_rl.gaze.lsl import LSLGaze
from bikkle_rl.gaze.mouse import MouseGaze
from bikkle_rl.gaze.registry import make_gaze_source
from bikkle_rl.gaze.replay import ReplayGaze
from bikkle_rl.gaze.source import GazeSource
from bikkle_rl.human.calibration import CalibrationConfig
from bikkle_rl.human.live_finetune import (
    LiveFinetune,
    LiveFinetuneConfig,
    describe,
    live_train_config,
    make_live_env,
    plot_live_returns,
)
from bikkle_rl.human.play import PlayConfig, PlaySession, make_play_env, use_gaze_source
from bikkle_rl.policies import make_reference_policy
from bikkle_rl.recording import load_recording, save_recording

GAZE_CHOICES = ("mouse", "lsl", "replay", "none")
LIVE_GAZE = ("mouse", "lsl")
POLICY_CHOICES = ("keyboard", "greedy", "greedy-gaze", "random")
ARENA_CHOICES = ("evaluation", "training")
RECORDINGS_DIR = Path("outputs") / "recordings"
"""Where a session is saved unless ``--record`` says otherwise."""
PLAY_ENV_DEFAULTS = {"num_pink": 3, "num_blue": 3, "episode_mode": "continuing"}
"""The arena a person plays by default: several pinks (so gaze matters), evaluation's continuing mode."""


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``["num_pink=1", "num_blue=[0, 2]"]`` -> ``{"num_pink": 1, "num_blue": [0, 2]}`` (YAML values)."""
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--env expects key=value, got {item!r}")
        overrides[key.strip()] = yaml.safe_load(value)
    return overrides


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bikkle-play", description=__doc__.split("\n\n")[0])
    parser.add_argument("--policy", choices=POLICY_CHOICES, default="keyboard", help="who drives the agent")
    parser.add_argument("--checkpoint", help="a trained agent drives (loaded with bikkle_rl.agent_io.load_agent)")
    parser.add_argument("--arena", choices=ARENA_CHOICES, default=None,
                        help="with --checkpoint: the arena of an evaluation protocol (the default) or the one the "
                        "agent was trained in")
    parser.add_argument("--protocol", choices=sorted(PROTOCOLS), default=None,
                        help="with --checkpoint: the evaluation protocol played (default: the checkpoint's "
                        "evaluation.protocol)")
    parser.add_argument("--gaze", choices=GAZE_CHOICES, default="mouse", help="where the person's gaze comes from")
    parser.add_argument("--p-valid", type=float, default=None,
                        help="gaze availability on top of the source's validity (default: 1 for live gaze)")
    parser.add_argument("--lsl-name", help="LSL stream name")
    parser.add_argument("--lsl-type", default="Gaze", help="LSL stream type (default Gaze)")
    parser.add_argument("--lsl-coordinates", choices=("normalized", "pixels"), default="normalized")
    parser.add_argument("--lsl-flip-y", action="store_true", help="the stream's y grows upwards")
    parser.add_argument("--replay", help="recording to replay as gaze (with --gaze replay; its arena config "
                        "and seed are the defaults)")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="BikkleConfig field")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--episodes", type=int, default=3, help="episodes to play (0: until Escape)")
    parser.add_argument("--step-rate", type=float, default=10.0, help="env steps per second")
    parser.add_argument("--frame-rate", type=float, default=60.0,
                        help="frames drawn per second (a step is taken on the first frame it is due)")
    parser.add_argument("--countdown", type=float, default=3.0, help="seconds before each episode starts")
    parser.add_argument("--size", type=int, default=640, help="arena size in pixels")
    parser.add_argument("--fullscreen", action="store_true")
    parser.add_argument("--record", type=Path, default=None,
                        help=f"where to save the session (default {RECORDINGS_DIR}/play-<time>.npz)")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--lsl-markers", nargs="?", const="bikkle-play", metavar="SOURCE_ID",
                        help="publish every state shown and step taken as an LSL marker stream (for LabRecorder "
                        "and bikkle-participant)")
    calibration = parser.add_argument_group("calibration check (live gaze, before the session)")
    calibration.add_argument("--calibrate", type=int, choices=(5, 9, 13), help="number of targets (default: no check)")
    calibration.add_argument("--calibration-target-s", type=float, default=1.5, help="seconds per target")
    calibration.add_argument("--calibration-settle-s", type=float, default=0.5,
                             help="seconds discarded at each target while the eye lands")
    calibration.add_argument("--calibration-max-error-deg", type=float, help="largest accuracy error, degrees")
    calibration.add_argument("--calibration-max-error", type=float, help="largest accuracy error, arena units")
    calibration.add_argument("--calibration-on-fail", choices=("refuse", "warn"), default="refuse")
    calibration.add_argument("--screen-width-cm", type=float, help="the monitor's visible width (for degrees)")
    calibration.add_argument("--viewing-distance-cm", type=float, help="eye to screen (for degrees)")
    calibration.add_argument("--screen-width-px", type=int, help="the monitor's width in pixels (default: desktop's)")
    finetune = parser.add_argument_group("live fine-tune (--finetune --checkpoint AGENT)")
    finetune.add_argument("--finetune", action="store_true",
                          help="train the agent's gaze parameters on your gaze while you watch it play")
    finetune.add_argument("--finetune-episodes", type=int, default=10, help="training episodes")
    finetune.add_argument("--eval-episodes", type=int, default=2, help="episodes before and after (mean action)")
    finetune.add_argument("--session-dir", type=Path, help="where the session's checkpoint, recording and plot go "
                          "(default outputs/live/<time>)")
    finetune.add_argument("--resume", action="store_true", help="continue the session saved in --session-dir")
    finetune.add_argument("--finetune-override", action="append", default=[], metavar="KEY=VALUE",
                          help="a bikkle-finetune setting, e.g. lr=0.001 or min_scale=0.4")
    return parser


def require_live_gaze(args: argparse.Namespace, flag: str) -> None:
    """Stops with a clear message when ``flag`` is given without a live gaze source."""
    if args.gaze not in LIVE_GAZE:
        raise SystemExit(f"{flag} needs live gaze (--gaze mouse or lsl), got --gaze {args.gaze}")


def calibration_config(args: argparse.Namespace) -> CalibrationConfig | None:
    """The calibration check the flags ask for (None without ``--calibrate``)."""
    if args.calibrate is None:
        return None
    require_live_gaze(args, "--calibrate")
    return CalibrationConfig(num_targets=args.calibrate, target_s=args.calibration_target_s,
                             settle_s=args.calibration_settle_s, max_error_deg=args.calibration_max_error_deg,
                             max_error_arena=args.calibration_max_error, on_fail=args.calibration_on_fail,
                             screen_width_cm=args.screen_width_cm, viewing_distance_cm=args.viewing_distance_cm,
                             screen_width_px=args.screen_width_px)


def make_learner(args: argparse.Namespace, source: GazeSource) -> LiveFinetune:
    """The live fine-tune the flags ask for, with its env."""
    if not args.checkpoint:
        raise SystemExit("--finetune needs --checkpoint AGENT (the pretrained agent whose gaze pathway trains)")
    require_live_gaze(args, "--finetune")
    if args.resume and args.session_dir is None:
        raise SystemExit("--resume needs the --session-dir of the session to continue")
    session_dir = args.session_dir or Path("outputs") / "live" / f"{datetime.now():%Y-%m-%d_%H-%M-%S}"
    config = LiveFinetuneConfig(eval_episodes=args.eval_episodes, train_episodes=args.finetune_episodes)
    train_cfg = live_train_config(args.checkpoint, session_dir, args.finetune_override)
    env = make_live_env(train_cfg, args.checkpoint, source, args.seed)
    return LiveFinetune(train_cfg, args.checkpoint, env, config, session_dir, resume=args.resume)


def run_live_finetune(args: argparse.Namespace, source: GazeSource, play: PlayConfig) -> None:
    """Plays the three phases of a live fine-tune, then prints and plots before against after."""
    learner = make_learner(args, source)
    play.max_episodes = learner.config.total_episodes
    session = PlaySession(learner.env, config=play, seed=args.seed, driver=f"live-finetune:{args.checkpoint}",
                          calibration=calibration_config(args), learner=learner, markers=args.lsl_markers)
    try:
        session.run()
    finally:
        learner.wait()
    summary = learner.summary()
    plot = plot_live_returns(learner.progress, learner.session_dir / "returns.png",
                             f"live gaze-only fine-tune ({args.gaze} gaze)")
    write_json(learner.session_dir / "summary.json", summary)
    print(describe(summary))
    print(f"session saved in {learner.session_dir} (recording, checkpoint, {plot.name}, summary.json)")


def make_source(args: argparse.Namespace) -> GazeSource:
    if args.gaze == "mouse":
        return MouseGaze()
    if args.gaze == "lsl":
        return LSLGaze(name=args.lsl_name, stream_type=args.lsl_type, coordinates=args.lsl_coordinates,
                       flip_y=args.lsl_flip_y)
    if args.gaze == "replay":
        return ReplayGaze(args.recording)
    return make_gaze_source(args.gaze)


def checkpoint_stack(train_stack: dict, run_config: dict, args: argparse.Namespace) -> dict:
    """The env stack a checkpoint plays: its run's transforms in the arena ``--arena`` / ``--protocol`` choose.

    ``evaluation``: the protocol's arena as evaluation plays it (``--protocol``, else the run's
    ``evaluation.protocol``, else ``seed``); ``training``: the run's own arena. The gaze source is set later.
    """
    if args.arena == "training":
        if args.protocol is not None:
            raise SystemExit("--protocol chooses an evaluation arena; it does not go with --arena training")
        return train_stack
    protocol = args.protocol or (run_config.get("evaluation") or {}).get("protocol") or "seed"
    try:
        return evaluation_stack(train_stack, protocol, "none", num_envs=1)
    except ValueError as error:
        raise SystemExit(f"--checkpoint {args.checkpoint}: {error}") from None


def make_driver(args: argparse.Namespace, source: GazeSource, overrides: dict[str, Any]):
    """(env, policy or None, driver name) for the chosen driver."""
    if args.checkpoint:
        from bikkle_rl.agent_io import load_agent  # imported here: only the checkpoint path needs it
        from bikkle_rl.experiment import env_stack

        policy, run_config = load_agent(args.checkpoint, "cpu")
        stack = EnvStackConfig.from_any(checkpoint_stack(env_stack(run_config), run_config, args))
        stack.env.update(overrides)
        stack.reward_norm = None  # the window shows the raw reward
        env = make_env(EnvStackConfig.from_any(stack), num_envs=1, device="cpu", seed=args.seed)
        return use_gaze_source(env, source, args.p_valid), policy, f"checkpoint:{args.checkpoint}"
    defaults = args.recording.metadata["config"] if args.gaze == "replay" else PLAY_ENV_DEFAULTS
    config = BikkleConfig(**{**defaults, **overrides})
    env = use_gaze_source(make_play_env(config, source, args.seed), source, args.p_valid)
    if args.policy == "keyboard":
        return env, None, "keyboard"
    return env, make_reference_policy(args.policy, config), args.policy


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.recording = None
    play = PlayConfig(step_rate_hz=args.step_rate, frame_rate_hz=args.frame_rate, countdown_s=args.countdown, arena_px=args.size,
                      max_episodes=args.episodes or None, fullscreen=args.fullscreen)
    if args.finetune:
        if args.arena or args.protocol:
            raise SystemExit("a live fine-tune plays its evaluation protocol: choose it with --finetune-override "
                             "evaluation.protocol=NAME, not --arena or --protocol")
        run_live_finetune(args, make_source(args), play)
        return
    if args.gaze == "replay":  # replay against the recorded arena and seed unless told otherwise
        if not args.replay:
            raise SystemExit("--gaze replay needs --replay FILE")
        args.recording = load_recording(args.replay)
        args.seed = args.recording.metadata["seed"] if args.seed is None else args.seed
    if (args.arena or args.protocol) and not args.checkpoint:
        raise SystemExit("--arena and --protocol choose the arena a --checkpoint plays; the keyboard and scripted "
                         "policies play the arena --env sets")
    source = make_source(args)
    env, policy, driver = make_driver(args, source, parse_overrides(args.env))
    session = PlaySession(env, policy, play, seed=args.seed, driver=driver, calibration=calibration_config(args),
                          markers=args.lsl_markers)
    try:
        session.run()
    finally:  # a crashed or interrupted session keeps what was played
        recording = session.writer.to_recording()
        if not args.no_record and recording.num_steps:
            path = args.record or RECORDINGS_DIR / f"play-{datetime.now():%Y%m%d-%H%M%S}.npz"
            print(f"recording saved to {save_recording(recording, path)}")
    print(f"played {recording.num_steps} steps; episode returns: {[round(s, 2) for s in session.scores]}")
    if isinstance(source, LSLGaze):
        print(f"gaze latency: {source.latency_report()}")


if __name__ == "__main__":
    main()
