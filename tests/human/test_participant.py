"""The simulated participant: a thread fed by a MarkerOutlet whose gaze an LSLGaze reads, as a tracker's."""

from __future__ import annotations

import math
import os
import signal
import threading
import time
import uuid

import numpy as np
import pytest
import torch
from tensordict import TensorDict
from torchrl.envs.utils import step_mdp

from bikkle_rl.envs.bikkle import BikkleEnv
from bikkle_rl.envs.config import BikkleConfig
from bikkle_rl.envs.random import ArenaRNG
from bikkle_rl.gaze.lsl import LSLGaze
from bikkle_rl.gaze.realistic import RealisticGaze
from bikkle_rl.gaze.screen import WindowGeometry
from bikkle_rl.human.markers import MarkerOutlet
from bikkle_rl.human.participant import (
    Participant,
    SimulatedEye,
    build_parser,
    load_gaze_params,
    main,
    make_gaze_model,
    participant_from_args,
)

pylsl = pytest.importorskip("pylsl")

CONFIG = BikkleConfig(num_pink=3, num_blue=1, episode_mode="continuing")
MONITOR = WindowGeometry(1000, 800, arena_left=300, arena_top=250, arena_size=400)


def shown_states(count: int, seed: int = 0) -> list[dict]:
    """The first ``count`` states of a randomly driven arena, as ``MarkerOutlet.state`` takes them (one episode)."""
    env = BikkleEnv(1, config=CONFIG, seed=seed)
    actions = torch.Generator().manual_seed(seed)
    td = env.reset()
    states = []
    for _ in range(count):
        states.append({key: value[0] for key, value in env.get_state().items()})
        td["action"] = torch.rand(1, 2, generator=actions) * 2 - 1
        td = step_mdp(env.step(td))
    return states


def state_marker(step: int, state: dict) -> dict:
    """A state as the participant receives it (a parsed ``"state"`` marker)."""
    return {"episode": 0, "episode_step": step, **{key: value.tolist() for key, value in state.items()}}


def unique_id() -> str:
    return f"bikkle-test-{uuid.uuid4().hex}"


@pytest.fixture
def session():
    """A MarkerOutlet at 10 steps per second on MONITOR: (outlet, its source id)."""
    source_id = unique_id()
    with MarkerOutlet(CONFIG, seed=0, step_rate_hz=10.0, geometry=MONITOR, source_id=source_id) as outlet:
        yield outlet, source_id


