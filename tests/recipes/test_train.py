"""The training recipe: learning smoke test, checkpoints, resume, clear errors, compile on CPU."""

import shutil
import subprocess

import pytest
import torch

from bikkle_rl import experiment
from bikkle_rl.checkpoint import CheckpointError, load_checkpoint
from bikkle_rl.envs.stack import make_env
from bikkle_rl.envs.transforms import MaxNormAction
from bikkle_rl.evaluation.cells import reference_factory
from bikkle_rl.evaluation.rollout import evaluate_policy
from bikkle_rl.experiment import (
    built_model_config,
    checkpoint_payload,
    env_stack,
    make_algorithm,
    make_train_env,
    resume_from,
)
from bikkle_rl.modules import make_networks
from bikkle_rl.resume import ResumeConfigError
from bikkle_rl.training import run_progress, train

ONE_PINK = ["env.num_blue=0", "gaze=none", "env.start_round_step=zero", "env.shaping=0.1", "evaluation.protocol=train",
            "model.distribution=tanh_normal", "model.scale=state"]  # the head that learns fastest in a tiny budget


def continuing_returns(cfg, policy_factory, episodes=64) -> float:
    """Mean return of a policy on the training arena in continuing mode, 200 steps, raw reward."""
    stack = env_stack(cfg, num_envs=episodes, reward_norm=None)
    stack["env"] = {**stack["env"], "episode_mode": "continuing", "start_round_step": "zero"}
    env = make_env(stack, seed=123)
    return evaluate_policy(policy_factory(env), env)["return"].mean().item()


@pytest.mark.slow
def test_short_ppo_run_beats_random(compose_train, tmp_path):
    cfg = compose_train(tmp_path, *ONE_PINK, "num_envs=64", "algo.frames_per_env=32", "total_frames=120000")
    run = train(cfg, tmp_path)
    agent = continuing_returns(cfg, lambda env: run.algo.actor)
    random = continuing_returns(cfg, reference_factory("random"))
    assert run.frames >= 120000
    assert agent > random + 2.0, (agent, random)
    assert (tmp_path / "final.pt").is_file()
    assert max(p.name for p in (tmp_path / "checkpoints").iterdir()).endswith(f"{run.frames:012d}.pt")


def one_batch(env, actor, steps=16):
    with torch.no_grad():
        return env.rollout(steps, actor, break_when_any_done=False, auto_reset=True)


def test_resume_restores_everything_the_next_update_needs(compose_train, tmp_path):
    cfg = compose_train(tmp_path, "total_frames=4096")
    device = torch.device("cpu")
    env = make_train_env(cfg, device, seed=0)
    algo = make_algorithm(cfg, env, device=device)
    algo.update(one_batch(env, algo.actor))
    path = tmp_path / "ckpt.pt"
    torch.save(checkpoint_payload(cfg, algo, env, frames=512, iterations=1), path)
    batch = one_batch(env, algo.actor)

    torch.set_rng_state(load_checkpoint(path)["rng"]["torch"])
    expected = algo.update(batch.clone())
    fresh_env = make_train_env(cfg, device, seed=99)
    fresh = make_algorithm(cfg, fresh_env, device=device)
    assert resume_from(path, fresh, fresh_env) == (512, 1, [])
    assert fresh.updates_done == 1
    got = fresh.update(batch.clone())
    assert got == expected
    for name, value in algo.actor.state_dict().items():
        assert torch.equal(value, fresh.actor.state_dict()[name]), name


def test_resume_continues_the_step_counter_and_the_learning_curve(compose_train, tmp_path):
    first = train(compose_train(tmp_path, "total_frames=1024", "evaluation.every_frames=512"), tmp_path)
    latest = max((tmp_path / "checkpoints").iterdir())
    second_dir = tmp_path / "second"
    cfg = compose_train(second_dir, "total_frames=2048", "evaluation.every_frames=512", f"resume={latest}")
    second = train(cfg, second_dir)
    assert first.frames == 1024 and second.frames == 2048
    assert load_checkpoint(second_dir / "final.pt")["iterations"] == 4
    earlier = first.history  # the latest checkpoint is the final one: the curve with its final point, once
    assert [row["frames"] for row in earlier] == [512, 1024]
    assert second.history[:len(earlier)] == earlier
    later = second.history[len(earlier):]
    assert [row["frames"] for row in later] == [1536, 2048]
    assert later[0]["seconds"] >= earlier[-1]["seconds"]
    assert load_checkpoint(second_dir / "final.pt")["curve"] == second.history


