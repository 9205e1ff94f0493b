"""The evaluation recipe: agreement with a gymnasium loop, load_agent round trip, clear errors, the report."""

import json
import shutil

import gymnasium
import imageio.v2 as imageio
import numpy as np
import pytest
import torch
from hydra.errors import ConfigCompositionException
from tensordict import TensorDict
from torchrl.envs.utils import ExplorationType, set_exploration_type

from bikkle_rl.agent_io import load_agent
from bikkle_rl.checkpoint import CheckpointError, load_checkpoint
from bikkle_rl.conf import compose_config
from bikkle_rl.envs.stack import make_env
from bikkle_rl.envs.video import legend_strip
from bikkle_rl.evaluation import evaluate_policy
from bikkle_rl.evaluation.agent_evaluation import run_evaluation
from bikkle_rl.evaluation.attention_video import ATTENTION_LEGEND
from bikkle_rl.evaluation.pooling import pooled_seed
from bikkle_rl.evaluation.protocols import evaluation_stack
from bikkle_rl.experiment import env_stack
from bikkle_rl.policies import make_reference_policy
from bikkle_rl.run_config import ConfigError
from bikkle_rl.training import train

PROTOCOL_ARENAS = {"seed": {"num_pink": 1, "num_blue": 1}, "gaze-value": {"num_pink": 3, "num_blue": 3}}


def gymnasium_return(env: gymnasium.Env, policy, seed: int) -> float:
    """One episode of a reference policy over the gymnasium adapter, observations fed one at a time."""
    observation, _ = env.reset(seed=seed)
    total, done = 0.0, False
    while not done:
        td = TensorDict({key: torch.as_tensor(value)[None] for key, value in observation.items()}, batch_size=[1])
        td["pellet_mask"] = td["pellet_mask"].bool()
        observation, reward, terminated, truncated, _ = env.step(policy(td)["action"][0].numpy())
        total, done = total + reward, terminated or truncated
    return total


@pytest.mark.parametrize("protocol", ["seed", "gaze-value"])
def test_evaluator_matches_a_gymnasium_loop_on_the_same_seeds(protocol):
    """The evaluation stack (transforms, gaze) and batched runner change nothing a scripted policy earns."""
    train_stack = {"env": PROTOCOL_ARENAS[protocol], "stack": "mlp", "gaze": {"source": "uniform", "p_valid": 0.25}}
    stack = evaluation_stack(train_stack, protocol, "uniform", num_envs=1)
    config = make_env(stack).base_env.config
    policy = make_reference_policy("greedy", config)
    seeds = range(3)
    evaluated = []
    for seed in seeds:
        env = make_env(stack)
        env.set_seed(seed)  # as gymnasium's reset(seed=...) seeds the adapter's env
        evaluated.append(evaluate_policy(policy, env)["return"])
    gym_env = gymnasium.make("bikkle_rl/Bikkle-v0", config=config)
    looped = torch.tensor([gymnasium_return(gym_env, policy, seed) for seed in seeds], dtype=torch.float32)
    torch.testing.assert_close(torch.cat(evaluated).mean(), looped.mean(), rtol=0, atol=1e-4)
    torch.testing.assert_close(torch.cat(evaluated), looped, rtol=0, atol=1e-4)
    assert looped.mean() > 10  # greedy collects pellets: the comparison is not between two zeros


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    """Checkpoints of two tiny training runs: an MLP agent with gaze (two iterations, a numbered checkpoint after
    each) and an MLP oracle agent without."""
    root = tmp_path_factory.mktemp("runs")
    common = ["model=mlp", "env=gaze_value", "num_envs=32", "algo.frames_per_env=16", "checkpoint.every_frames=512",
              "evaluation.protocol=gaze-value", "evaluation.curve_episodes=8", "compile=false"]
    paths = {}
    for name, overrides in (("agent", ["gaze=correlated", "total_frames=1024"]),
                            ("oracle", ["gaze=none", "oracle=true", "total_frames=512"])):
        cfg = compose_config("train", [*common, *overrides, f"logger.log_dir={root / name}"])
        train(cfg, root / name)
        paths[name] = root / name / "final.pt"
    return paths


