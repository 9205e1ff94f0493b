"""Typed schemas of the recipes' configs and the start-up checks that types cannot express.

Each recipe's YAML names its schema first in its defaults list (``bikkle_rl/conf/train.yaml``: ``train_schema``,
:class:`TrainConfig`), so Hydra refuses a run-level value of the wrong type or an unknown key while it composes the
config, naming the field: ``bikkle-train total_frames=abc`` stops with ``Value 'abc' of type 'str' could not be
converted to Integer ... full_key: total_frames``. The schemas are registered with Hydra's ``ConfigStore`` when
this module is imported (:func:`register_configs`): whatever composes a recipe's config imports it first, as
:mod:`bikkle_rl.conf` does.

The checks (:func:`check_train_config`, :func:`check_evaluate_config`, :func:`check_finetune_config`) run before
any training or evaluation and cover the rest: ranges, the device, the evaluation's protocol, scenarios (their
recording and model files included) and reference policies, and each config group built into its dataclass
(``env`` -> :class:`~bikkle_rl.envs.config.BikkleConfig`, ``algo`` -> ``PPOConfig`` or ``SACConfig``...). They
accept untyped configs too (a resumed run's, rebuilt from its checkpoint; a fine-tune's, from the pretrained
run's), whose types they check against the same schemas. Every failure is a :class:`ConfigError` naming the
dotted field and its value::

    checkpoint.every_frames=0: must be >= 1
    evaluation.scenarios[1]='replay:s2.npz': no recording at s2.npz

The config groups stay untyped in the schemas (see :class:`TrainConfig` for why) and are checked by building their
dataclasses, whose field types are checked the same way first: ``env.max_speed=fast`` fails as
``env.max_speed: Value 'fast' of type 'str' could not be converted to Float``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from bikkle_rl.algorithms.ppo import PPOConfig
from bikkle_rl.algorithms.sac import SACConfig
from bikkle_rl.envs.config import BikkleConfig
from bikkle_rl.envs.stack import EnvStackConfig, GazeConfig
from bikkle_rl.evaluation.protocols import PROTOCOLS, evaluation_stack, replay_scenario, scenario_gaze
from bikkle_rl.modules.config import ModelConfig
from bikkle_rl.plain_config import plain_config
from bikkle_rl.policies import REFERENCE_POLICIES
from bikkle_rl.run_logging import LoggerConfig

# Fields without a default (MISSING) are set by the recipe's YAML. The others default to what the code assumes
# when a key is absent, as in a config saved before the key existed (a resumed run's or a pretrained one's).


@dataclass
class CheckpointConfig:
    """When a training run writes checkpoints and how many it keeps."""

    every_frames: int = MISSING
    keep_last: int = MISSING


@dataclass
class EvaluationConfig:
    """An evaluation: the agent beside the ``references`` on each of ``scenarios`` (gaze sources or recordings, see
    :mod:`bikkle_rl.evaluation.protocols`) in the ``protocol``'s arena, ``episodes`` batched episodes a cell."""

    protocol: str = MISSING
    scenarios: list[str] = MISSING
    references: list[str] = MISSING
    episodes: int = MISSING


@dataclass
class TrainEvaluationConfig(EvaluationConfig):
    """A training run's evaluation: the final one, its video and the learning curve along the run."""

    video: bool = MISSING
    every_frames: int = MISSING
    curve_episodes: int = MISSING


