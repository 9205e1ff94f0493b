"""BikkleEnv: specs, exact dynamics on hand-placed states, seeding, partial resets, config validation."""

import math

import pytest
import torch
from tensordict import TensorDict
from torchrl.envs.utils import check_env_specs

from bikkle_rl.envs import BikkleConfig, BikkleEnv, dynamics
from bikkle_rl.envs.random import ArenaRNG


def place(env: BikkleEnv, agent, pellets, high_value=0, round_step=0, step_count=0, mask=None) -> TensorDict:
    """Installs the same hand-placed layout in every arena of ``env`` and returns the state."""
    n, p = env.num_envs, env.config.num_pellets
    state = env.get_state()
    state["agent_pos"] = torch.tensor(agent, dtype=torch.float32).expand(n, 2).clone()
    state["pellet_pos"] = torch.tensor(pellets, dtype=torch.float32).expand(n, p, 2).clone()
    state["pellet_mask"] = (torch.ones(n, p, dtype=torch.bool) if mask is None
                            else torch.tensor(mask).expand(n, p).clone())
    state["high_value"] = torch.full((n,), high_value)
    state["round_step"] = torch.full((n,), round_step)
    state["step_count"] = torch.full((n,), step_count)
    env.set_state(state)
    return state


def step(env: BikkleEnv, action) -> TensorDict:
    action = torch.tensor(action, dtype=torch.float32).expand(env.num_envs, -1)
    return env.step(TensorDict(action=action, batch_size=env.batch_size))["next"]


# pink slots 0, 1 and blue slots 2, 3 far from the agent unless a test moves them
FAR = [[0.9, 0.9], [0.9, 0.1], [0.1, 0.9], [0.5, 0.9]]


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"action_mode": "heading"},
        {"episode_mode": "continuing"},
        {"num_pink": [1, 3], "num_blue": [0, 3], "episode_mode": "continuing", "shaping": 0.1},
        {"num_pink": 1, "num_blue": 0, "start_round_step": "uniform"},
    ],
)
def test_check_env_specs(config):
    check_env_specs(BikkleEnv(num_envs=5, seed=0, **config))


def test_pink_touch_rewards_one_and_respawns_clear_of_every_pellet():
    env = BikkleEnv(num_envs=512, seed=0, episode_mode="continuing")
    pellets = [[0.55, 0.5], *FAR[1:]]
    place(env, [0.5, 0.5], pellets, high_value=1)
    out = step(env, [1.0, 0.0])  # agent to (0.52, 0.5): touches pink 0, not the high-value pink 1
    assert torch.allclose(out["reward"], torch.ones(512, 1))
    assert (out["events", "pink"] == 1).all() and (out["events", "blue"] == 0).all()
    new = env.get_state()["pellet_pos"]
    assert torch.equal(new[:, 1:], torch.tensor(pellets[1:]).expand(512, 3, 2))
    # the re-spawned pellet touches no pellet held at that moment, its own old position included
    held = torch.tensor(pellets)
    gaps = (new[:, 0, None] - held[None]).norm(dim=-1)
    assert (gaps > 2 * env.config.pellet_radius).all()
    # and it is spread over the arena (uniform spawn), not stuck near one place
    assert new[:, 0].std(0).min() > 0.2


def test_blue_touch_costs_ten():
    env = BikkleEnv(num_envs=4, seed=0, episode_mode="continuing")
    place(env, [0.5, 0.5], [FAR[0], FAR[1], [0.5, 0.44], FAR[3]])
    out = step(env, [0.0, -1.0])
    assert torch.allclose(out["reward"], torch.full((4, 1), -10.0))
    assert (out["events", "blue"] == 1).all()


@pytest.mark.parametrize("round_step", [0, 20, 50, 80, 99])
def test_high_value_reward_decays_over_the_round(round_step):
    env = BikkleEnv(num_envs=2, seed=0, episode_mode="continuing")
    place(env, [0.5, 0.5], [[0.55, 0.5], *FAR[1:]], high_value=0, round_step=round_step)
    out = step(env, [1.0, 0.0])
    expected = max(1.0, 5.0 * (100 - round_step) / 100)
    assert torch.allclose(out["reward"], torch.full((2, 1), expected))
    assert (out["events", "high_value"] == 1).all()