def test_load_agent_round_trip(tiny_runs):
    actor, run_config = load_agent(tiny_runs["agent"])
    payload = load_checkpoint(tiny_runs["agent"])
    assert run_config == payload["config"]
    for name, value in actor.state_dict().items():
        assert torch.equal(value, payload["algo"]["actor"][name]), name
    env = make_env(env_stack(run_config, num_envs=8, reward_norm=None), seed=0)
    with torch.no_grad(), set_exploration_type(ExplorationType.DETERMINISTIC):
        action = actor(env.reset())["action"]
    assert action.shape == (8, 2) and torch.isfinite(action).all()


def test_corrupt_or_foreign_checkpoint_gives_a_clear_error(tiny_runs, tmp_path):
    good = tiny_runs["agent"]
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated.pt.*cannot be read"):
        load_agent(truncated)
    with pytest.raises(CheckpointError, match="missing.pt.*does not exist"):
        load_agent(tmp_path / "missing.pt")

    payload = load_checkpoint(good)
    for name, change, match in (
        ("no_actor.pt", lambda p: p["algo"].pop("actor"), "no actor weights"),
        ("no_config.pt", lambda p: p.pop("config"), "no entry 'config'"),
        ("bad_config.pt", lambda p: p["model"].update(encoder="rnn"), "does not build an agent"),
        ("other_model.pt", lambda p: p["model"].update(hidden=32), "does not fit the model"),
    ):
        broken = load_checkpoint(good)
        change(broken)
        torch.save(broken, tmp_path / name)
        with pytest.raises(CheckpointError, match=f"{name}.*{match}"):
            load_agent(tmp_path / name)
    assert "actor" in payload["algo"]


def compose_evaluate(*overrides: str):
    return compose_config("evaluate", overrides)


def test_evaluation_writes_table_and_value_of_gaze(tiny_runs, tmp_path):
    cfg = compose_evaluate(f"checkpoint={tiny_runs['agent']}", "protocol=gaze-value", "episodes=16",
                           "references=[]", "video=false", f"out_dir={tmp_path}")
    output = run_evaluation(cfg)
    data = json.loads((tmp_path / "eval.json").read_text())
    assert set(data["results"]) == {"correlated", "uniform", "none", "oracle"}
    for row in data["results"].values():
        summary = row["agent"]
        assert {"mean", "std", "ci_low", "ci_high", "episodes"} <= set(summary)
        assert summary["episodes"] == 16 and summary["ci_low"] <= summary["mean"] <= summary["ci_high"]
    gain = data["gaze_value"]["gain"]["value"]
    expected = data["results"]["correlated"]["agent"]["mean"] - data["results"]["uniform"]["agent"]["mean"]
    assert gain == pytest.approx(expected)
    assert "oracle gaze" in data["gaze_value"]["oracle_source"]
    assert (tmp_path / "eval.png").stat().st_size > 0
    assert "value of gaze" in (tmp_path / "eval.md").read_text()
    assert output["returns"]["none"]["agent"].shape == (16,)


def test_oracle_agent_gives_gain_max(tiny_runs, tmp_path):
    cfg = compose_evaluate(f"checkpoint={tiny_runs['agent']}", f"oracle_checkpoint={tiny_runs['oracle']}",
                           "protocol=gaze-value", "scenarios=[correlated,uniform,none]", "episodes=8",
                           "references=[]", "video=false", f"out_dir={tmp_path}")
    output = run_evaluation(cfg)
    assert set(output["results"]["none"]) == {"agent", "oracle"}
    expected = output["results"]["none"]["oracle"]["mean"] - output["results"]["none"]["agent"]["mean"]
    assert output["gaze_value"]["gain_max"]["value"] == pytest.approx(expected)
    assert "'oracle'" in output["gaze_value"]["oracle_source"]