@dataclass
class TrainConfig:
    """``bikkle_rl/conf/train.yaml`` (``train_schema``): the config groups, then the run's own settings.

    The groups are typed by their options (:data:`GROUP_SCHEMAS`: ``algo/ppo.yaml`` lists ``ppo_schema`` first
    among its defaults...), so they stay ``Any`` here: ``algo`` is PPO's or SAC's by choice, and ``gaze`` stays
    untyped (each source has its own options; ``+gaze.hold=true`` adds one) and is checked by building its source.
    A config rebuilt from a checkpoint is untyped: :func:`check_train_config` builds every group's dataclass.
    """

    env: Any = MISSING  # BikkleConfig
    stack: str | None = "mlp"
    transforms: list[dict[str, Any]] | None = None
    oracle: bool = False
    gaze: Any = None  # GazeConfig.from_mapping, or null: no gaze
    model: Any = MISSING  # ModelConfig
    algo: Any = MISSING  # PPOConfig or SACConfig, by algo.name
    logger: Any = MISSING  # LoggerConfig
    seed: int = MISSING
    device: str = MISSING
    action_scaling: str = "max_norm"
    action_bound: float = 1.0
    cpu_threads: int = MISSING
    num_envs: int = MISSING
    total_frames: int = MISSING
    time_limit_minutes: float | None = None
    compile: bool = False
    cudagraphs: bool = False
    collector: str = "torchrl"
    reward_norm: dict[str, float | None] | None = None
    resume: str | None = None
    init_from: str | None = None
    freeze_non_gaze: bool = False
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    evaluation: TrainEvaluationConfig = field(default_factory=TrainEvaluationConfig)
    force_resume: bool = False


@dataclass
class EvaluateConfig:
    """``bikkle_rl/conf/evaluate.yaml`` (``evaluate_schema``): a trained agent's evaluation."""

    checkpoint: str = MISSING
    protocol: str = MISSING
    scenarios: list[str] = MISSING
    episodes: int = MISSING
    references: list[str] = MISSING
    oracle_checkpoint: str | None = None
    pool_earlier: int = 0
    movement: bool = MISSING
    deterministic: bool = MISSING
    video: Any = MISSING  # true | false | attention: checked by check_evaluate_config (OmegaConf has no bool | str)
    seed: int = MISSING
    device: str = MISSING
    cpu_threads: int = MISSING
    out_dir: str = MISSING


@dataclass
class FinetuneConfig:
    """``bikkle_rl/conf/finetune_gaze.yaml`` (``finetune_gaze_schema``): a gaze fine-tune of a pretrained agent.

    ``gaze`` is untyped as in :class:`TrainConfig`; ``algo`` holds overrides of the pretrained run's algorithm.
    """

    gaze: Any = MISSING
    checkpoint: str = MISSING
    freeze: bool = MISSING
    gaze_adapter: int = MISSING
    drop_unseen_gaze_token: bool = MISSING
    min_scale: float | None = None
    heldout: list[str] = field(default_factory=list)
    total_frames: int = MISSING
    time_limit_minutes: float | None = None
    lr: float | None = None
    algo: Any = field(default_factory=dict)
    seed: int = MISSING
    device: str = MISSING
    cpu_threads: int = MISSING
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    out_dir: str = MISSING


SCHEMAS = {"train_schema": TrainConfig, "evaluate_schema": EvaluateConfig, "finetune_gaze_schema": FinetuneConfig}
"""ConfigStore name -> schema; each recipe's YAML lists its schema first among its defaults."""


GROUP_SCHEMAS = {("env", "env_schema"): BikkleConfig, ("model", "model_schema"): ModelConfig,
                 ("algo", "ppo_schema"): PPOConfig, ("algo", "sac_schema"): SACConfig,
                 ("logger", "logger_schema"): LoggerConfig}
"""(config group, ConfigStore name) -> schema: each option of a group lists its schema first among its defaults, so
Hydra refuses ``model.hidden=wide`` or ``algo.optim.lr=fast`` while it composes, naming the key."""


ALGORITHM_SCHEMAS = {"ppo": PPOConfig, "sac": SACConfig}
COLLECTORS = ("torchrl", "fused")
"""``collector``: torchrl's ``Collector`` or the :class:`~bikkle_rl.fused_collector.FusedCollector`."""
"""``algo.name`` -> the ``algo`` group's schema."""


def group_schema(group: str, values: Any) -> type | None:
    """The schema of config group ``group`` holding ``values`` (``algo``'s by its name); None if untyped."""
    if group == "algo":
        return ALGORITHM_SCHEMAS.get(values.get("name")) if isinstance(values, Mapping) else None
    return next((schema for (name, _), schema in GROUP_SCHEMAS.items() if name == group), None)


