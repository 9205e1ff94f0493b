"""Gaze sources and GazeInjection: statistics, availability, hold, latency, dropouts, mixtures, resets."""

import pytest
import torch
from tensordict import TensorDict
from torchrl.envs import Compose, InitTracker, TransformedEnv
from torchrl.envs.utils import check_env_specs

from bikkle_rl.envs import BikkleEnv
from bikkle_rl.envs.random import ArenaRNG
from bikkle_rl.envs.transforms import GazeInjection
from bikkle_rl.gaze import (
    CorrelatedGaze,
    GazeSource,
    MixtureGaze,
    NoGaze,
    OracleGaze,
    RealisticGaze,
    UniformGaze,
    make_gaze_source,
)

# 2 pink (slots 0, 1) + 2 blue; the high-value pink is slot 1
PELLETS = [[0.2, 0.2], [0.3, 0.6], [0.8, 0.3], [0.7, 0.8]]
HIGH = torch.tensor([0.3, 0.6])


def arena(place, n):
    env = BikkleEnv(num_envs=n, seed=0, episode_mode="continuing")
    return place(env, [0.5, 0.5], PELLETS, high_value=1)


def draw(source, obs, steps=1, seed=0):
    """``steps`` samples of ``source`` on the fixed observation ``obs``: gaze [steps, N, 2], valid [steps, N]."""
    generator = ArenaRNG(seed)
    source.reset(obs, None, generator)
    samples = [source.sample(obs, None, generator) for _ in range(steps)]
    return torch.stack([g for g, _ in samples]), torch.stack([v[:, 0] for _, v in samples])


def test_correlated_gaze_is_gaussian_around_the_high_value_pellet(place):
    gaze, valid = draw(CorrelatedGaze(std=0.05), arena(place, 20000))
    assert valid.all()
    assert torch.allclose(gaze[0].mean(0), HIGH, atol=2e-3)
    assert torch.allclose(gaze[0].std(0), torch.full((2,), 0.05), atol=2e-3)


def test_correlated_gaze_is_clipped_to_the_arena(place):
    env = BikkleEnv(num_envs=5000, seed=0)
    obs = place(env, [0.5, 0.5], [[0.5, 0.5], [0.01, 0.99], [0.8, 0.3], [0.7, 0.8]], high_value=1)
    gaze, _ = draw(CorrelatedGaze(std=0.05), obs)
    assert gaze.min() >= 0 and gaze.max() <= 1
    assert (gaze[0, :, 0] == 0).float().mean() > 0.3  # the mass beyond the border sits on it


def test_uniform_gaze_covers_the_arena_evenly(place):
    gaze, valid = draw(UniformGaze(), arena(place, 16000))
    assert valid.all() and gaze.min() >= 0 and gaze.max() <= 1
    cells = (gaze[0] * 4).long().clamp_max(3)
    counts = torch.bincount(cells[:, 0] * 4 + cells[:, 1], minlength=16).float()
    assert ((counts / 1000 - 1).abs() < 0.12).all()  # 1000 expected per cell, sd about 31


def test_none_gaze_is_never_valid_even_when_held():
    env = TransformedEnv(BikkleEnv(num_envs=8, seed=0), GazeInjection(NoGaze(), p_valid=1.0, hold=True))
    rollout = env.rollout(20, break_when_any_done=False)
    assert not rollout["next", "gaze_valid"].any() and not rollout["gaze_valid"].any()
    assert (rollout["next", "gaze"] == 0).all() and (rollout["next", "gaze_age"] == 0).all()


def test_oracle_gaze_is_exact_and_always_valid(place):
    gaze, valid = draw(OracleGaze(), arena(place, 4), steps=3)
    assert valid.all() and torch.equal(gaze, HIGH.expand_as(gaze))
    assert GazeInjection(OracleGaze()).p_valid == 1.0


def test_step_availability_is_independent_with_probability_p_valid():
    env = TransformedEnv(BikkleEnv(num_envs=2000, seed=0, episode_mode="continuing"),
                         GazeInjection(CorrelatedGaze(), seed=0))
    assert env.transform.p_valid == 0.25  # the original's default
    valid = env.rollout(10, break_when_any_done=False)["next", "gaze_valid"][..., 0].float()
    assert abs(valid.mean() - 0.25) < 0.02
    both = (valid[:, 1:] * valid[:, :-1]).mean() / valid[:, :-1].mean()
    assert abs(both - 0.25) < 0.03  # no memory from one step to the next


