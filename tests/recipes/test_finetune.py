"""Gaze-only fine-tuning: the freeze keeps every non-gaze parameter bit-identical; the recipe end to end."""

import json
from pathlib import Path

import pytest
import torch
from hydra.errors import ConfigCompositionException
from omegaconf import open_dict
from torchrl.envs.utils import ExplorationType, set_exploration_type

from bikkle_rl.agent_io import load_agent
from bikkle_rl.checkpoint import load_checkpoint
from bikkle_rl.conf import compose_config
from bikkle_rl.envs.config import BikkleConfig
from bikkle_rl.envs.stack import make_env
from bikkle_rl.envs.transforms.token_layout import TokenType
from bikkle_rl.experiment import env_stack, make_algorithm, make_train_env
from bikkle_rl.finetune import finetune_config, run_finetune
from bikkle_rl.gaze import RealisticGaze
from bikkle_rl.human.simulate import simulate_recording
from bikkle_rl.modules import ModelConfig, gaze_parameters, make_actor
from bikkle_rl.plain_config import plain_config
from bikkle_rl.recording import save_recording
from bikkle_rl.training import train

SMALL_UPDATE = ["num_envs=16", "algo.frames_per_env=8", "algo.epochs=2", "algo.minibatches=2", "gaze=correlated"]


def one_update(cfg):
    """A PPO algorithm built from ``cfg``, its networks' parameters before, and after one update."""
    device = torch.device("cpu")
    env = make_train_env(cfg, device, seed=0)
    algo = make_algorithm(cfg, env, device=device)
    networks = {"actor": algo.actor, "critic": algo.critic}
    before = {role: {name: p.detach().clone() for name, p in net.named_parameters()} for role, net in networks.items()}
    with torch.no_grad():
        batch = env.rollout(8, algo.actor, break_when_any_done=False, auto_reset=True)
    algo.update(batch)
    return algo, networks, before


def changed(before: dict, network: torch.nn.Module, gaze: bool) -> dict[str, bool]:
    """``{name: parameter changed}`` over the gaze (or the non-gaze) parameters of ``network``."""
    gaze_ids = {id(p) for p in gaze_parameters(network)}
    return {name: not torch.equal(before[name], p) for name, p in network.named_parameters()
            if (id(p) in gaze_ids) == gaze}


@pytest.mark.parametrize("encoder", ["mlp", "transformer", "cnn"])
def test_freeze_keeps_every_non_gaze_parameter_bit_identical(compose_train, tmp_path, encoder):
    cfg = compose_train(tmp_path, *SMALL_UPDATE, "freeze_non_gaze=true")
    with open_dict(cfg):
        cfg.model.encoder = encoder
        cfg.stack = encoder
    algo, networks, before = one_update(cfg)
    trained = {id(p) for group in algo.optimizer.param_groups for p in group["params"]}
    assert trained == {id(p) for net in networks.values() for p in gaze_parameters(net)}
    for role, network in networks.items():
        non_gaze = changed(before[role], network, gaze=False)
        assert non_gaze and not any(non_gaze.values()), (role, [n for n, c in non_gaze.items() if c])
        assert any(changed(before[role], network, gaze=True).values()), role


def test_unfrozen_fine_tune_trains_everything(compose_train, tmp_path):
    cfg = compose_train(tmp_path, *SMALL_UPDATE, "freeze_non_gaze=false")
    _, networks, before = one_update(cfg)
    for role, network in networks.items():
        assert sum(changed(before[role], network, gaze=False).values()) > 2, role


def test_freeze_fails_clearly_without_gaze_or_with_sac(compose_train, tmp_path):
    cfg = compose_train(tmp_path, "freeze_non_gaze=true")
    with open_dict(cfg):
        cfg.gaze = None  # an MLP without gaze columns has no gaze parameters
    with pytest.raises(ValueError, match="no gaze parameters"):
        one_update(cfg)
    with pytest.raises(ValueError, match="freeze_non_gaze"):
        one_update(compose_train(tmp_path, "freeze_non_gaze=true", "algo.name=sac"))


def compose_finetune(*overrides: str):
    return compose_config("finetune_gaze", overrides)