def with_schema_defaults(config: Mapping[str, Any]) -> dict[str, Any]:
    """A plain run config with each typed group's absent fields at their schema's defaults, as a run composed
    today holds them: a config saved before a field existed (a checkpoint's, an ``eval.json``'s) then compares
    equal to today's wherever it ran at that field's default (resume, run reuse, ``bikkle-aggregate``)."""
    filled = dict(plain_config(config))
    for group, values in filled.items():
        schema = group_schema(group, values)
        if schema is not None and isinstance(values, Mapping):
            defaults = OmegaConf.structured(schema)
            filled[group] = OmegaConf.to_container(OmegaConf.merge(OmegaConf.create(plain_config(defaults)),
                                                                   OmegaConf.create(dict(values))))
    return filled


def register_configs() -> None:
    """Registers :data:`SCHEMAS` and :data:`GROUP_SCHEMAS` with Hydra's ``ConfigStore`` (done on import; registering
    again changes nothing)."""
    store = ConfigStore.instance()
    for name, schema in SCHEMAS.items():
        store.store(name=name, node=schema)
    for (group, name), schema in GROUP_SCHEMAS.items():
        store.store(group=group, name=name, node=schema)


register_configs()


class ConfigError(ValueError):
    """A config value a run cannot start with; the message names the dotted field and the value."""


@contextmanager
def naming(name: str, value: Any) -> Iterator[None]:
    """Turns an error raised inside into a :class:`ConfigError` that starts ``name=value: ``."""
    try:
        yield
    except ConfigError:
        raise
    except (ValueError, TypeError, OSError) as error:
        raise ConfigError(f"{name}={value!r}: {error}") from None


def typed_config(schema: Any, cfg: Any, prefix: str = "") -> DictConfig:
    """``cfg`` (a mapping, OmegaConf node or dataclass) merged onto the structured config ``schema`` (a dataclass or
    an instance): a value of the wrong type, an unknown key or a value still missing is a :class:`ConfigError`
    naming the field (``prefix`` + its dotted key)."""
    try:
        typed = OmegaConf.merge(OmegaConf.structured(schema), plain_config(cfg))
    except OmegaConfBaseException as error:
        where = f"{prefix}{error.full_key}" if error.full_key else prefix.rstrip(".") or "config"
        raise ConfigError(f"{where}: {str(error.msg).splitlines()[0]}") from None
    missing = OmegaConf.missing_keys(typed)
    if missing:
        raise ConfigError(f"{', '.join(prefix + key for key in sorted(missing))}: no value given")
    return typed


def _in_group(group: str, error: Exception, names: Iterable[str]) -> str:
    """A dataclass's error message as one of the config group ``group``'s: ``max_speed must be...`` ->
    ``env.max_speed must be...``; a message naming no field of ``names`` gets ``group: `` in front."""
    text = str(error)
    if text.startswith(f"{group}."):
        return text
    first_word = re.match(r"\w*", text).group()
    return f"{group}.{text}" if first_word in set(names) else f"{group}: {text}"


def check_group(cls: type, values: Any, group: str) -> Any:
    """The dataclass ``cls`` of config group ``group`` built from ``values``: first their types (against the
    defaults of ``cls``), then the checks of ``cls`` itself; either failure is a :class:`ConfigError` naming the
    field."""
    typed = typed_config(cls(), values, prefix=f"{group}.")
    try:
        return cls(**OmegaConf.to_container(typed))
    except (ValueError, TypeError) as error:
        raise ConfigError(_in_group(group, error, (f.name for f in fields(cls)))) from None


def check_at_least(name: str, value: Any, minimum: int, note: str = "") -> None:
    """``value`` of field ``name`` is at least ``minimum`` (``note`` says why, if not obvious)."""
    if value < minimum:
        raise ConfigError(f"{name}={value!r}: must be >= {minimum}{note}")