def test_init_from_loads_weights_into_a_new_run(compose_train, tiny_run, tmp_path):
    source = load_checkpoint(tiny_run / "final.pt")["algo"]["actor"]
    cfg = compose_train(tmp_path / "b", "total_frames=512", f"init_from={tiny_run / 'final.pt'}",
                        "algo.optim.lr=1e-12")
    run = train(cfg, tmp_path / "b")
    for name, value in run.algo.actor.state_dict().items():
        assert torch.allclose(value, source[name], atol=1e-6), name


def test_truncated_or_foreign_checkpoint_gives_a_clear_error(compose_train, tiny_run, tmp_path):
    good = tiny_run / "final.pt"
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    cfg = compose_train(tmp_path / "b", f"resume={truncated}")
    with pytest.raises(CheckpointError, match="truncated.pt"):
        train(cfg, tmp_path / "b")
    other_model = compose_train(tmp_path / "c", "model=transformer", f"resume={good}")
    with pytest.raises(ResumeConfigError, match="final.pt.*model.encoder: 'mlp' -> 'transformer'"):
        train(other_model, tmp_path / "c")
    forced = compose_train(tmp_path / "d", "model=transformer", f"resume={good}", "force_resume=true")
    with pytest.raises(CheckpointError, match="final.pt"):
        train(forced, tmp_path / "d")


@pytest.mark.parametrize(
    "override, match",
    [
        ("algo.epochs=0", "epochs"),
        ("algo.gamma=1.5", "gamma"),
        ("model.encoder=rnn", "rnn"),
        ("env.num_pink=0", "num_pink"),
        ("algo.name=dqn", "algo.name"),
        ("device=cuda:7", "cuda"),
    ],
)
def test_bad_config_values_fail_clearly(compose_train, tmp_path, override, match):
    if override.startswith("device") and torch.cuda.is_available():
        pytest.skip("a CUDA machine may have that device")
    with pytest.raises(ValueError, match=match):
        train(compose_train(tmp_path, override), tmp_path)


def test_learning_rate_anneals_to_zero_at_the_frame_budget_or_the_time_limit(compose_train, tmp_path):
    frames_only = compose_train(tmp_path, "total_frames=1000")
    assert run_progress(frames_only, 250, elapsed_s=1e6) == 0.25
    timed = compose_train(tmp_path, "total_frames=1000", "time_limit_minutes=2", "num_envs=16",
                          "algo.frames_per_env=4", "algo.epochs=1", "algo.minibatches=1")
    assert run_progress(timed, 250, elapsed_s=30.0) == 0.25  # frames ahead of the clock
    assert run_progress(timed, 250, elapsed_s=90.0) == 0.75  # the clock ahead: 1.5 of 2 minutes
    assert run_progress(timed, 250, elapsed_s=600.0) == 1.0
    device = torch.device("cpu")
    env = make_train_env(timed, device, seed=0)
    algo = make_algorithm(timed, env, device=device)
    metrics = algo.update(one_batch(env, algo.actor, steps=4), progress=0.75)
    assert metrics["learning_rate"] == pytest.approx(0.25 * timed.algo.optim.lr)
    metrics = algo.update(one_batch(env, algo.actor, steps=4), progress=1.0)
    assert metrics["learning_rate"] == 0.0


@pytest.mark.slow
def test_compiled_update_runs_on_cpu_without_recompiling_as_the_learning_rate_anneals(compose_train, tmp_path):
    cfg = compose_train(tmp_path, "compile=true", "num_envs=16", "algo.frames_per_env=8", "algo.epochs=1",
                        "algo.minibatches=1")
    device = torch.device("cpu")
    env = make_train_env(cfg, device, seed=0)
    algo = make_algorithm(cfg, env, device=device)
    before = [p.clone() for p in algo.actor.parameters()]
    batch = one_batch(env, algo.actor, steps=8)
    metrics = algo.update(batch)
    assert all(torch.isfinite(torch.tensor(v)) for v in metrics.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, algo.actor.parameters()))
    # The annealed learning rate changes every update: after one recompile it is a dynamic input, so a long
    # run stays compiled instead of recompiling per update until dynamo gives up and falls back to eager.
    algo.update(batch, progress=0.1)
    with torch._dynamo.config.patch(error_on_recompile=True):
        for progress in (0.2, 0.3, 0.4):
            metrics = algo.update(batch, progress=progress)
    assert metrics["learning_rate"] == pytest.approx(0.6 * cfg.algo.optim.lr)