def test_finetune_config_swaps_gaze_budget_and_freeze(compose_train, tmp_path):
    pretrained = plain_config(compose_train(tmp_path, "gaze=mixture"))
    cfg = compose_finetune("checkpoint=pre.pt", "gaze=uniform", "freeze=false", "lr=0.001", "total_frames=1000",
                           f"out_dir={tmp_path}")
    train_cfg = finetune_config(cfg, pretrained, tmp_path / "ft")
    assert train_cfg.gaze == {"source": "uniform", "p_valid": 0.25}  # replaced, not merged with the mixture
    assert train_cfg.init_from == "pre.pt" and train_cfg.resume is None
    assert train_cfg.freeze_non_gaze is False and train_cfg.total_frames == 1000
    assert train_cfg.algo.optim.lr == 0.001 and train_cfg.algo.epochs == pretrained["algo"]["epochs"]
    assert train_cfg.model == pretrained["model"] and train_cfg.env == pretrained["env"]
    assert train_cfg.logger.log_dir == str(tmp_path / "ft")
    assert train_cfg.evaluation.protocol == "gaze-value"


def test_finetune_overrides_the_pretrained_algorithm_where_asked(compose_train, tmp_path):
    pretrained = plain_config(compose_train(tmp_path, "gaze=none"))
    assert finetune_config(compose_finetune("checkpoint=pre.pt", f"out_dir={tmp_path}"), pretrained,
                           tmp_path / "ft").algo.optim.warmup == 0.1  # the fine-tune's default
    cfg = compose_finetune("checkpoint=pre.pt", "+algo.target_kl=0.02", "algo.optim.warmup=0.2", "lr=1e-4",
                           f"out_dir={tmp_path}")
    algo = finetune_config(cfg, pretrained, tmp_path / "ft").algo
    assert algo.target_kl == 0.02 and algo.optim.warmup == 0.2 and algo.optim.lr == 1e-4
    assert {**algo, "target_kl": None, "optim": None} == {**pretrained["algo"], "optim": None}
    assert {**algo.optim, "warmup": 0.0, "lr": 3e-4} == pretrained["algo"]["optim"]


def test_finetune_keeps_the_pretrained_gaze_holding(compose_train, tmp_path):
    """A held gaze adds the agent's ``gaze_age`` input: the fine-tune's source must keep it."""
    pretrained = plain_config(compose_train(tmp_path, "gaze=none", "+gaze.hold=true", "+gaze.max_age=7"))
    train_cfg = finetune_config(compose_finetune("checkpoint=pre.pt", "gaze=correlated", f"out_dir={tmp_path}"),
                                pretrained, tmp_path / "ft")
    assert train_cfg.gaze == {"source": "correlated", "p_valid": 0.25, "hold": True, "max_age": 7}
    unheld = finetune_config(compose_finetune("checkpoint=pre.pt", "+gaze.hold=false", f"out_dir={tmp_path}"),
                             pretrained, tmp_path / "ft")
    assert unheld.gaze.hold is False  # the fine-tune's own setting wins


def test_a_transformer_gets_the_gaze_adapter_and_other_encoders_do_not(compose_train, tmp_path):
    """A no-gaze transformer also loses its never-learned gaze token (unless kept); one trained with gaze keeps it."""
    transformer = plain_config(compose_train(tmp_path, "model=transformer", "gaze=none"))
    adapted = finetune_config(compose_finetune("checkpoint=pre.pt", "gaze_adapter=12", f"out_dir={tmp_path}"),
                              transformer, tmp_path / "ft")
    assert adapted.model == {**transformer["model"], "gaze_adapter": 12, "gaze_token": False}
    kept = finetune_config(compose_finetune("checkpoint=pre.pt", "drop_unseen_gaze_token=false",
                                            f"out_dir={tmp_path}"), transformer, tmp_path / "ft")
    assert kept.model == {**transformer["model"], "gaze_adapter": 32}
    gaze_trained = plain_config(compose_train(tmp_path, "model=transformer", "gaze=uniform"))
    assert finetune_config(compose_finetune("checkpoint=pre.pt", f"out_dir={tmp_path}"), gaze_trained,
                           tmp_path / "ft").model == {**gaze_trained["model"], "gaze_adapter": 32}
    bare = finetune_config(compose_finetune("checkpoint=pre.pt", "gaze_adapter=0", f"out_dir={tmp_path}"),
                           transformer, tmp_path / "ft")
    assert bare.model.gaze_adapter == 0 and bare.model.gaze_token
    mlp = plain_config(compose_train(tmp_path, "gaze=none"))
    assert finetune_config(compose_finetune("checkpoint=pre.pt", f"out_dir={tmp_path}"), mlp, tmp_path).model == \
        mlp["model"]


