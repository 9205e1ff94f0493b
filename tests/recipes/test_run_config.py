"""The recipes' config schemas and start-up checks: a bad value fails before anything runs, naming its field."""

import re
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException

from bikkle_rl.conf import compose_config
from bikkle_rl.envs.config import BikkleConfig
from bikkle_rl.gaze import RealisticGaze
from bikkle_rl.human.simulate import simulate_recording
from bikkle_rl.modules.config import ModelConfig
from bikkle_rl.plain_config import plain_config
from bikkle_rl.recording import save_recording
from bikkle_rl.run_config import (
    ConfigError,
    check_evaluate_config,
    check_finetune_config,
    check_train_config,
    with_schema_defaults,
)


def composition_error(name: str, *overrides: str) -> str:
    """The whole message chain of the error Hydra raises composing ``name`` with ``overrides``."""
    with pytest.raises(ConfigCompositionException) as caught:
        compose_config(name, overrides)
    error, messages = caught.value, []
    while error is not None:
        messages.append(str(error))
        error = error.__cause__
    return "\n".join(messages)


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    """A short recorded session (a simulated person on the seed arena) that a replay scenario can play."""
    arena = BikkleConfig(num_pink=1, num_blue=1)
    path = tmp_path_factory.mktemp("recordings") / "session.npz"
    return save_recording(simulate_recording(arena, RealisticGaze(), num_arenas=2, steps=20, seed=0), path)


@pytest.mark.parametrize("override, field", [
    ("total_frames=abc", "total_frames"),
    ("seed=abc", "seed"),
    ("total_frames=1e6", "total_frames"),
    ("compile=maybe", "compile"),
    ("evaluation.episodes=many", "evaluation.episodes"),
    ("time_limit_minutes=soon", "time_limit_minutes"),
    ("model.hidden=wide", "model.hidden"),
    ("env.max_speed=fast", "env.max_speed"),
    ("algo.optim.lr=fast", "algo.optim.lr"),
    ("algo=sac", None),
    ("logger.tensorboard=maybe", "logger.tensorboard"),
    ("algo.epochs=abc", "algo.epochs"),
])
def test_hydra_refuses_a_value_of_the_wrong_type_naming_its_key(override, field):
    """Run fields by the run's schema, config groups by their options' schemas (``GROUP_SCHEMAS``)."""
    if field is None:  # a valid choice of group composes, typed
        assert compose_config("train", [override, "algo.actor_optim.lr=0.01"]).algo.actor_optim.lr == 0.01
        return
    assert f"full_key: {field}\n" in composition_error("train", override) + "\n"


def test_a_config_saved_before_a_field_existed_compares_equal_with_its_default_filled_in():
    """A field absent from a saved config ran at its schema default; a saved value still counts."""
    today = plain_config(compose_config("train", ["algo=sac", "model=mlp", "logger.log_dir=logs"]))
    at_default = [key for key, value in plain_config(ModelConfig()).items() if today["model"][key] == value]
    older = {**today, "model": {key: value for key, value in today["model"].items() if key not in at_default},
             "algo": {key: value for key, value in today["algo"].items() if key != "replay"}}
    assert at_default and older["model"] != today["model"] and "replay" in today["algo"]
    assert with_schema_defaults(older) == with_schema_defaults(today) == today
    changed = {**older, "model": {**older["model"], "hidden": 7}}
    assert with_schema_defaults(changed)["model"] != today["model"]


@pytest.mark.parametrize("overrides", [
    [],
    ["experiment=ppo_mlp"],
    ["experiment=sac_mlp"],
    ["experiment=gaze_trust", "model=transformer"],  # TINY picks the MLP
    ["algo=sac", "model=cnn", "env=gaze_value", "evaluation.protocol=gaze-value"],
    ["transforms=custom", "evaluation.references=[random,greedy,greedy-gaze]"],
    ["gaze=none", "+gaze.hold=true", "evaluation.protocol=train", "evaluation.scenarios=[realistic]"],
])
def test_the_recipe_configs_pass(compose_train, tmp_path, overrides):
    check_train_config(compose_train(tmp_path, *overrides))


