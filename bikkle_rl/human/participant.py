"""``bikkle-participant``: a simulated person who watches a play session and publishes their gaze over LSL.

For tests and demos without a person or an eye tracker. It resolves the ``BikkleMarkers`` stream of a running
``bikkle-play`` (:mod:`bikkle_rl.human.markers`), reads the session's screen geometry and step rate from the
stream header, and feeds every shown state to a :class:`~bikkle_rl.gaze.realistic.RealisticGaze` (fixations,
saccades biased to the high-value pellet, noise, bursty dropouts). The gaze is published as an LSL stream
(type ``"Gaze"``, two float32 channels, normalised screen coordinates, NaN while the model's tracker has lost
the eye), which ``LSLGaze(coordinates="normalized")`` in the play window reads as it reads a real tracker.

Latency is real time: a state's gaze is pushed ``latency_s`` after the state arrived, and the model's own
``latency_steps`` defaults to 0. Each sample's LSL timestamp is the moment the eye looked (the state's arrival),
as a tracker stamps a sample with its capture time; so the age a reader measures, ``local_clock() - timestamp``,
includes the simulated latency, as it does with a real tracker.

Examples::

    bikkle-participant --latency-ms 50 --seed 1 &    # then, in another shell:
    bikkle-play --policy greedy-gaze --gaze lsl
    bikkle-participant --params person.yaml --p-drop 0.1 --duration-s 60

It runs until the marker stream goes away (the session ended), ``--duration-s`` passes, or SIGINT / SIGTERM.
"""

from __future__ import annotations

import argparse
import inspect
import math
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import yaml
from tensordict import TensorDict
from typing_extensions import Self

from bikkle_rl.envs.keys import PRIVILEGED
from bikkle_rl.envs.random import ArenaRNG
from bikkle_rl.gaze.lsl import import_pylsl, stream_predicate
from bikkle_rl.gaze.realistic import RealisticGaze
from bikkle_rl.gaze.screen import WindowGeometry
from bikkle_rl.human.markers import (
    MARKER_STREAM_NAME,
    MARKER_STREAM_TYPE,
    MarkerError,
    parse_marker,
    session_geometry,
)

GAZE_STREAM_NAME = "BikkleParticipantGaze"
PARTICIPANT_GAZE_DEFAULTS = {"latency_steps": 0}
"""RealisticGaze defaults the participant changes: its latency is real time (``latency_s``), not steps."""
POLL_S = 0.01  # longest wait for a marker before checking the stop conditions and the due gaze samples
RESOLVE_SLICE_S = 0.2  # marker stream lookups are retried in slices this long, so a stop is noticed
OPEN_TIMEOUT_S = 5.0


def gaze_model_defaults() -> dict[str, Any]:
    """The participant's RealisticGaze parameters and their defaults (``step_ms``: the session's step period)."""
    parameters = inspect.signature(RealisticGaze.__init__).parameters
    defaults = {name: parameter.default for name, parameter in parameters.items() if name != "self"}
    return {**defaults, **PARTICIPANT_GAZE_DEFAULTS}


def check_gaze_params(params: Mapping[str, Any], source: str = "gaze parameters") -> dict[str, Any]:
    """``params`` as a dict, or a ValueError naming ``source`` and any key RealisticGaze does not take."""
    known = gaze_model_defaults()
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(f"{source}: unknown RealisticGaze parameters {unknown}; known: {sorted(known)}")
    return dict(params)


def load_gaze_params(path: str | os.PathLike) -> dict[str, Any]:
    """RealisticGaze parameters from a YAML mapping (e.g. ``p_drop: 0.1``, ``fixation_ms: [150, 300]``)."""
    path = Path(path)
    try:
        params = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML ({error})") from None
    if not isinstance(params, dict):
        raise ValueError(f"{path}: expected a mapping of RealisticGaze parameters, got {type(params).__name__}")
    return check_gaze_params(params, str(path))


def make_gaze_model(params: Mapping[str, Any], step_rate_hz: float) -> RealisticGaze:
    """The participant's eye model: ``params`` over :func:`gaze_model_defaults`, one step per ``1 / step_rate_hz``."""
    return RealisticGaze(**{**PARTICIPANT_GAZE_DEFAULTS, "step_ms": 1000.0 / step_rate_hz, **params})


def state_observation(state: Mapping[str, Any]) -> TensorDict:
    """A ``"state"`` marker as the batch-1 observation gaze sources read: ``agent_pos`` [1, 2], ``pellet_mask``
    and ``pellet_kind`` [1, P], and the privileged ``pellet_pos`` [1, P, 2] and ``is_high_value`` [1, P]."""
    pellet_pos = torch.tensor(state["pellet_pos"], dtype=torch.float32)[None]
    is_high_value = torch.nn.functional.one_hot(torch.tensor([state["high_value"]]), pellet_pos.shape[1]).bool()
    return TensorDict({
        "agent_pos": torch.tensor(state["agent_pos"], dtype=torch.float32)[None],
        "pellet_mask": torch.tensor(state["pellet_mask"], dtype=torch.bool)[None],
        "pellet_kind": torch.tensor(state["pellet_kind"], dtype=torch.long)[None],
        PRIVILEGED: {"pellet_pos": pellet_pos, "is_high_value": is_high_value},
    }, batch_size=[1])