def stop_exploring(actor) -> None:
    """Pushes ``actor``'s scale down to its lower bound everywhere, as in a pretrained agent that stopped exploring."""
    policy_net = actor.module[0].module
    with torch.no_grad():
        if hasattr(policy_net.normal_params, "state_independent_scale"):
            policy_net.normal_params.state_independent_scale.fill_(-20.0)
        else:  # the output layer's second half maps to the state-dependent scale
            half = policy_net.out.bias.numel() // 2
            policy_net.out.weight[half:] = 0.0
            policy_net.out.bias[half:] = -20.0


@pytest.mark.parametrize("scale", ["state", "global"])
def test_the_exploration_floor_widens_sampling_and_leaves_deterministic_play(compose_train, tmp_path, scale):
    """``min_scale`` reaches the fine-tune's model; a pretrained agent that stopped exploring, in that network,
    samples with a scale of at least the floor and acts as before under the mean action."""
    pretrained = plain_config(compose_train(tmp_path, "gaze=none", f"model.scale={scale}"))
    cfg = compose_finetune("checkpoint=pre.pt", "min_scale=0.2", f"out_dir={tmp_path}")
    model = finetune_config(cfg, pretrained, tmp_path / "ft").model
    assert model == {**pretrained["model"], "min_scale": 0.2}
    env = make_env(env_stack(pretrained, num_envs=64, reward_norm=None), seed=0)
    plain, floored = (make_actor(ModelConfig(**config), env) for config in (pretrained["model"], model))
    stop_exploring(plain)
    floored.load_state_dict(plain.state_dict())
    td = env.reset()
    with torch.no_grad():
        assert (plain(td.clone())["scale"] < 1e-3).all() and (floored(td.clone())["scale"] >= 0.2).all()
        with set_exploration_type(ExplorationType.DETERMINISTIC):
            assert torch.equal(plain(td.clone())["action"], floored(td.clone())["action"])
    assert compose_finetune("checkpoint=pre.pt").min_scale is None  # by default the pretrained run's floor
    with pytest.raises(ConfigCompositionException) as caught:  # the typed schema: Hydra names the field
        compose_finetune("checkpoint=pre.pt", "min_scale=wide", f"out_dir={tmp_path}")
    assert "full_key: min_scale" in str(caught.value.__cause__)


def assert_starts_blind_to_gaze(pretrained: Path, finetune_config: dict) -> None:
    """The no-gaze agent in the fine-tune's network (adapter fresh, gaze token dropped) acts with gaze present as
    the pretrained agent acts without it, where the pretrained agent with its gaze token acts otherwise."""
    assert finetune_config["model"]["gaze_token"] is False
    start, _ = load_agent(pretrained, model=finetune_config["model"])
    plain, _ = load_agent(pretrained)
    with_gaze = make_env(env_stack(finetune_config, num_envs=16, reward_norm=None), seed=0).reset()
    with_gaze["token_mask"] = with_gaze["token_mask"] | (with_gaze["token_type"] == TokenType.GAZE)
    without_gaze = with_gaze.clone()
    without_gaze["token_mask"] = with_gaze["token_mask"] & (with_gaze["token_type"] != TokenType.GAZE)
    with torch.no_grad():
        assert torch.equal(start(with_gaze.clone())["loc"], plain(without_gaze.clone())["loc"])
        assert not torch.equal(plain(with_gaze.clone())["loc"], plain(without_gaze.clone())["loc"])