@pytest.mark.parametrize("override, message", [
    ("cpu_threads=0", "cpu_threads=0: must be >= 1"),
    ("device=foo", "device='foo': not a device"),
    ("total_frames=0", "total_frames=0: must be >= 1"),
    ("time_limit_minutes=-1", "time_limit_minutes=-1.0: must be > 0"),
    ("checkpoint.every_frames=0", "checkpoint.every_frames=0: must be >= 1"),
    ("checkpoint.every_frames=-1", "checkpoint.every_frames=-1: must be >= 1"),
    ("checkpoint.keep_last=0", "checkpoint.keep_last=0: must be >= 1"),
    ("evaluation.episodes=0", "evaluation.episodes=0: must be >= 1"),
    ("evaluation.curve_episodes=0", "evaluation.curve_episodes=0: must be >= 1"),
    ("evaluation.every_frames=0", "evaluation.every_frames=0: must be >= 1"),
    ("evaluation.references=[greedy,foo]", "evaluation.references[1]='foo': unknown reference policy"),
    ("evaluation.protocol=foo", "evaluation.protocol='foo': unknown evaluation protocol"),
    ("evaluation.scenarios=[]", "evaluation.scenarios=[]: give at least one scenario"),
    ("evaluation.scenarios=[none,bogus]", "evaluation.scenarios[1]='bogus': unknown gaze scenario"),
    ("evaluation.scenarios=[none,replay:missing.npz]", "evaluation.scenarios[1]='replay:missing.npz': no recording"),
    ("evaluation.scenarios=[none,fitted:missing.yaml]", "evaluation.scenarios[1]='fitted:missing.yaml': no fitted"),
    ("env=gaze_value", "evaluation.protocol='seed': evaluation protocol 'seed' has 2 pellet slots"),
    ("init_from=missing.pt", "init_from='missing.pt': no such file"),
    ("env.max_speed=-1", "env.max_speed must be > 0"),
    ("model.encoder=rnn", "model.encoder must be one of"),
    ("algo.optim.lr=-1", "algo.optim.lr must be > 0"),
    ("algo.name=dqn", "algo.name='dqn': unknown algorithm"),
    ("gaze.source=foo", "gaze: unknown gaze source 'foo'"),
    ("gaze.p_valid=2", "gaze.p_valid must lie in [0, 1]"),
    ("logger.wandb_mode=sometimes", "logger.wandb_mode must be one of"),
    ("reward_norm.gamma=2", "reward_norm.gamma must be in [0, 1]"),
    ("action_scaling=round", "action_scaling must be one of"),
    ("num_envs=0", "num_envs must be >= 1"),
    ("collector=ray", "collector must be one of ('torchrl', 'fused'), got 'ray'"),
    ("+algo.bogus=1", "algo.bogus: Key 'bogus' not in 'PPOConfig'"),  # Hydra adds what `+` asks for
    ("+model.bogus=1", "model.bogus: Key 'bogus' not in 'ModelConfig'"),
])
def test_a_bad_value_fails_at_start_naming_its_field(compose_train, tmp_path, override, message):
    cfg = compose_train(tmp_path, override)
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}"):
        check_train_config(cfg)


def test_a_resumed_run_may_have_spent_its_budget(compose_train, tmp_path):
    check_train_config(compose_train(tmp_path, "total_frames=0", "resume=some/run"))


def test_replay_scenarios_with_their_files_pass(compose_train, tmp_path, recording):
    check_train_config(compose_train(tmp_path, f"evaluation.scenarios=[none,'replay:{recording}',"
                                               f"'replay-pellet:{recording}+{recording}']"))