def test_cudagraphs_request_on_cpu_warns_and_runs_eagerly(compose_train, tmp_path):
    cfg = compose_train(tmp_path, "cudagraphs=true", "total_frames=512")
    with pytest.warns(UserWarning, match="cudagraphs"):
        run = train(cfg, tmp_path)
    assert run.frames == 512


def test_eager_cudagraphs_with_a_gaussian_ppo_policy_is_refused_by_name(compose_train, tmp_path, monkeypatch):
    """Captured without compile, ClipPPOLoss's host-side NaN check of a Gaussian's entropy breaks the capture (seen
    on an H200): on CUDA that setup fails at start-up with the fields named. CUDA is simulated here."""
    monkeypatch.setattr(experiment, "cudagraphs_available", lambda requested, device: requested)
    cfg = compose_train(tmp_path, "model=mlp", "model.distribution=normal", "cudagraphs=true", "compile=false")
    env = make_train_env(cfg, torch.device("cpu"), seed=0)
    with pytest.raises(ValueError, match="model.distribution=tanh_normal.*'normal'"):
        make_algorithm(cfg, env, torch.device("cpu"))


@pytest.mark.parametrize("script", ["bikkle-train", "bikkle-eval", "bikkle-finetune"])
def test_console_scripts_find_their_config_from_any_directory(script, tmp_path):
    """The installed entry points load ``bikkle_rl/conf`` as a package, not relative to the working directory."""
    if shutil.which(script) is None:
        pytest.skip(f"{script} is not installed (pip install -e .)")
    done = subprocess.run([script, "--cfg", "job"], check=False, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "seed:" in done.stdout


@pytest.mark.parametrize("algo, num_envs, bound", [("ppo", 1024, 1.0), ("sac", 64, 2.0)])
def test_the_algorithm_sets_the_env_defaults_and_the_run_overrides(compose_defaults, algo, num_envs, bound):
    default = compose_defaults(f"algo={algo}")
    overridden = compose_defaults(f"algo={algo}", "num_envs=8", "action_bound=1.5", "logger.log_dir=unused")
    assert (default.num_envs, default.action_bound) == (num_envs, bound)
    env = make_env(env_stack(overridden))
    assert env.batch_size == (8,) and env.action_spec.space.high.eq(1.5).all()


def test_the_sac_mlp_experiment_trains_in_continuing_mode_with_the_action_in_the_critics_encoder(compose_defaults):
    cfg = compose_defaults("experiment=sac_mlp", "logger.log_dir=unused")
    assert (cfg.algo.name, cfg.model.encoder, cfg.algo.replay.kind, cfg.num_envs) == ("sac", "mlp", "uniform", 64)
    env = make_env(env_stack(cfg, num_envs=2))
    assert env.base_env.config.episode_mode == "continuing"
    _, critics = make_networks(built_model_config(cfg), env, "sac")
    assert all(critic.module.action_in_encoder for critic in critics)


def test_the_ppo_mlp_experiment_sets_its_tuned_values_and_the_command_line_still_wins(compose_defaults):
    cfg = compose_defaults("experiment=ppo_mlp", "seed=3", "algo.optim.lr=5e-4", "logger.log_dir=unused")
    assert (cfg.model.encoder, cfg.num_envs, cfg.algo.frames_per_env) == ("mlp", 2048, 8)
    assert (cfg.seed, cfg.algo.optim.lr, cfg.action_scaling) == (3, 5e-4, "full_speed")
    assert cfg.algo.gamma == cfg.reward_norm.gamma == 0.97  # the reward normaliser discounts as the return does
    env = make_env(env_stack(cfg, num_envs=2))
    assert [t.full_speed for t in env.transform if isinstance(t, MaxNormAction)] == [True]