def test_pooled_evaluation_holds_each_checkpoints_episodes_on_its_own_layouts(tiny_runs, tmp_path):
    earlier = tiny_runs["agent"].parent / "checkpoints" / "checkpoint_000000000512.pt"
    common = ["protocol=gaze-value", "scenarios=[correlated,none]", "episodes=8", "references=[greedy]",
              "video=false", "movement=true"]
    pooled = run_evaluation(compose_evaluate(f"checkpoint={tiny_runs['agent']}", "pool_earlier=1", *common,
                                             f"out_dir={tmp_path / 'pooled'}"))
    final = run_evaluation(compose_evaluate(f"checkpoint={tiny_runs['agent']}", *common, "seed=0",
                                            f"out_dir={tmp_path / 'final'}"))
    before = run_evaluation(compose_evaluate(f"checkpoint={earlier}", *common, f"seed={pooled_seed(0, 1)}",
                                             f"out_dir={tmp_path / 'earlier'}"))
    for scenario in ("correlated", "none"):
        for policy in ("agent", "greedy"):
            alone = (final["returns"][scenario][policy], before["returns"][scenario][policy])
            assert torch.equal(pooled["returns"][scenario][policy], torch.cat(alone)), (scenario, policy)
            assert pooled["results"][scenario][policy]["episodes"] == 16
    assert not torch.equal(*(run["returns"]["none"]["greedy"] for run in (final, before)))  # layouts of its own
    data = json.loads((tmp_path / "pooled" / "eval.json").read_text())
    assert "pooled with 1 earlier" in data["title"]
    assert [part["checkpoint"] for part in data["pooled"]] == [str(tiny_runs["agent"]), str(earlier)]
    for part, alone in zip(data["pooled"], (final, before), strict=True):  # each checkpoint's own figures kept
        assert part["results"]["none"]["agent"]["mean"] == pytest.approx(alone["results"]["none"]["agent"]["mean"])
    assert "| checkpoint_000000000512.pt |" in (tmp_path / "pooled" / "eval.md").read_text()


def test_pooling_more_checkpoints_than_the_run_kept_or_another_arenas_fails_clearly(tiny_runs, tmp_path):
    with pytest.raises(ConfigError, match="pool_earlier=2: .* has 1 earlier"):
        run_evaluation(compose_evaluate(f"checkpoint={tiny_runs['agent']}", "pool_earlier=2", f"out_dir={tmp_path}"))
    with pytest.raises(ConfigError, match="pool_earlier=-1: must be >= 0"):
        run_evaluation(compose_evaluate(f"checkpoint={tiny_runs['agent']}", "pool_earlier=-1", f"out_dir={tmp_path}"))
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_runs["agent"].parent, run_dir)
    earlier = run_dir / "checkpoints" / "checkpoint_000000000512.pt"
    payload = load_checkpoint(earlier)
    payload["config"]["env"]["shaping"] = 0.5
    torch.save(payload, earlier)
    with pytest.raises(ConfigError, match="checkpoint_000000000512.pt' was trained on another arena"):
        run_evaluation(compose_evaluate(f"checkpoint={run_dir / 'final.pt'}", "pool_earlier=1", "episodes=4",
                                        "protocol=gaze-value", "video=false", f"out_dir={tmp_path / 'out'}"))


def test_references_and_video_without_value_of_gaze(tiny_runs, tmp_path):
    cfg = compose_evaluate(f"checkpoint={tiny_runs['agent']}", "protocol=gaze-value", "scenarios=[uniform]",
                           "episodes=8", "references=[greedy]", "video=true", f"out_dir={tmp_path}")
    output = run_evaluation(cfg)
    assert output["gaze_value"] is None
    data = json.loads((tmp_path / "eval.json").read_text())
    assert data["gaze_value"] is None and data["protocol"] == "gaze-value"
    assert set(data["results"]["uniform"]) == {"agent", "greedy"}
    assert data["results"]["uniform"]["greedy"]["mean"] > 10
    assert set(data["movement"]["uniform"]) == {"agent", "greedy"}
    assert data["movement"]["uniform"]["greedy"]["progress_clear_of_blue"] > 0.95
    assert "| uniform | greedy |" in (tmp_path / "eval.md").read_text()
    assert [p.name for p in tmp_path.glob("*.mp4")] == ["agent_uniform.mp4"]


