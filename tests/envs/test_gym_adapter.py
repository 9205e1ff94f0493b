"""The single-arena gymnasium adapter: API conformance, registered ids, identity with BikkleEnv's trajectories,
action validation, info contents, greedy play, and that the gymnasium path leaves TorchRL (and its ``spawn``
start method) alone."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import bikkle_rl
from bikkle_rl.envs import BikkleConfig, BikkleEnv, render
from bikkle_rl.envs.gym_adapter import OBSERVATION_KEYS, BikkleGymEnv, numpy_state
from bikkle_rl.evaluation import evaluate_policy
from bikkle_rl.evaluation.protocols import EVALUATION_ARENA, PROTOCOLS
from bikkle_rl.policies import make_reference_policy
from bikkle_rl.policies.greedy import GreedyActor

ENV_ID = "bikkle_rl/Bikkle-v0"
EPISODIC_ID = "bikkle_rl/BikkleEpisodic-v0"


def place_state(gym_env: BikkleGymEnv, place, *args, **kwargs) -> None:
    """Installs a hand-placed layout (the ``place`` fixture's arguments) in the adapter's arena."""
    torch_env = BikkleEnv(num_envs=1, seed=0, config=gym_env.config)
    place(torch_env, *args, **kwargs)
    gym_env.state = numpy_state(torch_env.get_state())


@pytest.mark.parametrize(
    "config",
    [
        {"action_mode": "velocity"},
        {"action_mode": "heading", "episode_mode": "episodic"},
        {"num_pink": [1, 3], "num_blue": [0, 2], "start_round_step": "uniform", "shaping": 0.1},
    ],
)
def test_passes_gymnasium_env_checker(config):
    env = gymnasium.make(ENV_ID, render_mode="rgb_array", **config)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the checker reports problems as warnings too
        check_env(env.unwrapped)


def test_bikkle_v0_is_the_seed_evaluation_protocol_and_episodic_v0_the_default_arena():
    seed_arena = BikkleConfig(**{**PROTOCOLS["seed"]["env"], **EVALUATION_ARENA})
    env = gymnasium.make(ENV_ID)
    assert env.unwrapped.config == seed_arena
    assert env.spec.max_episode_steps == gymnasium.spec(ENV_ID).max_episode_steps == seed_arena.max_steps == 200
    assert env.unwrapped.config == BikkleConfig(**bikkle_rl.EVALUATION_ARENA)

    episodic = gymnasium.make(EPISODIC_ID)
    assert episodic.unwrapped.config == BikkleConfig(episode_mode="episodic")
    assert episodic.spec.max_episode_steps == 200


def test_make_overrides_fields_of_the_registered_arena_or_replaces_it():
    env = gymnasium.make(ENV_ID, num_pink=3, action_mode="heading", max_steps=50, max_episode_steps=50)
    config = env.unwrapped.config
    assert (config.num_pink, config.num_blue, config.episode_mode, config.max_steps) == (3, 1, "continuing", 50)
    assert env.observation_space["pellet_rel"].shape == (4, 2) and env.action_space.shape == (1,)
    obs, _info = env.reset(seed=0)
    assert obs["pellet_kind"].tolist() == [0, 0, 0, 1]

    replaced = gymnasium.make(ENV_ID, config=BikkleConfig(num_pink=2, num_blue=2))
    assert replaced.unwrapped.config == BikkleConfig(num_pink=2, num_blue=2)  # episodic, its own defaults


@pytest.mark.parametrize("bad", [{"num_pink": 0}, {"action_mode": "teleport"}, {"pellet_radius": 0.3}])
def test_bad_config_raises_the_config_error(bad):
    (name,) = bad
    with pytest.raises(ValueError, match=name):
        gymnasium.make(ENV_ID, **bad)


def assert_same_trajectory(config: dict, seed: int, steps: int, greedy: bool) -> dict[str, int]:
    """Steps the adapter and ``BikkleEnv(num_envs=1)`` from the same seed with the same actions (random, or the
    greedy policy's on BikkleEnv's observation), asserting identical observations, rewards, flags and touches."""
    gym_env, torch_env = BikkleGymEnv(**config), BikkleEnv(num_envs=1, **config)
    torch_env.set_seed(seed)  # as gymnasium's reset(seed=...) seeds the adapter's generator
    td = torch_env.reset()
    obs, _ = gym_env.reset(seed=seed)
    policy = GreedyActor(gym_env.config.action_mode, gym_env.config.touch_distance)
    actions = torch.rand(steps, 1, gym_env.action_space.shape[0], generator=torch.Generator().manual_seed(seed))
    totals = {"pink": 0, "blue": 0, "high_value": 0, "episodes": 0}
    for random_action in actions:
        for key in OBSERVATION_KEYS:
            np.testing.assert_array_equal(obs[key], td[key][0].numpy(), err_msg=key)
        action = policy(td["pellet_rel"], td["pellet_kind"], td["pellet_mask"]) if greedy else random_action * 2.4 - 1.2
        td = torch_env.step(td.set("action", action))["next"]
        obs, reward, terminated, truncated, info = gym_env.step(action[0].numpy())
        assert reward == td["reward"].item()
        assert (terminated, truncated) == (td["terminated"].item(), td["truncated"].item())
        assert info == {key: td["events", key].item() for key in ("pink", "blue", "high_value")}
        for key in info:
            totals[key] += info[key]
        if terminated or truncated:
            totals["episodes"] += 1
            td = torch_env.reset()
            obs, _ = gym_env.reset()
    return totals


@pytest.mark.parametrize(
    "config",
    [
        {"num_pink": 2, "num_blue": 2, "max_steps": 30},
        {"num_pink": [1, 3], "num_blue": [0, 2], "episode_mode": "continuing", "shaping": 0.1,
         "start_round_step": "uniform", "max_steps": 60},
        {"action_mode": "heading", "episode_mode": "continuing", "num_pink": 3, "num_blue": 3, "max_steps": 80},
    ],
)
def test_matches_bikkle_env_step_by_step_under_random_actions(config):
    """Same seed and actions: the NumPy step reproduces BikkleEnv's floats and random draws, resets included."""
    totals = assert_same_trajectory(config, seed=7, steps=300, greedy=False)
    assert totals["episodes"] >= 2  # the comparison crossed episode boundaries


@pytest.mark.parametrize("action_mode", ["velocity", "heading"])
def test_matches_bikkle_env_step_by_step_under_greedy_play(action_mode):
    """Greedy play touches pellets all the time: every re-spawn and high-value redraw must match too."""
    config = {"num_pink": 3, "num_blue": 3, "episode_mode": "continuing", "max_steps": 150, "max_speed": 0.05,
              "round_len": 20, "action_mode": action_mode}
    totals = assert_same_trajectory(config, seed=3, steps=300, greedy=True)
    assert totals["pink"] > 30 and totals["high_value"] >= 5


def test_same_seed_same_episode_different_seed_different_episode():
    env = BikkleGymEnv(num_pink=3, num_blue=3)
    first, _ = env.reset(seed=11)
    again, _ = env.reset(seed=11)
    other, _ = env.reset(seed=12)
    np.testing.assert_array_equal(first["pellet_rel"], again["pellet_rel"])
    assert not np.array_equal(first["pellet_rel"], other["pellet_rel"])


def test_truncates_at_max_steps():
    env = BikkleGymEnv(episode_mode="continuing", max_steps=5, num_pink=1, num_blue=0)
    env.reset(seed=0)
    truncations = [env.step(np.zeros(2, np.float32))[3] for _ in range(5)]
    assert truncations == [False] * 4 + [True]


def test_info_is_flat_and_privileged_only_when_asked(place):
    layout = ((0.5, 0.5), [(0.59, 0.5), (0.2, 0.8), (0.8, 0.2)])
    env = BikkleGymEnv(num_pink=2, num_blue=1)
    env.reset(seed=0)
    place_state(env, place, *layout, high_value=0)
    obs, reward, terminated, _, info = env.step(np.zeros(2, np.float32))
    assert (reward, terminated) == (0.0, False)
    assert info == {"pink": 0, "blue": 0, "high_value": 0}  # nothing privileged by default
    assert set(obs) == set(OBSERVATION_KEYS)

    obs, reward, terminated, truncated, info = env.step(np.array([1.0, 0.0], np.float32))
    assert reward == pytest.approx(5.0 * 99 / 100)  # the high-value pink at round step 1
    assert terminated and not truncated  # episodic: any touch ends the episode
    assert info == {"pink": 1, "blue": 0, "high_value": 1}

    privileged = BikkleGymEnv(num_pink=2, num_blue=1, privileged_info=True)
    _, reset_info = privileged.reset(seed=0)
    assert set(reset_info) == {"pink", "blue", "high_value", "high_value_slot", "pellet_pos"}
    place_state(privileged, place, *layout, high_value=1)
    info = privileged.step(np.zeros(2, np.float32))[-1]
    assert info["high_value_slot"] == 1
    np.testing.assert_allclose(info["pellet_pos"][1], (0.2, 0.8))


@pytest.mark.parametrize("action_mode, bad, match", [
    ("velocity", np.zeros(1, np.float32), r"shape \(2,\), got \(1,\)"),
    ("velocity", np.zeros((1, 2), np.float32), r"shape \(2,\), got \(1, 2\)"),
    ("heading", np.zeros(2, np.float32), r"shape \(1,\), got \(2,\)"),
    ("velocity", np.array([np.nan, 0.5], np.float32), "NaN"),
    ("heading", np.array([np.nan], np.float32), "NaN"),
])
def test_rejects_actions_of_the_wrong_shape_or_with_nan(action_mode, bad, match):
    env = BikkleGymEnv(action_mode=action_mode)
    env.reset(seed=0)
    before = env.state["agent_pos"].copy()
    with pytest.raises(ValueError, match=match):
        env.step(bad)
    np.testing.assert_array_equal(env.state["agent_pos"], before)


def test_greedy_scores_through_the_adapter_as_on_bikkle_env():
    """The adapter's observations feed the project's GreedyActor as they are (bool mask), and greedy earns on
    Bikkle-v0 what it earns on BikkleEnv under the seed protocol, episode for episode."""
    env = gymnasium.make(ENV_ID)
    config = env.unwrapped.config
    greedy = GreedyActor(config.action_mode, config.touch_distance)
    seeds = range(4)
    adapter_returns = []
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            batch = {key: torch.as_tensor(obs[key])[None] for key in ("pellet_rel", "pellet_kind", "pellet_mask")}
            obs, reward, terminated, truncated, _ = env.step(greedy(**batch)[0].numpy())
            total, done = total + reward, terminated or truncated
        adapter_returns.append(total)
    env_returns = []
    for seed in seeds:
        torch_env = BikkleEnv(num_envs=1, seed=seed, config=config)
        env_returns.append(evaluate_policy(make_reference_policy("greedy", config), torch_env)["return"].item())
    assert adapter_returns == pytest.approx(env_returns, abs=1e-4)
    assert 15 < np.mean(adapter_returns) < 35  # greedy's reference on this protocol is about 25


def test_render_views(place):
    agent_view = BikkleGymEnv(render_mode="rgb_array", render_size=64, num_pink=2, num_blue=1)
    human_view = BikkleGymEnv(render_mode="rgb_array", render_view="human", render_size=64, num_pink=2, num_blue=1)
    colours = {}
    for view, env in (("agent", agent_view), ("human", human_view)):
        env.reset(seed=0)
        place_state(env, place, (0.1, 0.1), [(0.25, 0.75), (0.75, 0.75), (0.75, 0.25)], high_value=1)
        frame = env.render()
        assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8
        colours[view] = tuple(frame[int(0.25 * 64), int(0.75 * 64)].tolist())  # the high-value pellet
    assert colours == {"agent": render.PINK_COLOUR, "human": render.HIGH_VALUE_COLOUR}
    assert BikkleGymEnv().render() is None


def test_rejects_unknown_render_options():
    with pytest.raises(ValueError, match="render_mode"):
        BikkleGymEnv(render_mode="human")
    with pytest.raises(ValueError, match="render_view"):
        BikkleGymEnv(render_view="oracle")


def run_python(code: str, timeout: float = 240) -> str:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            timeout=timeout, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_gymnasium_path_keeps_the_start_method_and_does_not_import_torchrl():
    """TorchRL sets the ``spawn`` start method on import, which breaks unguarded scripts using gymnasium's
    AsyncVectorEnv: making and stepping the adapters must not import it."""
    out = run_python("""
        import multiprocessing, sys
        import gymnasium
        import bikkle_rl
        env = gymnasium.make("bikkle_rl/Bikkle-v0")
        env.reset(seed=0)
        env.step(env.action_space.sample())
        envs = gymnasium.make_vec("bikkle_rl/Bikkle-v0", num_envs=4)
        envs.reset(seed=0)
        envs.step(envs.action_space.sample())
        print(multiprocessing.get_start_method(allow_none=True), "torchrl" in sys.modules)
    """)
    assert out.split() == ["None", "False"]


def test_torchrl_gym_env_runs_the_registered_id_in_worker_processes(tmp_path):
    """TorchRL's ``GymEnv(id, num_envs=3)`` runs the adapter in spawned AsyncVectorEnv workers and reads its flat
    info; the script imports ``bikkle_rl`` at the top, so the workers (which re-import it) know the id."""
    script = tmp_path / "torchrl_gym_env.py"
    script.write_text(textwrap.dedent("""
        import bikkle_rl


        def main():
            from torchrl.envs import GymEnv
            from torchrl.envs.utils import check_env_specs

            env = GymEnv("bikkle_rl/Bikkle-v0", num_envs=3)
            check_env_specs(env)
            rollout = env.rollout(5)
            print(tuple(rollout["next", "pink"].shape), rollout["pellet_mask"].dtype)
            env.close()


        if __name__ == "__main__":
            main()
    """))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=240,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "(3, 5) torch.bool"  # TorchRL logs to stdout before