def check_device(value: str) -> None:
    """``device``: ``cpu``, ``cuda``, ``cuda:N``... as ``torch.device`` reads them, or ``auto``; CUDA only where
    available."""
    import torch

    from bikkle_rl.experiment import resolve_device

    if value != "auto":
        try:
            torch.device(value)
        except RuntimeError as error:
            raise ConfigError(f"device={value!r}: not a device (cpu, cuda, cuda:N or auto): {error}") from None
    try:
        resolve_device(value)
    except ValueError as error:  # CUDA where there is none; the message names the field
        raise ConfigError(str(error)) from None


def check_runtime(run: Any) -> None:
    """The ``device`` and ``cpu_threads`` every recipe has."""
    check_device(run.device)
    check_at_least("cpu_threads", run.cpu_threads, 1)


def check_budget(run: Any) -> None:
    """``total_frames`` (a resumed run may have spent its budget) and ``time_limit_minutes`` of a training run."""
    if not ("resume" in run and run.resume):
        check_at_least("total_frames", run.total_frames, 1)
    if run.time_limit_minutes is not None and not run.time_limit_minutes > 0:
        raise ConfigError(f"time_limit_minutes={run.time_limit_minutes!r}: must be > 0, or null for no limit")


def check_file(name: str, path: str | None) -> None:
    """Field ``name`` names an existing file, or is null."""
    if path is not None and not Path(path).is_file():
        raise ConfigError(f"{name}={path!r}: no such file")


def scenario_source(scenario: str, protocol: str) -> None:
    """Builds the gaze source of an evaluation scenario: an unknown name, or a recording or fitted gaze file that
    is missing or unreadable, fails here."""
    GazeConfig.from_mapping(scenario_gaze(scenario, PROTOCOLS[protocol]["p_valid"]))


def check_evaluation(evaluation: Any, prefix: str = "evaluation.", train_stack: Mapping | None = None,
                     more_scenarios: int = 0) -> None:
    """The fields every evaluation reads (those of :class:`EvaluationConfig`, under ``prefix``).

    ``train_stack``: the training run's env stack, when known, whose pellet slots the protocol's arena must match.
    ``more_scenarios``: scenarios the evaluation adds to its ``scenarios`` (a fine-tune's held-out sessions).
    """
    protocol = evaluation.protocol
    if protocol not in PROTOCOLS:
        raise ConfigError(f"{prefix}protocol={protocol!r}: unknown evaluation protocol; choose one of "
                          f"{sorted(PROTOCOLS)}")
    check_at_least(f"{prefix}episodes", evaluation.episodes, 1, " (the evaluation's arenas, one episode each)")
    if not evaluation.scenarios and not more_scenarios:
        raise ConfigError(f"{prefix}scenarios=[]: give at least one scenario")
    for index, name in enumerate(evaluation.references):
        if name not in REFERENCE_POLICIES:
            raise ConfigError(f"{prefix}references[{index}]={name!r}: unknown reference policy; choose from "
                              f"{list(REFERENCE_POLICIES)}")
    if train_stack is not None:
        with naming(f"{prefix}protocol", protocol):
            evaluation_stack(dict(train_stack), protocol, "none", num_envs=1)
    for index, scenario in enumerate(evaluation.scenarios):
        with naming(f"{prefix}scenarios[{index}]", scenario):
            scenario_source(scenario, protocol)


def check_algo(values: Mapping) -> Any:
    """The ``algo`` group as ``PPOConfig`` or ``SACConfig``, by its ``name``."""
    if not isinstance(values, Mapping) or values.get("name") not in ALGORITHM_SCHEMAS:
        name = values.get("name") if isinstance(values, Mapping) else values
        raise ConfigError(f"algo.name={name!r}: unknown algorithm; choose one of {sorted(ALGORITHM_SCHEMAS)}")
    return check_group(ALGORITHM_SCHEMAS[values["name"]], values, "algo")


def check_gaze(values: Any) -> None:
    """The ``gaze`` group (or null: no gaze) builds its source: an unknown source or option, or a missing file,
    fails here."""
    if values is None:
        return
    if not isinstance(values, Mapping):
        raise ConfigError(f"gaze={values!r}: must be a mapping with a `source`, or null")
    try:
        GazeConfig.from_mapping(values)
    except (ValueError, TypeError, OSError) as error:
        raise ConfigError(_in_group("gaze", error, (f.name for f in fields(GazeConfig)))) from None


