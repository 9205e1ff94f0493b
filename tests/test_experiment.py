"""A run's checkpoint beside its algorithm: the replay-buffer snapshot it names and a resume reloads (the older
layout too), and the built model config that rebuilds the actor without the algorithm."""

from pathlib import Path

import torch
from omegaconf import DictConfig
from torchrl.envs import TransformedEnv

from bikkle_rl.agent_io import load_agent
from bikkle_rl.algorithms import Algorithm
from bikkle_rl.checkpoint import save_checkpoint
from bikkle_rl.experiment import checkpoint_payload, make_algorithm, make_train_env, resume_from

SMALL_SAC = ("algo=sac", "num_envs=4", "algo.frames_per_env=8", "algo.init_random_frames=0", "algo.batch_size=16",
             "algo.replay.size=1000")


def build(cfg: DictConfig) -> tuple[TransformedEnv, Algorithm]:
    env = make_train_env(cfg, torch.device("cpu"), seed=0)
    return env, make_algorithm(cfg, env, torch.device("cpu"))


def trained_payload(cfg: DictConfig) -> tuple[dict, Algorithm]:
    """The checkpoint of an algorithm after one update on a batch [4, 8], and the algorithm."""
    env, algo = build(cfg)
    with torch.no_grad():
        batch = env.rollout(8, algo.collection_policy, break_when_any_done=False, auto_reset=True)
    algo.update(batch)
    return checkpoint_payload(cfg, algo, env, frames=32, iterations=1), algo


def test_a_sac_checkpoint_names_its_buffer_snapshot_and_a_resume_reloads_it(compose_train, tmp_path):
    cfg = compose_train(tmp_path, *SMALL_SAC, "algo.save_buffer=true")
    payload, algo = trained_payload(cfg)
    assert Path(payload["buffer"]) == tmp_path / "replay_buffer" / "frames_000000000032"
    older = {key: value for key, value in payload.items() if key != "buffer"}
    older["algo"] = {**payload["algo"], "buffer": payload["buffer"]}  # the snapshot's place before it had its own
    for name, saved in (("checkpoint.pt", payload), ("older.pt", older)):
        env, resumed = build(cfg)
        resume_from(save_checkpoint(tmp_path / name, saved), resumed, env)
        assert len(resumed.buffer) == len(algo.buffer) > 0, name


def test_without_save_buffer_nothing_is_written(compose_train, tmp_path):
    payload, _ = trained_payload(compose_train(tmp_path, *SMALL_SAC))
    assert payload["buffer"] is None and not (tmp_path / "replay_buffer").exists()


def test_the_actor_is_rebuilt_from_the_built_model_config_or_from_an_older_checkpoint(compose_train, tmp_path):
    cfg = compose_train(tmp_path, *SMALL_SAC, "model.distribution=normal", "model.scale=global")
    payload, algo = trained_payload(cfg)
    assert (payload["model"]["distribution"], payload["model"]["scale"]) == ("tanh_normal", "state")  # SAC's actor
    older = {key: value for key, value in payload.items() if key != "model"}
    for name, saved in (("checkpoint.pt", payload), ("older.pt", older)):
        actor, _ = load_agent(save_checkpoint(tmp_path / name, saved))
        for key, value in algo.actor.state_dict().items():
            assert torch.equal(value, actor.state_dict()[key]), (name, key)