@pytest.mark.parametrize("model", ["mlp", "transformer"])
def test_gaze_only_finetune_end_to_end(compose_train, tmp_path, model):
    """Every pretrained non-gaze parameter comes back bit-identical, every gaze one trained; the transformer's
    gaze adapter, new in the fine-tune, trained from its zero output. The transformer, trained without gaze,
    starts the fine-tune without its gaze token: before it, gaze changes nothing."""
    pre_dir = tmp_path / "pretrained"
    train(compose_train(pre_dir, f"model={model}", "env=gaze_value", "gaze=none", "total_frames=512",
                        "evaluation.protocol=gaze-value", "evaluation.curve_episodes=8"), pre_dir)
    out_dir = tmp_path / "finetune"
    cfg = compose_finetune(f"checkpoint={pre_dir / 'final.pt'}", "total_frames=512", "lr=0.01",
                           "algo.optim.warmup=0.0",  # one update: a warmup would run it at a learning rate of 0
                           "evaluation.scenarios=[correlated]", "evaluation.episodes=8", "evaluation.references=[]",
                           f"out_dir={out_dir}")
    output = run_finetune(cfg)

    pretrained = load_checkpoint(pre_dir / "final.pt")["algo"]
    tuned = output["run"].algo
    for role, network in (("actor", tuned.actor), ("critic", tuned.critic)):
        gaze_ids = {id(p) for p in gaze_parameters(network)}
        for name, parameter in network.named_parameters():
            if name in pretrained[role]:
                assert torch.equal(parameter, pretrained[role][name]) != (id(parameter) in gaze_ids), (role, name)
            else:
                assert "gaze_adapter" in name and id(parameter) in gaze_ids, (role, name)
                assert not name.endswith("net.2.weight") or torch.count_nonzero(parameter) > 0, (role, name)
        assert any("gaze_adapter" in name for name, _ in network.named_parameters()) == (model == "transformer")
    assert load_checkpoint(out_dir / "final.pt")["config"]["freeze_non_gaze"] is True

    data = json.loads((out_dir / "report" / "eval.json").read_text())
    assert set(data["results"]) == {"correlated"} and set(data["results"]["correlated"]) == {"before", "after"}
    assert data["gaze_value"] is None  # needs the uniform, none and oracle scenarios too
    after, before = data["results"]["correlated"]["after"], data["results"]["correlated"]["before"]
    assert data["improved"]["correlated"] == (after["ci_low"] > before["ci_high"])
    if model == "transformer":
        assert_starts_blind_to_gaze(pre_dir / "final.pt", load_checkpoint(out_dir / "final.pt")["config"])
    assert data["finetune"]["freeze"] is True and data["finetune"]["frames"] == 512
    assert (out_dir / "report" / "learning_curve.png").is_file()


@pytest.mark.slow
def test_finetune_on_a_persons_recordings_evaluates_on_held_out_sessions(compose_train, tmp_path):
    """Simulated sessions of one person: fine-tune on two, evaluate before/after on the third, replayed closed
    loop; a held-out file that is also trained on is refused."""
    config = BikkleConfig(num_pink=3, num_blue=3, episode_mode="continuing", max_steps=40)
    sessions = [save_recording(simulate_recording(config, RealisticGaze(), num_arenas=2, seed=seed),
                               tmp_path / f"session{seed}.npz") for seed in range(3)]
    pre_dir = tmp_path / "pretrained"
    train(compose_train(pre_dir, "model=mlp", "env=gaze_value", "gaze=none", "total_frames=256",
                        "evaluation.protocol=gaze-value", "evaluation.curve_episodes=4"), pre_dir)
    common = [f"checkpoint={pre_dir / 'final.pt'}", "gaze=replay", "total_frames=256", "algo.optim.warmup=0.0",
              "evaluation.scenarios=[none]", "evaluation.episodes=4", "evaluation.references=[greedy]"]
    with pytest.raises(ValueError, match=r"heldout recording .*session0\.npz is also in gaze\.path"):
        run_finetune(compose_finetune(*common, f"gaze.path=[{sessions[0]}]", f"heldout=[{sessions[0]}]",
                                      f"out_dir={tmp_path / 'refused'}"))
    out_dir = tmp_path / "finetune"
    cfg = compose_finetune(*common, f"gaze.path=[{sessions[0]},{sessions[1]}]", f"heldout=[{sessions[2]}]",
                           f"out_dir={out_dir}")
    output = run_finetune(cfg)
    heldout = f"replay-pellet:{sessions[2]}"
    assert list(output["results"]) == [heldout, "none"]
    assert set(output["results"][heldout]) == {"before", "after", "greedy"}
    gaze = load_checkpoint(out_dir / "final.pt")["config"]["gaze"]
    assert gaze["source"] == "replay" and gaze["align"] == "pellet" and len(gaze["path"]) == 2