def check_env_stack(run: DictConfig) -> dict:
    """The run's env stack (its ``env``, ``gaze``, transforms, ``reward_norm``...) checked field by field; returns it
    as :func:`~bikkle_rl.envs.stack.make_env` reads it."""
    from bikkle_rl.envs.transforms import RewardNormalization
    from bikkle_rl.experiment import env_stack

    stack = env_stack(run)
    check_group(BikkleConfig, stack["env"], "env")
    check_gaze(stack.get("gaze"))
    if stack.get("reward_norm") is not None:
        try:
            RewardNormalization(**stack["reward_norm"])
        except (ValueError, TypeError) as error:
            raise ConfigError(_in_group("reward_norm", error, stack["reward_norm"])) from None
    try:
        EnvStackConfig.from_any(stack)
    except (ValueError, TypeError) as error:
        raise ConfigError(str(error)) from None
    return stack


def check_train_config(cfg: Any) -> None:
    """Checks a training run's config before anything is built; raises :class:`ConfigError` naming the field.

    Types and keys against :class:`TrainConfig`, then: ranges, the device, the ``init_from`` file, every config
    group built into its dataclass, the env stack, and the evaluation (protocol against the training arena,
    scenarios and their files, references, episodes), so that nothing the run reads at its end fails after training.
    """
    run = typed_config(TrainConfig, cfg)
    check_runtime(run)
    check_budget(run)
    check_file("init_from", run.init_from)
    if run.collector not in COLLECTORS:
        raise ConfigError(f"collector must be one of {COLLECTORS}, got {run.collector!r}")
    check_at_least("checkpoint.every_frames", run.checkpoint.every_frames, 1)
    check_at_least("checkpoint.keep_last", run.checkpoint.keep_last, 1)
    check_group(ModelConfig, run.model, "model")
    check_algo(plain_config(run.algo))
    check_group(LoggerConfig, run.logger, "logger")
    stack = check_env_stack(run)
    check_evaluation(run.evaluation, "evaluation.", train_stack=stack)
    check_at_least("evaluation.every_frames", run.evaluation.every_frames, 1)
    check_at_least("evaluation.curve_episodes", run.evaluation.curve_episodes, 1)


def check_evaluate_config(cfg: Any) -> None:
    """Checks ``bikkle-eval``'s config before the agent is loaded; raises :class:`ConfigError` naming the field."""
    run = typed_config(EvaluateConfig, cfg)
    check_runtime(run)
    check_file("checkpoint", run.checkpoint)
    check_file("oracle_checkpoint", run.oracle_checkpoint)
    check_at_least("pool_earlier", run.pool_earlier, 0, " (0: the checkpoint alone)")
    if not (isinstance(run.video, bool) or run.video == "attention"):
        raise ConfigError(f"video={run.video!r}: must be true, false or attention (the videos with the transformer's "
                          "attention drawn)")
    check_evaluation(run, prefix="")


def check_finetune_config(cfg: Any) -> None:
    """Checks ``bikkle-finetune``'s config before the pretrained agent is loaded; raises :class:`ConfigError`
    naming the field. The training config it derives is checked by :func:`check_train_config` as training
    starts."""
    run = typed_config(FinetuneConfig, cfg)
    check_runtime(run)
    check_budget(run)
    check_file("checkpoint", run.checkpoint)
    check_at_least("gaze_adapter", run.gaze_adapter, 0, " (0: none)")
    for name in ("lr", "min_scale"):
        if run[name] is not None and not run[name] > 0:
            raise ConfigError(f"{name}={run[name]!r}: must be > 0, or null for the pretrained run's")
    check_gaze(plain_config(run.gaze))
    check_evaluation(run.evaluation, more_scenarios=len(run.heldout))
    for index, path in enumerate(run.heldout):  # replayed closed loop, first among the evaluation's scenarios
        with naming(f"heldout[{index}]", path):
            scenario_source(replay_scenario([path]), run.evaluation.protocol)