def test_two_touches_in_one_step_add_up():
    env = BikkleEnv(num_envs=3, seed=0, episode_mode="continuing")
    # pink 0 (not high-value) and blue 2 both within touch distance after the move
    place(env, [0.5, 0.5], [[0.56, 0.5], FAR[1], [0.5, 0.44], FAR[3]], high_value=1)
    out = step(env, [0.0, 0.0])
    assert torch.allclose(out["reward"], torch.full((3, 1), 1.0 - 10.0))
    new = env.get_state()["pellet_pos"]
    gaps = (new[:, :, None] - new[:, None]).norm(dim=-1) + torch.eye(4) * 10
    assert (gaps > 2 * env.config.pellet_radius).all()


def test_high_value_redrawn_at_round_end_and_when_touched():
    n = 4000
    env = BikkleEnv(num_envs=n, seed=0, episode_mode="continuing")
    place(env, [0.5, 0.5], FAR, high_value=0, round_step=98)
    step(env, [0.0, 0.0])  # round step 98 -> 99: nothing changes
    assert (env.get_state()["high_value"] == 0).all()
    out = step(env, [0.0, 0.0])  # round step 99 -> round ends
    state = env.get_state()
    assert (state["round_step"] == 0).all() and (out["round_progress"] == 0).all()
    assert abs(state["high_value"].float().mean().item() - 0.5) < 0.05  # uniform over the two pinks

    place(env, [0.5, 0.5], [[0.55, 0.5], *FAR[1:]], high_value=0, round_step=10)
    step(env, [1.0, 0.0])
    assert abs(env.get_state()["high_value"].float().mean().item() - 0.5) < 0.05


def test_episodic_terminates_on_touch_and_continuing_does_not():
    for mode, expected in (("episodic", True), ("continuing", False)):
        env = BikkleEnv(num_envs=2, seed=0, episode_mode=mode)
        place(env, [0.5, 0.5], [[0.55, 0.5], *FAR[1:]])
        out = step(env, [1.0, 0.0])
        assert (out["terminated"] == expected).all() and (out["done"] == expected).all()
        assert not out["truncated"].any()
        out = step(env, [-1.0, 0.0])  # no touch
        assert not out["terminated"].any()


def test_truncation_at_max_steps():
    env = BikkleEnv(num_envs=2, seed=0, episode_mode="continuing", max_steps=5)
    place(env, [0.5, 0.5], FAR, step_count=3)
    assert not step(env, [0.0, 0.0])["truncated"].any()
    out = step(env, [0.0, 0.0])
    assert out["truncated"].all() and out["done"].all() and not out["terminated"].any()


def test_agent_is_clamped_to_the_arena():
    env = BikkleEnv(num_envs=1, seed=0, episode_mode="continuing")
    place(env, [0.01, 0.995], FAR)
    out = step(env, [-1.0, 1.0])
    assert torch.equal(out["agent_pos"], torch.tensor([[0.0, 1.0]]))


@pytest.mark.parametrize("heading", [-1.0, -0.3, 0.0, 0.25, 0.8])
def test_heading_moves_exactly_max_speed(heading):
    env = BikkleEnv(num_envs=1, seed=0, episode_mode="continuing", action_mode="heading")
    place(env, [0.5, 0.5], FAR)
    out = step(env, [heading])
    delta = out["agent_pos"][0] - torch.tensor([0.5, 0.5])
    angle = heading * math.pi
    assert torch.allclose(delta, 0.02 * torch.tensor([math.cos(angle), math.sin(angle)]), atol=1e-6)


def test_velocity_action_is_clipped():
    env = BikkleEnv(num_envs=1, seed=0, episode_mode="continuing")
    place(env, [0.5, 0.5], FAR)
    out = step(env, [3.0, -0.5])
    assert torch.allclose(out["agent_pos"], torch.tensor([[0.52, 0.49]]))