@pytest.mark.parametrize("flag", ["movement", "deterministic"])
def test_a_flag_that_is_not_true_or_false_fails_clearly(tiny_runs, tmp_path, flag):
    with pytest.raises(ConfigCompositionException) as caught:
        compose_evaluate(f"checkpoint={tiny_runs['agent']}", f"{flag}=maybe", f"out_dir={tmp_path}")
    assert f"full_key: {flag}" in str(caught.value.__cause__)


@pytest.mark.parametrize("value", ["maybe", "1"])
def test_a_video_that_is_not_true_false_or_attention_fails_at_start_up(tiny_runs, tmp_path, value):
    cfg = compose_evaluate(f"checkpoint={tiny_runs['agent']}", f"video={value}", f"out_dir={tmp_path}")
    with pytest.raises(ConfigError, match=r"^video=.*: must be true, false or attention"):
        run_evaluation(cfg)
    assert not (tmp_path / "eval.json").exists()


def test_attention_video_of_an_mlp_agent_fails_naming_the_model(tiny_runs, tmp_path):
    cfg = compose_evaluate(f"checkpoint={tiny_runs['agent']}", "protocol=gaze-value", "episodes=4",
                           "video=attention", f"out_dir={tmp_path}")
    with pytest.raises(ConfigError, match="video='attention': the agent's model is 'mlp'.*token-transformer"):
        run_evaluation(cfg)
    assert not (tmp_path / "eval.json").exists()  # failed before anything was evaluated


def test_attention_video_of_a_transformer_agent(compose_train, tmp_path):
    """``video=attention`` writes the plain video and, beside it, the same episodes with attention halos."""
    train(compose_train(tmp_path / "run", "model=transformer", "total_frames=256"), tmp_path / "run")
    out_dir = tmp_path / "eval"
    cfg = compose_evaluate(f"checkpoint={tmp_path / 'run' / 'final.pt'}", "scenarios=[correlated]", "episodes=4",
                           "references=[]", "movement=false", "video=attention", f"out_dir={out_dir}")
    paths = run_evaluation(cfg)["paths"]
    assert sorted(p.name for p in out_dir.glob("*.mp4")) == ["agent_attention_correlated.mp4", "agent_correlated.mp4"]
    assert paths["attention_video_correlated"] == out_dir / "agent_attention_correlated.mp4"
    plain, attention = (imageio.mimread(out_dir / name) for name in ("agent_correlated.mp4",
                                                                       "agent_attention_correlated.mp4"))
    size, width = 128, 4 * 128  # record_video's 4 arenas side by side
    assert attention[0].shape == (size + legend_strip(width, ATTENTION_LEGEND).shape[0], width, 3)
    assert len(attention) == len(plain)
    arenas_differ = [np.abs(a[:size].astype(int) - p[:size].astype(int)).max() for a, p in zip(attention, plain)]
    assert max(arenas_differ) > 64  # the halos, well above the MP4's loss


def test_a_sac_checkpoint_loads_as_an_agent(compose_train, tmp_path):
    """SAC's actor is always tanh-squashed, whatever the model config says; load_agent rebuilds it the same way."""
    cfg = compose_train(tmp_path, "algo=sac", "model.distribution=normal", "model.scale=global", "total_frames=512",
                        "algo.init_random_frames=256", "algo.batch_size=32")
    run = train(cfg, tmp_path)
    actor, _ = load_agent(tmp_path / "final.pt")
    for name, value in run.algo.actor.state_dict().items():
        assert torch.equal(value, actor.state_dict()[name]), name
