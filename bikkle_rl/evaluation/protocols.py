"""Named evaluation protocols (arena settings) and gaze scenarios, turned into evaluation env stacks.

- ``seed``: the original's protocol: 1 pink + 1 blue, continuing, 200 steps, gaze valid on 25 % of steps.
  With one pink pellet gaze has nothing to add: it checks the agent plays the arena well under any gaze.
- ``gaze-value``: 3 pink + 3 blue, continuing, 200 steps: only gaze tells which pink is high-value, so the
  difference between ``correlated`` and ``uniform`` gaze measures what the signal is worth.
- ``train``: the training arena as it is (counts, rewards, speeds), continuing, 200 steps, unshaped.

``seed`` and ``gaze-value`` play the task's arena (default rewards and dynamics, ``docs/task.md``) whatever
the training arena was; only the action mode is the agent's.

An agent can only be evaluated on arenas with as many pellet slots as it was trained on.

A scenario names the gaze source (``correlated``, ``uniform``, ``none``, ``oracle``, ``realistic``), or replays
a person's gaze recorded by ``bikkle-play`` (several files joined by ``+``): ``replay:PATH`` replays the recorded
points on the same seeds (open loop), ``replay-pellet:PATH`` the recorded looks on the pellets in the same roles
of whatever arena is played (closed loop, recorded episodes spread over the arenas; see
:mod:`bikkle_rl.gaze.replay`); ``fitted:PATH`` simulates a person's gaze model fitted by ``bikkle-fit-gaze``
(:mod:`bikkle_rl.gaze.fitted`). Sources that model their own validity (``oracle``, ``realistic``, recordings,
fitted models) keep it; the others are valid on ``p_valid`` of steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bikkle_rl.envs.config import BikkleConfig

PROTOCOLS: dict[str, dict[str, Any]] = {
    "seed": {"env": {"num_pink": 1, "num_blue": 1}, "p_valid": 0.25},
    "gaze-value": {"env": {"num_pink": 3, "num_blue": 3}, "p_valid": 0.25},
    "train": {"env": None, "p_valid": 0.25},
}
EVALUATION_ARENA = {"episode_mode": "continuing", "max_steps": 200, "start_round_step": "zero", "shaping": 0.0}
"""Every protocol plays the task's evaluation episodes: continuing, 200 steps, from round step 0, unshaped reward."""
EVALUATION_SEED_OFFSET = 10_000
"""Evaluation arenas are seeded at ``seed + EVALUATION_SEED_OFFSET``, apart from the training arenas of ``seed``."""
SCENARIOS = ("correlated", "uniform", "none", "oracle", "realistic")
SELF_TIMED_SOURCES = ("oracle", "realistic", "replay", "fitted")
REPLAY_PREFIXES = {"replay:": {"align": "step"}, "replay-pellet:": {"align": "pellet", "episodes": "staggered"}}
"""Scenario prefix -> the replay source's options."""
FITTED_PREFIX = "fitted:"
"""A scenario ``fitted:PATH`` plays the fitted gaze model at PATH."""


def replay_scenario(paths: list[str], align: str = "pellet") -> str:
    """The scenario name that replays ``paths`` (``align`` ``"pellet"``: closed loop; ``"step"``: open loop)."""
    prefix = next(prefix for prefix, options in REPLAY_PREFIXES.items() if options["align"] == align)
    return prefix + "+".join(str(path) for path in paths)


def scenario_label(scenario: str) -> str:
    """A short name for plots: a replay or fitted scenario's prefix and file names, without their folders."""
    for prefix in (*REPLAY_PREFIXES, FITTED_PREFIX):
        if scenario.startswith(prefix):
            return prefix + "+".join(Path(path).name for path in scenario.removeprefix(prefix).split("+"))
    return scenario


def held_gaze(gaze: Mapping | None) -> dict:
    """A run's gaze holding (``hold``, ``max_age``): it decides the agent's gaze inputs, whatever the source."""
    return {key: gaze[key] for key in ("hold", "max_age") if gaze and key in gaze}


def scenario_gaze(scenario: str, p_valid: float, base_gaze: dict | None = None) -> dict:
    """The gaze config of a scenario; ``base_gaze`` keeps the training run's ``hold`` and ``max_age``."""
    kept = held_gaze(base_gaze)
    for prefix, options in REPLAY_PREFIXES.items():
        if scenario.startswith(prefix):
            paths = scenario.removeprefix(prefix).split("+")
            return {"source": "replay", "path": paths[0] if len(paths) == 1 else paths, **options, **kept}
    if scenario.startswith(FITTED_PREFIX):
        return {"source": "fitted", "path": scenario.removeprefix(FITTED_PREFIX), **kept}
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown gaze scenario {scenario!r}; choose one of {SCENARIOS}, replay:PATH, "
                         "replay-pellet:PATH or fitted:PATH")
    gaze = {"source": scenario, **kept}
    if scenario not in SELF_TIMED_SOURCES:
        gaze["p_valid"] = p_valid
    return gaze


def evaluation_stack(train_stack: dict, protocol: str, scenario: str, num_envs: int) -> dict:
    """The env stack of an evaluation: the run's transforms, the protocol's arena, the scenario's gaze.

    Reward normalisation is dropped (returns are summed from the raw reward and no policy reads it).
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown evaluation protocol {protocol!r}; choose one of {sorted(PROTOCOLS)}")
    spec = PROTOCOLS[protocol]
    trained = train_stack.get("env", {})
    if spec["env"] is None:
        arena = {**trained, **EVALUATION_ARENA}
    else:
        arena = {"action_mode": trained.get("action_mode", "velocity"), **spec["env"], **EVALUATION_ARENA}
    slots, trained_slots = BikkleConfig(**arena).num_pellets, BikkleConfig(**trained).num_pellets
    if slots != trained_slots:
        raise ValueError(f"evaluation protocol {protocol!r} has {slots} pellet slots but the agent's arena has "
                         f"{trained_slots}; evaluate with protocol 'train' or train on the protocol's counts")
    gaze = train_stack.get("gaze")
    base_gaze = gaze if isinstance(gaze, dict) and gaze.get("source") != "mixture" else None
    return {
        **train_stack,
        "env": arena,
        "num_envs": num_envs,
        "gaze": scenario_gaze(scenario, spec["p_valid"], base_gaze),
        "reward_norm": None,
    }