def test_episode_availability_is_constant_within_each_episode():
    gaze = GazeInjection(UniformGaze(), p_valid=0.5, availability="episode", seed=0)
    env = TransformedEnv(BikkleEnv(num_envs=64, seed=0, num_pink=3, num_blue=3, max_steps=10),
                         Compose(InitTracker(), gaze))
    rollout = env.rollout(60, break_when_any_done=False)
    valid, is_init = rollout["gaze_valid"][..., 0], rollout["is_init"][..., 0]
    assert is_init[:, 1:].sum() > 64 * 4  # many resets, some of them partial
    continuing = ~is_init[:, 1:]
    assert torch.equal(valid[:, 1:][continuing], valid[:, :-1][continuing])
    new_episodes = valid[is_init].float()
    assert 0.35 < new_episodes.mean() < 0.65
    check_env_specs(env)


def test_a_p_valid_range_draws_one_rate_per_arena_and_episode():
    gaze = GazeInjection(CorrelatedGaze(), p_valid=[0.2, 0.8], seed=0)
    assert gaze.p_valid == (0.2, 0.8)
    env = TransformedEnv(BikkleEnv(num_envs=400, seed=0, episode_mode="continuing", max_steps=100), gaze)
    rates = env.rollout(100, break_when_any_done=False)["next", "gaze_valid"][..., 0].float().mean(1)
    # each arena's rate is uniform on [0.2, 0.8]: its 100-step frequency spreads far wider than one rate's (0.05)
    assert abs(rates.mean() - 0.5) < 0.03
    assert 0.15 < rates.std() < 0.22
    assert rates.min() > 0.05 and rates.max() < 0.95
    assert torch.allclose(gaze._rate[:, 0].sort().values, torch.linspace(0.2, 0.8, 400), atol=0.06)


@pytest.mark.parametrize("bad", [1.5, -0.1, [0.8, 0.2], [0.1], [0.1, 0.2, 0.3], "often"])
def test_bad_p_valid_is_rejected_by_name(bad):
    with pytest.raises(ValueError, match="p_valid"):
        GazeInjection(CorrelatedGaze(), p_valid=bad)


class ScriptedGaze(GazeSource):
    """Valid on the listed steps of each arena's episode, at x = step / 100: a minimal stateful source."""

    default_p_valid = 1.0

    def __init__(self, valid_steps):
        self.valid_steps = torch.tensor(valid_steps)
        self.step = None

    def reset(self, td, mask, generator):
        if mask is None:
            self.step = torch.zeros(td.batch_size[0], dtype=torch.long)
        else:
            self.step = torch.where(mask, 0, self.step)

    def sample(self, td, mask, generator):
        gaze = torch.stack((self.step / 100, torch.full_like(self.step, 0.5, dtype=torch.float)), -1)
        valid = torch.isin(self.step, self.valid_steps)[:, None]
        self.step = self.step + (1 if mask is None else mask.long())
        return gaze, valid


def test_hold_keeps_the_last_gaze_counts_its_age_and_resets():
    env = TransformedEnv(BikkleEnv(num_envs=2, seed=0, episode_mode="continuing"),
                         GazeInjection(ScriptedGaze([0, 3, 7]), hold=True, max_age=2))
    action = TensorDict(action=torch.zeros(2, 2), batch_size=[2])
    outputs = [env.reset()] + [env.step(action)["next"] for _ in range(6)]
    ages = [out["gaze_age"][0, 0].item() for out in outputs]
    valid = [out["gaze_valid"][0, 0].item() for out in outputs]
    x = [out["gaze"][0, 0].item() for out in outputs]
    assert ages == [0, 1, 2, 0, 1, 2, 0]
    assert valid == [True, True, True, True, True, True, False]
    assert x == pytest.approx([0.0, 0.0, 0.0, 0.03, 0.03, 0.03, 0.0])
    # a partial reset restarts arena 1 only: arena 0 keeps its output and is not advanced (its step 7 is next)
    out = env.reset(TensorDict(_reset=torch.tensor([[False], [True]]), batch_size=[2]))
    assert out["gaze_valid"][:, 0].tolist() == [False, True] and out["gaze_age"][:, 0].tolist() == [0, 0]
    out = env.step(action)["next"]
    assert out["gaze_valid"][:, 0].tolist() == [True, True] and out["gaze_age"][:, 0].tolist() == [0, 1]
    assert out["gaze"][:, 0].tolist() == pytest.approx([0.07, 0.0])