def test_shaping_rewards_approach_to_pinks_and_retreat_from_blues():
    env = BikkleEnv(num_envs=1, seed=0, episode_mode="continuing", num_pink=1, num_blue=1, shaping=0.5)
    place(env, [0.5, 0.5], [[0.9, 0.5], [0.1, 0.5]])
    out = step(env, [1.0, 0.0])  # 0.02 closer to the pink and 0.02 farther from the blue
    assert torch.allclose(out["reward"], torch.tensor([[0.5 * 0.02 + 0.5 * 0.02]]), atol=1e-6)


def test_initial_layouts_are_legal():
    env = BikkleEnv(num_envs=2000, seed=3, num_pink=[1, 3], num_blue=[0, 3])
    state = env.get_state()
    pos, mask = state["pellet_pos"], state["pellet_mask"]
    pair = mask[:, :, None] & mask[:, None] & ~torch.eye(6, dtype=torch.bool)
    gaps = (pos[:, :, None] - pos[:, None]).norm(dim=-1)
    assert (gaps[pair] > 0.08).all()
    agent_gap = (pos - state["agent_pos"][:, None]).norm(dim=-1)
    assert (agent_gap[mask] > 0.08).all()
    counts_pink, counts_blue = mask[:, :3].sum(-1), mask[:, 3:].sum(-1)
    assert set(counts_pink.tolist()) == {1, 2, 3} and set(counts_blue.tolist()) == {0, 1, 2, 3}
    assert (pos >= 0).all() and (pos <= 1).all()
    assert mask.gather(1, state["high_value"][:, None]).all() and (state["high_value"] < counts_pink).all()


def test_pellets_never_touch_after_many_respawns():
    env = BikkleEnv(num_envs=256, seed=1, num_pink=4, num_blue=4, episode_mode="continuing")
    td = env.reset()
    for _ in range(150):
        td["action"] = env.action_spec.rand()
        td = env.step(td)["next"].select("action", strict=False)
        pos = env.get_state()["pellet_pos"]
        gaps = (pos[:, :, None] - pos[:, None]).norm(dim=-1) + torch.eye(8) * 10
        assert (gaps > 0.08).all()


def test_same_seed_same_trajectories_and_other_seed_differs():
    def rollout(seed):
        env = BikkleEnv(num_envs=16, seed=seed)
        torch.manual_seed(0)  # the random policy draws from the global generator
        return env.rollout(60, break_when_any_done=False)

    a, b, c = rollout(7), rollout(7), rollout(8)
    assert torch.equal(a["next", "pellet_rel"], b["next", "pellet_rel"])
    assert torch.equal(a["next", "reward"], b["next", "reward"])
    assert not torch.equal(a["next", "pellet_rel"], c["next", "pellet_rel"])


def test_partial_reset_leaves_other_arenas_untouched():
    env = BikkleEnv(num_envs=6, seed=0)
    env.reset()
    for _ in range(3):
        env.step(TensorDict(action=env.action_spec.rand(), batch_size=env.batch_size))
    before = env.get_state()
    reset = torch.tensor([True, False, False, True, False, False])[:, None]
    out = env.reset(TensorDict(_reset=reset, batch_size=env.batch_size))
    after = env.get_state()
    keep = ~reset[:, 0]
    assert torch.equal(after[keep]["agent_pos"], before[keep]["agent_pos"])
    assert torch.equal(after[keep]["pellet_pos"], before[keep]["pellet_pos"])
    assert torch.equal(after[keep]["step_count"], before[keep]["step_count"])
    assert (after["step_count"][~keep] == 0).all()
    assert not torch.equal(after[~keep]["agent_pos"], before[~keep]["agent_pos"])
    assert torch.equal(out["agent_pos"][~keep], after["agent_pos"][~keep])