class SimulatedEye:
    """A RealisticGaze looking at the states of one session, answering in normalised screen coordinates.

    The model is reset at the first state of every episode (and at the first state it sees); ``seed`` seeds its
    generator (random when None).
    """

    def __init__(self, model: RealisticGaze, geometry: WindowGeometry, seed: int | None = None):
        self.model = model
        self.geometry = geometry
        seed = int(torch.empty((), dtype=torch.int64).random_().item()) if seed is None else int(seed)
        self.generator = ArenaRNG(seed, num_arenas=1)
        self._episode: int | None = None

    def look(self, state: Mapping[str, Any]) -> list[float]:
        """Where the eye looks at the shown ``state`` (a ``"state"`` marker): [x, y] in normalised screen
        coordinates, [NaN, NaN] while the tracker has lost the eye."""
        observation = state_observation(state)
        if state["episode"] != self._episode:
            self.model.reset(observation, None, self.generator)
            self._episode = state["episode"]
        point, valid = self.model.sample(observation, None, self.generator)
        if not valid[0, 0]:
            return [math.nan, math.nan]
        return self.geometry.arena_to_normalized(point[0]).tolist()


class Participant:
    """Watches a marker stream and publishes the simulated gaze (see the module docstring).

    :meth:`run` works in the calling thread; :meth:`start` runs it in a background thread (``with`` starts and
    stops one), for tests that play and watch in one process. ``session`` (the watched session's marker, once
    joined), ``states_seen`` and ``samples_sent`` report progress.

    Args:
        gaze_params: RealisticGaze parameters over :func:`gaze_model_defaults`.
        latency_s: real-time delay between a state's arrival and the push of its gaze.
        seed: seeds the eye model (random when None).
        marker_name, marker_source_id: which marker stream to watch.
        gaze_name, gaze_source_id: the published gaze stream's name and source id.
    """

    def __init__(self, gaze_params: Mapping[str, Any] | None = None, latency_s: float = 0.0, seed: int | None = None,
                 marker_name: str = MARKER_STREAM_NAME, marker_source_id: str | None = None,
                 gaze_name: str = GAZE_STREAM_NAME, gaze_source_id: str | None = None):
        self.gaze_params = check_gaze_params(gaze_params or {})
        make_gaze_model(self.gaze_params, 10.0)  # bad values fail here rather than in the thread
        if not latency_s >= 0:
            raise ValueError(f"latency_s must be >= 0, got {latency_s!r}")
        self.latency_s = float(latency_s)
        self.seed = seed
        self.marker_predicate = stream_predicate(marker_name, MARKER_STREAM_TYPE, marker_source_id)
        self.gaze_name = gaze_name
        self.gaze_source_id = gaze_source_id
        self.session: dict[str, Any] | None = None  # the watched session's "session" marker
        self.states_seen = 0
        self.samples_sent = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def run(self, duration_s: float | None = None) -> None:
        """Watches and looks until the marker stream goes away, ``duration_s`` passes or a stop is requested."""
        pylsl = import_pylsl()
        deadline = math.inf if duration_s is None else time.monotonic() + duration_s
        info = pylsl.StreamInfo(self.gaze_name, "Gaze", 2, pylsl.IRREGULAR_RATE, pylsl.cf_float32,
                                self.gaze_source_id or "")
        info.desc().append_child_value("coordinates", "normalized screen: (0, 0) top-left, (1, 1) bottom-right")
        outlet = pylsl.StreamOutlet(info)
        inlet = self._open_markers(pylsl, deadline)
        if inlet is None:
            return
        try:
            self._watch(pylsl, inlet, outlet, deadline)
        finally:
            inlet.close_stream()

    def _open_markers(self, pylsl, deadline: float):
        """The marker stream's inlet with ``self.session`` read from its header (None: stopped before it appeared)."""
        streams = []
        while not streams:
            if self._stop.is_set() or time.monotonic() >= deadline:
                return None
            streams = pylsl.resolve_bypred(self.marker_predicate, 1, RESOLVE_SLICE_S)
        inlet = pylsl.StreamInlet(streams[0], recover=False)
        inlet.open_stream(OPEN_TIMEOUT_S)
        header = inlet.info(OPEN_TIMEOUT_S).desc().child_value("session")
        if not header:
            inlet.close_stream()
            raise MarkerError(f"marker stream {streams[0].name()!r} has no session in its header; "
                              "is it published by bikkle_rl.human.markers.MarkerOutlet?")
        self.session = parse_marker(header, expect="session")
        return inlet

    def _watch(self, pylsl, inlet, outlet, deadline: float) -> None:
        eye = SimulatedEye(make_gaze_model(self.gaze_params, self.session["step_rate_hz"]),
                           session_geometry(self.session), self.seed)
        pending: deque[tuple[float, list[float]]] = deque()  # (when the eye looked, gaze), oldest first
        while not self._stop.is_set() and time.monotonic() < deadline:
            wait = POLL_S
            if pending:
                wait = min(wait, max(0.0, pending[0][0] + self.latency_s - pylsl.local_clock()))
            try:
                sample, _ = inlet.pull_sample(timeout=wait)
            except pylsl.util.LostError:  # the session ended
                return
            if sample is not None:
                marker = parse_marker(sample[0])
                if marker["event"] == "state":
                    pending.append((pylsl.local_clock(), eye.look(marker)))
                    self.states_seen += 1
            while pending and pending[0][0] + self.latency_s <= pylsl.local_clock():
                looked, gaze = pending.popleft()
                outlet.push_sample(gaze, looked)
                self.samples_sent += 1

    def start(self, duration_s: float | None = None) -> Self:
        """Runs :meth:`run` in a background thread."""
        if self._thread is not None:
            raise RuntimeError("this Participant is already running")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run_in_thread, args=(duration_s,), name="bikkle-participant",
                                        daemon=True)
        self._thread.start()
        return self

    def _run_in_thread(self, duration_s: float | None) -> None:
        try:
            self.run(duration_s)
        except BaseException as error:  # noqa: BLE001 - handed to the caller of join(), who re-raises it
            self._error = error

    def request_stop(self) -> None:
        """Asks :meth:`run` to finish (safe from a signal handler); it returns within ``POLL_S``."""
        self._stop.set()

    def join(self, timeout_s: float | None = None) -> bool:
        """Waits for the background thread; True once it finished. Re-raises what failed in it."""
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                return False
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return True

    def stop(self, timeout_s: float = 5.0) -> None:
        """Requests a stop and waits for the background thread."""
        self.request_stop()
        if not self.join(timeout_s):
            raise RuntimeError(f"the participant thread did not stop within {timeout_s} s")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bikkle-participant", description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", type=Path, help="YAML mapping of RealisticGaze parameters (flags override it)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay between seeing a state and "
                        "publishing its gaze (default 0)")
    parser.add_argument("--seed", type=int, default=None, help="seeds the eye model")
    parser.add_argument("--duration-s", type=float, default=None, help="stop after this long (default: when "
                        "the session ends)")
    parser.add_argument("--marker-name", default=MARKER_STREAM_NAME, help="marker stream to watch")
    parser.add_argument("--marker-source-id", help="marker stream's source id")
    parser.add_argument("--gaze-name", default=GAZE_STREAM_NAME, help="name of the published gaze stream")
    parser.add_argument("--gaze-source-id", help="source id of the published gaze stream")
    model = parser.add_argument_group("gaze model", "RealisticGaze parameters; each overrides --params")
    for name, default in gaze_model_defaults().items():
        flag = f"--{name.replace('_', '-')}"
        if name == "step_ms":
            model.add_argument(flag, type=float, help="milliseconds per step (default: the session's step period)")
        elif isinstance(default, tuple):
            model.add_argument(flag, type=float, nargs=len(default), metavar=("LOW", "HIGH"),
                               help=f"default {' '.join(str(v) for v in default)}")
        else:
            model.add_argument(flag, type=type(default), help=f"default {default}")
    return parser


def participant_from_args(args: argparse.Namespace) -> Participant:
    """The :class:`Participant` the command line describes: ``--params`` overridden by the model flags."""
    flags = {name: getattr(args, name) for name in gaze_model_defaults() if getattr(args, name) is not None}
    params = {**(load_gaze_params(args.params) if args.params else {}), **flags}
    return Participant(params, latency_s=args.latency_ms / 1000.0, seed=args.seed, marker_name=args.marker_name,
                       marker_source_id=args.marker_source_id, gaze_name=args.gaze_name,
                       gaze_source_id=args.gaze_source_id)


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        participant = participant_from_args(args)
    except ValueError as error:
        raise SystemExit(f"bikkle-participant: {error}") from None
    previous = {signum: signal.signal(signum, lambda *_: participant.request_stop())
                for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(f"watching the marker stream {participant.marker_predicate}; publishing gaze as {args.gaze_name!r}")
        participant.run(args.duration_s)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    print(f"saw {participant.states_seen} states, sent {participant.samples_sent} gaze samples")


if __name__ == "__main__":
    main()