def test_without_hold_an_invalid_step_shows_nothing():
    env = TransformedEnv(BikkleEnv(num_envs=2, seed=0), GazeInjection(ScriptedGaze([0, 2])))
    action = TensorDict(action=torch.zeros(2, 2), batch_size=[2])
    outputs = [env.reset()] + [env.step(action)["next"] for _ in range(3)]
    assert [o["gaze_valid"][0, 0].item() for o in outputs] == [True, False, True, False]
    assert "gaze_age" not in outputs[0]
    assert (outputs[1]["gaze"] == 0).all()


def test_realistic_latency_shifts_the_samples_by_exactly_k_steps(place):
    obs = arena(place, 50)
    prompt, prompt_valid = draw(RealisticGaze(latency_steps=0), obs, steps=15, seed=3)
    late, late_valid = draw(RealisticGaze(latency_steps=3), obs, steps=15, seed=3)
    assert not late_valid[:3].any() and (late[:3] == 0).all()
    assert torch.equal(late[3:], prompt[:-3]) and torch.equal(late_valid[3:], prompt_valid[:-3])


def test_realistic_fixations_last_their_duration_and_favour_the_high_value_pellet(place):
    source = RealisticGaze(step_ms=50, high_value_bias=0.6, fixation_std=0, noise_std=0, latency_steps=0,
                           p_drop=0.0, p_recover=1.0)
    gaze, valid = draw(source, arena(place, 1000), steps=40)
    assert valid.all()
    on_pellet = (gaze[..., None, :] == torch.tensor(PELLETS)).all(-1)  # [T, N, P]
    assert on_pellet.any(-1).all()
    assert abs(on_pellet[..., 1].float().mean() - 0.6) < 0.03
    target = on_pellet.long().argmax(-1)  # [T, N]
    switches = (target[1:] != target[:-1]).nonzero()  # (t, arena): a new fixation starts at t + 1
    for arena_index in range(20):
        starts = switches[switches[:, 1] == arena_index, 0]
        assert ((starts[1:] - starts[:-1]) >= 4).all()  # >= 200 ms at 50 ms a step


def test_realistic_bias_range_draws_each_arena_its_own_bias_per_episode(place):
    # a fixation a step (step_ms at the longest fixation), no noise: each step shows which pellet the eye is on
    source = RealisticGaze(step_ms=400, high_value_bias=[0.1, 0.9], fixation_std=0, noise_std=0, latency_steps=0,
                           p_drop=0.0, p_recover=1.0)
    obs, generator = arena(place, 64), ArenaRNG(0)
    source.reset(obs, None, generator)
    bias = source._bias.clone()
    assert bias.min() >= 0.1 and bias.max() <= 0.9 and bias.std() > 0.15
    on_high = torch.stack([(source.sample(obs, None, generator)[0] == HIGH).all(-1) for _ in range(600)])
    assert (on_high.float().mean(0) - bias).abs().max() < 0.1  # each arena's share of looks is its own bias
    reset = torch.arange(64) < 32
    source.reset(obs, reset, generator)
    assert (source._bias[:32] != bias[:32]).all() and torch.equal(source._bias[32:], bias[32:])


@pytest.mark.parametrize("bias", [[0.9, 0.2], [0.1, 0.5, 0.9], [0.5, 1.2]])
def test_realistic_bias_range_refuses_bad_ranges(bias):
    with pytest.raises(ValueError, match="high_value_bias"):
        RealisticGaze(high_value_bias=bias)