def test_observation_matches_state():
    env = BikkleEnv(num_envs=4, seed=0, num_pink=[1, 2], num_blue=[0, 2])
    out = env.reset()
    state = env.get_state()
    rel = (state["pellet_pos"] - state["agent_pos"][:, None]) * state["pellet_mask"][..., None]
    assert torch.equal(out["pellet_rel"], rel)
    assert torch.equal(out["privileged", "is_high_value"].float().argmax(-1), state["high_value"])


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"num_pink": 0}, "num_pink"),
        ({"num_blue": -1}, "num_blue"),
        ({"num_pink": [3, 1]}, "low <= high"),
        ({"num_pink": "two"}, "num_pink"),
        ({"episode_mode": "forever"}, "episode_mode"),
        ({"action_mode": "teleport"}, "action_mode"),
        ({"pellet_radius": 0.3}, "too large"),
        ({"max_speed": 0.0}, "max_speed"),
        ({"round_len": 0}, "round_len"),
        ({"start_round_step": "late"}, "start_round_step"),
    ],
)
def test_invalid_config_raises_clear_error(bad, match):
    with pytest.raises(ValueError, match=match):
        BikkleConfig(**bad)


def test_set_state_rejects_bad_shapes_and_layouts():
    env = BikkleEnv(num_envs=2, seed=0)
    state = env.get_state()
    with pytest.raises(ValueError, match="agent_pos"):
        env.set_state(state.clone().set("agent_pos", torch.zeros(2, 3)))
    with pytest.raises(KeyError, match="round_step"):
        env.set_state(state.exclude("round_step"))
    bad = state.clone()
    bad["pellet_mask"][:, 0] = False
    with pytest.raises(ValueError, match="pink"):
        env.set_state(bad)


def test_a_stepped_state_keeps_its_device():
    """The next state and its events carry the state's device: a device-less state once made the next partial
    reset draw its layout on the CPU with the env's CUDA generator (an error on GPU)."""
    cfg = BikkleConfig()
    state = dynamics.new_arena(cfg, 4, ArenaRNG(0, num_arenas=4), torch.device("cpu"))
    next_state, _, events = dynamics.step_arena(cfg, state, torch.ones(4, 2), ArenaRNG(1, num_arenas=4))
    assert next_state.device == events.device == state.device == torch.device("cpu")


def test_dynamics_step_is_a_pure_function():
    cfg = BikkleConfig(episode_mode="continuing")
    state = dynamics.new_arena(cfg, 8, ArenaRNG(0, num_arenas=8))
    copy = state.clone()
    action = torch.ones(8, 2)
    first = dynamics.step_arena(cfg, state, action, ArenaRNG(1, num_arenas=8))
    second = dynamics.step_arena(cfg, state, action, ArenaRNG(1, num_arenas=8))
    assert (state == copy).all()
    assert (first[0] == second[0]).all() and torch.equal(first[1], second[1])


@pytest.mark.parametrize("action_mode, action, moved", [
    ("velocity", [float("nan"), 1.0], [0.5, 0.52]),  # the NaN axis stands still
    ("heading", [float("nan")], [0.52, 0.5]),  # a NaN heading is angle 0
])
def test_nan_action_is_read_as_zero(action_mode, action, moved):
    env = BikkleEnv(num_envs=2, seed=0, episode_mode="continuing", action_mode=action_mode)
    place(env, [0.5, 0.5], FAR)
    out = step(env, action)
    assert torch.allclose(out["agent_pos"], torch.tensor(moved).expand(2, 2))
    assert not out["pellet_rel"].isnan().any()


@pytest.mark.parametrize("action_mode, shape", [("velocity", (3, 1)), ("velocity", (3, 3)), ("heading", (3, 2))])
def test_action_of_the_wrong_shape_raises(action_mode, shape):
    """A [N, 1] action would broadcast over both velocity axes: the shape is checked (host metadata, no sync)."""
    env = BikkleEnv(num_envs=3, seed=0, action_mode=action_mode)
    env.reset()
    expected = (3, 2 if action_mode == "velocity" else 1)
    with pytest.raises(ValueError, match=rf"shape \({expected[0]}, {expected[1]}\), got \({shape[0]}, {shape[1]}\)"):
        env.step(TensorDict(action=torch.zeros(shape), batch_size=[3]))