def wait_until(condition, timeout_s: float = 5.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def gaze_inlet(source_id: str):
    """A plain inlet on the participant's gaze stream, to see every sample (LSLGaze keeps only the newest)."""
    streams = pylsl.resolve_bypred(f"source_id='{source_id}'", 1, 5.0)
    assert streams, "the participant's gaze stream did not appear"
    inlet = pylsl.StreamInlet(streams[0])
    inlet.open_stream(5.0)
    return inlet


def pull_all(inlet, count: int, timeout_s: float = 5.0) -> np.ndarray:
    """``count`` gaze samples [count, 2]."""
    samples = []
    deadline = time.monotonic() + timeout_s
    while len(samples) < count and time.monotonic() < deadline:
        samples += inlet.pull_chunk(timeout=0.05)[0]
    assert len(samples) == count, f"received {len(samples)} of {count} gaze samples"
    return np.array(samples, dtype=np.float32)


def test_the_simulated_eye_is_realistic_gaze_on_the_shown_state():
    states = shown_states(12)
    params = {"p_drop": 0.3, "p_recover": 0.4}
    eye = SimulatedEye(make_gaze_model(params, 10.0), MONITOR, seed=3)
    reference = RealisticGaze(latency_steps=0, step_ms=100.0, **params)
    generator = ArenaRNG(3)
    env = BikkleEnv(1, config=CONFIG)
    lost = 0
    for step, state in enumerate(states):
        observation = env.set_state(TensorDict({key: value[None] for key, value in state.items()}, batch_size=[1]))
        if step == 0:
            reference.reset(observation, None, generator)
        point, valid = reference.sample(observation, None, generator)
        looked = eye.look(state_marker(step, state))
        if valid[0, 0]:
            torch.testing.assert_close(torch.tensor(looked), MONITOR.arena_to_normalized(point[0]))
        else:
            assert all(math.isnan(v) for v in looked)
            lost += 1
    assert 0 < lost < len(states)


def test_participant_gaze_follows_the_high_value_pellet_and_arrives_latency_later(session):
    outlet, marker_id = session
    gaze_id, latency_s = unique_id(), 0.1
    states = shown_states(120)  # ~40 fixations: their share on the high-value pellet is ~0.6 +- 0.06
    participant = Participant({"p_drop": 0.0, "noise_std": 0.01}, latency_s=latency_s, seed=0,
                              marker_source_id=marker_id, gaze_source_id=gaze_id)
    with participant:
        wait_until(lambda: participant.session is not None, what="the participant to join the session")
        source = LSLGaze(source_id=gaze_id, stream_type=None, geometry=MONITOR, max_age_s=1.0)
        source.connect()
        inlet = gaze_inlet(gaze_id)
        observation = BikkleEnv(1, config=CONFIG).reset()  # LiveGaze only reads its batch size and device

        outlet.state(0, 0, states[0])  # the first sample also waits for the inlets' clock synchronisation
        wait_until(lambda: bool(source.sample(observation, None, None)[1].all()), what="the first gaze")
        time.sleep(0.3)  # the first gaze is now older than any fresh one
        shown_at = pylsl.local_clock()
        outlet.state(0, 1, states[1])
        wait_until(lambda: source.sample(observation, None, None)[1].all() and source.latency_s < 0.35,
                   what="the second gaze")  # the first one is 0.4 s old by now
        arrival_delay = pylsl.local_clock() - shown_at
        assert latency_s <= arrival_delay < latency_s + 0.2
        assert latency_s <= source.latency_s < latency_s + 0.2  # stamped when the eye looked: its age shows the lag
        for step, state in enumerate(states[2:], start=2):
            outlet.state(0, step, state)
        gaze = pull_all(inlet, len(states))
        source.close()
    assert participant.states_seen == participant.samples_sent == len(states)

    arena = MONITOR.normalized_to_arena(torch.as_tensor(gaze))  # [T, 2]
    pellet_pos = torch.stack([state["pellet_pos"] for state in states])  # [T, P, 2]
    distance = (pellet_pos - arena[:, None]).norm(dim=-1)
    present = torch.stack([state["pellet_mask"] for state in states])
    nearest = torch.where(present, distance, math.inf).argmin(-1)
    high_value = torch.stack([state["high_value"] for state in states])
    on_high_value = (nearest == high_value).float().mean().item()
    chance = (1.0 / present.sum(-1)).mean().item()
    assert on_high_value > chance + 0.1, (on_high_value, chance)


def test_participant_gaze_is_nan_exactly_while_the_model_lost_the_eye(session):
    outlet, marker_id = session
    gaze_id, params, states = unique_id(), {"p_drop": 0.3, "p_recover": 0.4}, shown_states(30)
    participant = Participant(params, seed=5, marker_source_id=marker_id, gaze_source_id=gaze_id)
    with participant:
        wait_until(lambda: participant.session is not None, what="the participant to join the session")
        inlet = gaze_inlet(gaze_id)
        for step, state in enumerate(states):
            outlet.state(0, step, state)
        gaze = pull_all(inlet, len(states))
    eye = SimulatedEye(make_gaze_model(params, 10.0), MONITOR, seed=5)
    expected = np.array([eye.look(state_marker(step, state)) for step, state in enumerate(states)], np.float32)
    lost = np.isnan(expected).all(-1)
    assert 0 < lost.sum() < len(states)
    np.testing.assert_array_equal(np.isnan(gaze).all(-1), lost)
    np.testing.assert_allclose(gaze, expected, atol=1e-6)


def test_lsl_gaze_reads_a_lost_eye_as_invalid_though_fresh(session):
    outlet, marker_id = session
    gaze_id = unique_id()
    participant = Participant({"p_drop": 1.0, "p_recover": 0.0}, marker_source_id=marker_id, gaze_source_id=gaze_id)
    with participant:
        wait_until(lambda: participant.session is not None, what="the participant to join the session")
        source = LSLGaze(source_id=gaze_id, stream_type=None, geometry=MONITOR, max_age_s=5.0)
        source.connect()
        outlet.state(0, 0, shown_states(1)[0])
        observation = BikkleEnv(1, config=CONFIG).reset()
        read = []
        wait_until(lambda: read.append(source.sample(observation, None, None)) or math.isfinite(source.latency_s),
                   what="the gaze sample")  # before the first sample its age is infinite
        source.close()
    gaze, valid = read[-1]
    assert source.latency_s < 5.0 and not valid.any() and (gaze == 0).all()


def test_participant_ends_when_the_session_does(session):
    outlet, marker_id = session
    participant = Participant(marker_source_id=marker_id, gaze_source_id=unique_id()).start()
    wait_until(lambda: participant.session is not None, what="the participant to join the session")
    outlet.close()
    assert participant.join(5.0), "the participant kept running after the marker stream went away"


def test_participant_stops_on_request_or_duration_without_a_session():
    absent = unique_id()
    started = time.monotonic()
    Participant(marker_source_id=absent).run(duration_s=0.3)
    assert time.monotonic() - started < 2.0
    participant = Participant(marker_source_id=absent).start()
    participant.stop()
    assert participant.session is None and participant.states_seen == 0


def test_gaze_params_come_from_yaml_with_flags_on_top(tmp_path):
    person = tmp_path / "person.yaml"
    person.write_text("p_drop: 0.2\nfixation_ms: [150, 300]\nnoise_std: 0.02\n")
    args = build_parser().parse_args(["--params", str(person), "--noise-std", "0.07", "--latency-ms", "40"])
    participant = participant_from_args(args)
    assert participant.gaze_params == {"p_drop": 0.2, "fixation_ms": [150, 300], "noise_std": 0.07}
    assert participant.latency_s == pytest.approx(0.04)
    model = make_gaze_model(participant.gaze_params, step_rate_hz=20.0)
    assert (model.step_ms, model.latency_steps, model.fixation_ms) == (50.0, 0, (150.0, 300.0))

    person.write_text("p_drop: 0.2\nblink_rate: 3\n")
    with pytest.raises(ValueError, match=r"person\.yaml: unknown RealisticGaze parameters \['blink_rate'\]"):
        load_gaze_params(person)
    person.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match=r"person\.yaml: expected a mapping"):
        load_gaze_params(person)
    with pytest.raises(SystemExit, match="p_drop must be a probability"):
        main(["--p-drop", "2"])
    with pytest.raises(ValueError, match="latency_s must be >= 0"):
        Participant(latency_s=-0.1)


def test_the_command_exits_cleanly_on_sigterm(capsys):
    original = signal.getsignal(signal.SIGTERM)

    def terminate_once_handled():
        wait_until(lambda: signal.getsignal(signal.SIGTERM) is not original, what="the SIGTERM handler")
        os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=terminate_once_handled)
    killer.start()
    started = time.monotonic()
    main(["--marker-source-id", unique_id(), "--duration-s", "30"])
    killer.join()
    assert time.monotonic() - started < 5.0
    assert signal.getsignal(signal.SIGTERM) is original
    assert "saw 0 states, sent 0 gaze samples" in capsys.readouterr().out
