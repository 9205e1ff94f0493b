"""fit_gaze: a known realistic source's parameters recovered from simulated recordings; the fitted model's file,
its gaze source (training, Hydra, evaluation scenarios), the ``bikkle-fit-gaze`` command and its errors."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from omegaconf import OmegaConf

from bikkle_rl.conf import compose_config
from bikkle_rl.envs.config import BikkleConfig
from bikkle_rl.envs.stack import GazeConfig, make_env
from bikkle_rl.envs.transforms import GazeInjection
from bikkle_rl.evaluation.protocols import evaluation_stack, scenario_label
from bikkle_rl.gaze import RealisticGaze, make_gaze_source
from bikkle_rl.gaze.fit import GazeFitError, fit_gaze
from bikkle_rl.gaze.fitted import FittedGaze, FittedGazeError, load_fitted, save_fitted
from bikkle_rl.human.fit_gaze_cli import main
from bikkle_rl.human.simulate import simulate_recording
from bikkle_rl.recording import save_recording

ARENA = BikkleConfig(num_pink=3, num_blue=3, episode_mode="continuing", max_steps=400)
SOURCES = {
    "person": {"fixation_ms": (200.0, 500.0), "high_value_bias": 0.7, "fixation_std": 0.02, "noise_std": 0.04,
               "latency_steps": 3, "p_drop": 0.08, "p_recover": 0.3},
    "defaults-without-latency": {"latency_steps": 0},
}
TOLERANCE = {"latency_steps": 0, "p_drop": 0.015, "p_recover": 0.04, "high_value_bias": 0.05,
             "fixation_low_ms": 50.0, "fixation_high_ms": 50.0, "fixation_std": 0.012, "noise_std": 0.005}
"""The largest error allowed from 16 arenas x 400 steps (the table in ``bikkle_rl/gaze/fit.py``)."""


def true_values(source: RealisticGaze) -> dict[str, float]:
    return {"latency_steps": source.latency_steps, "p_drop": source.p_drop, "p_recover": source.p_recover,
            "high_value_bias": source.high_value_bias, "fixation_low_ms": source.fixation_ms[0],
            "fixation_high_ms": source.fixation_ms[1], "fixation_std": source.fixation_std,
            "noise_std": source.noise_std}


@pytest.fixture(scope="module")
def recordings():
    return {name: simulate_recording(ARENA, RealisticGaze(**options), num_arenas=16, seed=seed)
            for seed, (name, options) in enumerate(SOURCES.items())}


@pytest.fixture(scope="module")
def fits(recordings):
    return {name: fit_gaze([recording], [name], bootstrap=100, seed=0) for name, recording in recordings.items()}


@pytest.fixture(scope="module")
def person_file(tmp_path_factory, recordings):
    return save_recording(recordings["person"], tmp_path_factory.mktemp("recordings") / "person.npz")


@pytest.mark.parametrize("name", list(SOURCES))
def test_recovers_every_parameter_within_tolerance_and_near_its_interval(name, fits):
    fit, truth = fits[name], true_values(RealisticGaze(**SOURCES[name]))
    for parameter, estimate in fit.estimates.items():
        tolerance = TOLERANCE[parameter]
        assert abs(estimate.value - truth[parameter]) <= tolerance, (parameter, estimate, truth[parameter])
        assert estimate.low <= estimate.value <= estimate.high, (parameter, estimate)
        assert estimate.low - tolerance / 2 <= truth[parameter] <= estimate.high + tolerance / 2, (parameter, estimate)
    assert fit.step_ms == 100.0
    assert fit.counts["recordings"] == 1 and fit.counts["steps"] == 16 * 400 and fit.counts["runs"] >= 30


def test_says_when_the_step_resolution_leaves_the_duration_range_open(fits):
    assert fits["person"].width_identified and not fits["person"].notes  # 200-500 ms: 3, 4 or 5 steps
    open_fit = fits["defaults-without-latency"]  # 200-400 ms: 3 or 4 steps; the widest such range is reported
    assert not open_fit.width_identified
    assert any("3 or 4 steps" in note for note in open_fit.notes)
    low, high = open_fit.fixation_low_ms.value, open_fit.fixation_high_ms.value
    assert low == 200.0 or high == 400.0  # one end on a step boundary


def test_the_fitted_file_builds_a_realistic_source_for_training_and_evaluation(tmp_path, fits):
    fit = fits["person"]
    path = save_fitted(fit, tmp_path / "person.yaml", ["person.npz"])
    document = yaml.safe_load(path.read_text())
    assert document["schema_version"] == 1 and document["fit"]["recordings"] == ["person.npz"]
    assert document["fit"]["counts"]["steps"] == 6400
    assert document["intervals"]["high_value_bias"] == pytest.approx(
        [fit.high_value_bias.low, fit.high_value_bias.high], rel=1e-5)

    source = make_gaze_source("fitted", path=str(path))
    assert isinstance(source, FittedGaze) and isinstance(source, RealisticGaze) and source.path == str(path)
    for name, value in fit.source_options().items():
        assert getattr(source, name) == pytest.approx(value, rel=1e-5), name

    env = make_env({"env": {"num_pink": 3, "num_blue": 3}, "num_envs": 2, "stack": "mlp",
                    "gaze": {"source": "fitted", "path": str(path)}}, seed=0)
    rollout = env.rollout(8)
    assert rollout["gaze_valid"][:, :3].sum() == 0  # the fitted 3-step latency: an empty pipeline at the start
    cfg = compose_config("train", ["gaze=fitted", f"gaze.path={path}"])
    gaze = GazeConfig.from_mapping(OmegaConf.to_container(cfg.gaze, resolve=True)).build(seed=0)
    assert isinstance(gaze.source, FittedGaze) and gaze.p_valid == 1.0

    stack = evaluation_stack({"env": {"num_pink": 3, "num_blue": 3}, "stack": "mlp"}, "gaze-value",
                             f"fitted:{path}", 2)
    assert stack["gaze"] == {"source": "fitted", "path": str(path)}  # self-timed: no p_valid on top
    injected = [t for t in make_env(stack, seed=0).transform if isinstance(t, GazeInjection)]
    assert isinstance(injected[0].source, FittedGaze)
    assert scenario_label(f"fitted:{path}") == "fitted:person.yaml"


def test_the_command_prints_intervals_and_writes_the_model(tmp_path, capsys, person_file):
    out = tmp_path / "model.yaml"
    main([str(person_file), "-o", str(out), "--bootstrap", "20", "--seed", "1", "--max-latency-steps", "5"])
    printed = capsys.readouterr().out
    assert "1 recording, 6400 steps of 100 ms" in printed and "95 % interval" in printed
    for name in TOLERANCE:
        line = next(line for line in printed.splitlines() if line.startswith(name))
        assert "[" in line and "]" in line, line
    assert re.search(r"^latency_steps +3 +\[3, \d\] +\(300 ms\)$", printed, re.MULTILINE)
    assert f"wrote {out} (use: gaze=fitted gaze.path={out})" in printed
    assert load_fitted(out)["latency_steps"] == 3


def write_model(path: Path, **changes) -> Path:
    """A valid fitted file with ``changes`` to its document (None deletes a key; ``parameters`` merge)."""
    parameters = {"step_ms": 100.0, "fixation_ms": [200.0, 400.0], "high_value_bias": 0.6, "fixation_std": 0.03,
                  "noise_std": 0.05, "latency_steps": 2, "p_drop": 0.05, "p_recover": 0.25}
    parameters.update(changes.pop("parameters", {}))
    document = {"schema_version": 1, "parameters": {k: v for k, v in parameters.items() if v is not None}, **changes}
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.parametrize(("changes", "message"), [
    ({"parameters": {"noise_std": None}}, r"missing \['noise_std'\]"),
    ({"parameters": {"noise_sd": 0.05}}, r"unknown \['noise_sd'\]"),
    ({"parameters": {"high_value_bias": 1.5}}, "high_value_bias must be a probability"),
    ({"parameters": {"latency_steps": 2.5}}, "parameters.latency_steps must be an integer"),
    ({"parameters": {"p_drop": "often"}}, "parameters.p_drop must be a number"),
    ({"parameters": {"fixation_ms": [400.0, 200.0]}}, "fixation_ms must be a range"),
    ({"parameters": {"fixation_ms": 300.0}}, r"parameters.fixation_ms must be a \[low, high\] pair"),
    ({"schema_version": 2}, "schema_version 2 is not supported"),
])
def test_a_bad_model_file_fails_naming_the_file_and_the_field(tmp_path, changes, message):
    path = write_model(tmp_path / "bad.yaml", **changes)
    with pytest.raises(FittedGazeError, match=message) as error:
        make_gaze_source("fitted", path=str(path))
    assert str(path) in str(error.value)


def test_a_missing_or_unreadable_model_file_fails_naming_it(tmp_path):
    with pytest.raises(FittedGazeError, match=f"no fitted gaze file at {tmp_path / 'none.yaml'}"):
        load_fitted(tmp_path / "none.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(FittedGazeError, match="list.yaml: expected a mapping"):
        load_fitted(tmp_path / "list.yaml")
    assert load_fitted(write_model(tmp_path / "good.yaml"))["fixation_ms"] == (200.0, 400.0)


def test_refuses_recordings_it_cannot_fit_naming_the_file(tmp_path, person_file, recordings):
    short = simulate_recording(ARENA, RealisticGaze(), num_arenas=2, steps=50, seed=5)
    short_file = save_recording(short, tmp_path / "short.npz")
    with pytest.raises(SystemExit, match=f"short.npz: only {int(short['gaze_valid'].sum())} valid gaze samples"):
        main([str(person_file), str(short_file), "-o", str(tmp_path / "out.yaml")])
    assert not (tmp_path / "out.yaml").exists()

    faster = simulate_recording(ARENA, RealisticGaze(), num_arenas=4, steps=100, seed=6, step_rate_hz=20.0)
    with pytest.raises(GazeFitError, match="fast: step_rate_hz 20 differs from slow's 10"):
        fit_gaze([recordings["person"], faster], ["slow", "fast"], bootstrap=0)

    few_runs = simulate_recording(ARENA, RealisticGaze(), num_arenas=1, steps=300, seed=7)
    with pytest.raises(GazeFitError, match=r"too little usable gaze to fit in few\.npz: .*runs \d+ \(at least 30\)"):
        fit_gaze([few_runs], ["few.npz"], bootstrap=0)
    with pytest.raises(SystemExit, match="no recording at"):
        main([str(tmp_path / "missing.npz"), "-o", str(tmp_path / "out.yaml")])
    with pytest.raises(GazeFitError, match=r"runs \d+ \(at least 100000\)"):  # the floors are the caller's to set
        fit_gaze([recordings["person"]], bootstrap=0, min_counts={"runs": 100_000})
    with pytest.raises(GazeFitError, match=r"min_counts: unknown estimators \['fixations'\]"):
        fit_gaze([recordings["person"]], bootstrap=0, min_counts={"fixations": 10})


def test_pools_recordings_and_resamples_them_reproducibly(recordings):
    both = [recordings["person"], recordings["person"]]
    first, second = (fit_gaze(both, bootstrap=10, seed=3) for _ in range(2))
    assert first == second
    assert first.counts["steps"] == 2 * 6400 and first.counts["recordings"] == 2
    single = fit_gaze([recordings["person"]], bootstrap=0)
    assert single.high_value_bias.value == pytest.approx(first.high_value_bias.value, abs=1e-9)
    assert np.isclose(single.noise_std.low, single.noise_std.value)  # no bootstrap: the interval is the value