def test_untyped_configs_are_checked_against_the_schema(compose_train, tmp_path):
    """A resumed or fine-tuned run's config is rebuilt from a checkpoint, untyped: the same types apply, and keys
    saved before they existed take the code's defaults."""
    plain = plain_config(compose_train(tmp_path))
    check_train_config(plain)
    older = {key: value for key, value in plain.items() if key not in ("cudagraphs", "force_resume", "action_bound")}
    check_train_config(older)
    for key, value, message in (("total_frames", "abc", "total_frames: Value 'abc'"),
                                ("compile", "maybe", "compile: Value 'maybe'"),
                                ("bogus", 1, "bogus: Key 'bogus' not in 'TrainConfig'")):
        with pytest.raises(ConfigError, match=f"^{message}"):
            check_train_config({**plain, key: value})
    with pytest.raises(ConfigError, match="^total_frames: no value given"):
        check_train_config({key: value for key, value in plain.items() if key != "total_frames"})
    for group, field, value, message in (("env", "max_speed", "fast", "env.max_speed: Value 'fast'"),
                                         ("algo", "epochs", "abc", "algo.epochs: Value 'abc'"),
                                         ("algo", "bogus", 1, "algo.bogus: Key 'bogus' not in 'PPOConfig'")):
        with pytest.raises(ConfigError, match=f"^{message}"):
            check_train_config({**plain, group: {**plain[group], field: value}})


@pytest.fixture
def agent_file(tmp_path) -> Path:
    path = tmp_path / "final.pt"
    path.write_bytes(b"")  # the checks only need it to exist
    return path


def test_evaluate_config_checks(agent_file, tmp_path, recording):
    def check(*overrides: str) -> None:
        check_evaluate_config(compose_config("evaluate", [f"checkpoint={agent_file}", f"out_dir={tmp_path}",
                                                          *overrides]))

    check()
    check(f"scenarios=[none,'replay-pellet:{recording}']", "references=[]", "protocol=gaze-value")
    for override, message in (("episodes=0", "episodes=0: must be >= 1"),
                              ("cpu_threads=0", "cpu_threads=0: must be >= 1"),
                              ("device=foo", "device='foo': not a device"),
                              ("references=[foo]", "references[0]='foo': unknown reference policy"),
                              ("scenarios=[none,replay:missing.npz]", "scenarios[1]='replay:missing.npz': no recording"),
                              ("oracle_checkpoint=missing.pt", "oracle_checkpoint='missing.pt': no such file"),
                              ("checkpoint=missing.pt", "checkpoint='missing.pt': no such file")):
        with pytest.raises(ConfigError, match=f"^{re.escape(message)}"):
            check(override)


def test_finetune_config_checks(agent_file, tmp_path, recording):
    def check(*overrides: str) -> None:
        check_finetune_config(compose_config("finetune_gaze", [f"checkpoint={agent_file}", f"out_dir={tmp_path}",
                                                               *overrides]))

    check()
    check("gaze=replay", f"gaze.path=[{recording}]", f"heldout=[{recording}]", "+algo.target_kl=0.02")
    check("evaluation.scenarios=[]", f"heldout=[{recording}]")  # the held-out sessions are its scenarios
    for override, message in (("evaluation.episodes=0", "evaluation.episodes=0: must be >= 1"),
                              ("total_frames=0", "total_frames=0: must be >= 1"),
                              ("lr=-1", "lr=-1.0: must be > 0"),
                              ("min_scale=0", "min_scale=0.0: must be > 0"),
                              ("gaze_adapter=-1", "gaze_adapter=-1: must be >= 0"),
                              ("heldout=[missing.npz]", "heldout[0]='missing.npz': no recording"),
                              ("evaluation.references=[foo]", "evaluation.references[0]='foo'"),
                              ("evaluation.scenarios=[]", "evaluation.scenarios=[]: give at least one scenario"),
                              ("evaluation.scenarios=[none,replay:missing.npz]", "evaluation.scenarios[1]=")):
        with pytest.raises(ConfigError, match=f"^{re.escape(message)}"):
            check(override)
    with pytest.raises(ConfigError, match="^gaze: no recording at missing.npz"):
        check("gaze=replay", "gaze.path=[missing.npz]")