def test_realistic_dropouts_come_in_bursts(place):
    source = RealisticGaze(noise_std=0.1, latency_steps=0, p_drop=0.1, p_recover=0.3)
    gaze, valid = draw(source, arena(place, 4000), steps=30)
    assert gaze.min() >= 0 and gaze.max() <= 1
    lost = (~valid).float()
    assert abs(valid.float().mean() - source.valid_fraction) < 0.02
    still_lost = (lost[1:] * lost[:-1]).sum() / lost[:-1].sum()
    assert abs(still_lost - 0.7) < 0.03  # 1 - p_recover, far above the 0.25 of independent dropouts


def test_mixture_draws_one_source_per_arena_and_episode(place):
    obs = arena(place, 4000)
    mixture = MixtureGaze([OracleGaze(), NoGaze()], weights=[1.0, 3.0])
    _, valid = draw(mixture, obs, steps=5)
    assert (valid == valid[0]).all()
    assert abs(valid[0].float().mean() - 0.25) < 0.03
    with pytest.raises(ValueError, match="different default p_valid"):
        GazeInjection(mixture)
    assert GazeInjection(mixture, p_valid=1.0).p_valid == 1.0


def test_the_informative_flag_names_each_arenas_source_for_the_episode(place):
    obs = arena(place, 300)
    for source, expected in [(CorrelatedGaze(), True), (RealisticGaze(), True), (OracleGaze(), True),
                             (UniformGaze(), False), (NoGaze(), False)]:
        flag = source.is_informative(obs)
        assert flag.shape == (300, 1) and flag.dtype == torch.bool and (flag == expected).all(), source
    mixture = MixtureGaze([CorrelatedGaze(), UniformGaze(), NoGaze()])
    draw(mixture, obs)
    torch.testing.assert_close(mixture.is_informative(obs)[:, 0], mixture.choice == 0)
    assert 0.2 < (mixture.choice == 0).float().mean() < 0.47


def test_the_env_writes_the_flag_as_privileged_and_draws_it_again_at_each_reset():
    mixture = MixtureGaze([CorrelatedGaze(), UniformGaze()])
    env = TransformedEnv(BikkleEnv(num_envs=64, seed=0, max_steps=5), GazeInjection(mixture, p_valid=1.0, seed=0))
    check_env_specs(env)
    steps = env.rollout(10, break_when_any_done=False)["next"]
    flags, done = steps["privileged", "gaze_informative"][..., 0], steps["done"][..., 0]  # [N, T]
    torch.testing.assert_close(flags[:, -1], mixture.choice == 0)
    kept = flags[:, 1:] == flags[:, :-1]
    assert kept[~done[:, :-1]].all()  # constant within an episode
    assert not kept[done[:, :-1]].all()  # drawn again at a reset


def test_make_gaze_source_builds_by_name_and_rejects_bad_input():
    assert isinstance(make_gaze_source("correlated", std=0.1), CorrelatedGaze)
    mixture = make_gaze_source("mixture", components=[{"source": "uniform", "weight": 2}, {"source": "none"}])
    assert isinstance(mixture, MixtureGaze) and mixture.weights == [2.0, 1.0]
    with pytest.raises(ValueError, match="unknown gaze source 'webcam'"):
        make_gaze_source("webcam")
    with pytest.raises(ValueError, match="bad options"):
        make_gaze_source("correlated", sigma=0.1)
    with pytest.raises(ValueError, match="std"):
        make_gaze_source("correlated", std=-1)
    with pytest.raises(ValueError, match="availability"):
        GazeInjection(UniformGaze(), availability="sometimes")


@pytest.mark.parametrize("name", ["correlated", "uniform", "none", "oracle", "realistic"])
def test_gaze_injection_specs(name):
    env = TransformedEnv(BikkleEnv(num_envs=6, seed=0, num_pink=[1, 3], num_blue=[0, 2]),
                         GazeInjection(make_gaze_source(name), hold=True, seed=0))
    check_env_specs(env)
    check_env_specs(env, break_when_any_done=False)


def test_seeded_gaze_is_reproducible():
    def rollout():
        env = TransformedEnv(BikkleEnv(num_envs=4, seed=1), GazeInjection(RealisticGaze(), seed=7))
        torch.manual_seed(0)
        return env.rollout(10, break_when_any_done=False)["next", "gaze"]

    assert torch.equal(rollout(), rollout())
