"""The fused collector yields torchrl's Collector's batches (keys, values, trajectory ids), compiles whole, and
stays compiled (no graph break, no recompile) in its steady state."""

import pytest
import torch
import torch._dynamo
from torchrl.envs import TransformedEnv

from bikkle_rl.envs import BikkleEnv
from bikkle_rl.experiment import make_algorithm, make_collector, make_train_env
from bikkle_rl.fused_collector import FusedCollector

SMALL = ("num_envs=16", "algo.frames_per_env=8", "env.max_steps=12", "compile=false")  # resets in every batch
STACKS = {
    "mlp": ("model=mlp",),
    "transformer": ("model=transformer", "model.transformer_layers=1"),
    "gaze_evidence": ("model=transformer", "model.transformer_layers=1", "gaze=correlated", "+gaze.hold=true",
                      "transforms=gaze_evidence"),
    "gaze_trust": ("model=transformer", "model.transformer_layers=1", "gaze=correlated", "+gaze.hold=true",
                   "transforms=gaze_trust", "env.episode_mode=continuing"),
    "sac_warmup": ("algo=sac", "model=mlp", "algo.init_random_frames=256", "algo.frames_per_env=8"),
}


def batches(cfg, collector_name: str, count: int, **fused_options) -> list:
    """``count`` batches of the run config's env and policy (built from the same seeds) by one collector."""
    torch.manual_seed(0)
    env = make_train_env(cfg, torch.device("cpu"), seed=0)
    algo = make_algorithm(cfg, env, torch.device("cpu"))
    if collector_name == "torchrl":
        collector = make_collector(cfg, env, algo, total_frames=-1, device=torch.device("cpu"))
    else:
        frames = env.batch_size.numel() * cfg.algo.frames_per_env
        collector = FusedCollector(env, algo.collection_policy, frames, init_random_frames=algo.init_random_frames,
                                   **fused_options)
    torch.manual_seed(1)  # the policy's exploration noise
    it = iter(collector)
    return [next(it) for _ in range(count)]


def assert_same_batches(expected: list, got: list) -> None:
    for reference, batch in zip(expected, got, strict=True):
        assert batch.batch_size == reference.batch_size
        assert set(batch.keys(True, True)) == set(reference.keys(True, True))
        for key in reference.keys(True, True):
            torch.testing.assert_close(batch[key], reference[key], rtol=0, atol=0, msg=f"{key}")


@pytest.mark.parametrize("stack", list(STACKS))
def test_the_fused_batches_are_the_collectors(compose_train, tmp_path, stack):
    cfg = compose_train(tmp_path, *SMALL, *STACKS[stack])
    expected = batches(cfg, "torchrl", 4)
    assert sum(int(b["next", "done"].sum()) for b in expected) >= 16  # partial resets happen
    assert int(expected[-1]["collector", "traj_ids"].max()) >= 16  # new trajectories get ids
    assert_same_batches(expected, batches(cfg, "fused", 4))


@pytest.mark.parametrize("stack", ["mlp", "gaze_evidence", "gaze_trust"])
def test_compiled_steps_have_no_graph_break_no_recompile_and_the_same_data(compose_train, tmp_path, stack):
    """fullgraph=True fails on any graph break; after the first compiled step a recompile would raise. Dynamo's eager
    backend traces what inductor would compile, without its code generation (seconds, not a minute)."""
    cfg = compose_train(tmp_path, *SMALL, *STACKS[stack])
    expected = batches(cfg, "torchrl", 5)
    torch._dynamo.reset()
    torch.manual_seed(0)
    env = make_train_env(cfg, torch.device("cpu"), seed=0)
    algo = make_algorithm(cfg, env, torch.device("cpu"))
    collector = FusedCollector(env, algo.collection_policy, 16 * 8, compile=True, compile_options={"backend": "eager"})
    torch.manual_seed(1)
    got = [collector.next_batch()]  # eager: the layouts settle
    with torch._dynamo.config.patch(error_on_recompile=True):
        got += [collector.next_batch() for _ in range(4)]  # compiled at its first step, guards checked to the
        # batch's end (the steady state), then steps that skip the guard checks
    assert_same_batches(expected, got)


@pytest.mark.slow
def test_inductor_compiled_batches_are_the_collectors(compose_train, tmp_path):
    """Inductor draws the policy's noise from its own stream unless ``fallback_random`` (then it is eager's)."""
    cfg = compose_train(tmp_path, *SMALL, "model=mlp")
    expected = batches(cfg, "torchrl", 3)
    torch._dynamo.reset()
    with torch._inductor.config.patch(fallback_random=True):
        got = batches(cfg, "fused", 3, compile=True)
    for reference, batch in zip(expected, got):
        for key in reference.keys(True, True):
            torch.testing.assert_close(batch[key], reference[key], rtol=1e-5, atol=1e-5, msg=f"{key}")


def test_the_recipe_builds_the_fused_collector_with_its_budget(compose_train, tmp_path):
    cfg = compose_train(tmp_path, *SMALL, "model=mlp", "collector=fused")
    env = make_train_env(cfg, torch.device("cpu"), seed=0)
    algo = make_algorithm(cfg, env, torch.device("cpu"))
    collector = make_collector(cfg, env, algo, total_frames=300, device=torch.device("cpu"))
    assert isinstance(collector, FusedCollector)
    assert [b.numel() for b in collector] == [128, 128, 128]  # 300 rounded up to whole batches
    assert collector.frames == collector.total_frames == 384


def test_bad_setups_are_refused(compose_train, tmp_path):
    cfg = compose_train(tmp_path, *SMALL, "model=mlp")
    env = make_train_env(cfg, torch.device("cpu"), seed=0)
    policy = make_algorithm(cfg, env, torch.device("cpu")).collection_policy
    with pytest.raises(ValueError, match="frames_per_batch=100 must be a positive multiple of the arena count 16"):
        FusedCollector(env, policy, 100)
    with pytest.raises(ValueError, match="total_frames must be >= 1"):
        FusedCollector(env, policy, 128, total_frames=0)
    with pytest.raises(TypeError, match="needs a TransformedEnv over a BikkleEnv, got BikkleEnv"):
        FusedCollector(BikkleEnv(4), policy, 16)
    assert isinstance(env, TransformedEnv)
