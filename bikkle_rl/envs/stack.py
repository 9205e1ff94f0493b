"""Builds a transformed, batched Bikkle env from a (Hydra) config: env fields, gaze, a transform stack.

Config (a mapping, an OmegaConf ``DictConfig`` or :class:`EnvStackConfig`)::

    env: {num_pink: [1, 3], num_blue: [0, 3], episode_mode: episodic, ...}   # BikkleConfig fields
    num_envs: 256
    device: cpu
    stack: mlp                  # preset: mlp | transformer | cnn (ignored when `transforms` is given)
    transforms: null            # or an explicit list: [{name: sort_pellets}, {name: gaze}, {name: flatten}]
    gaze: {source: correlated, p_valid: 0.25, availability: step, hold: false, std: 0.05}   # or null: no gaze
    reward_norm: {gamma: 0.99, clip: 10.0}                                               # or null
    action_scaling: max_norm    # how an action reaches the arena: max_norm (outside [-1, 1]^A: shrunk onto the box,
                                # MaxNormAction) | full_speed (every action onto the box's boundary) | clip
    action_bound: 1.0           # max_norm / full_speed: the policy's action spec is [-action_bound, action_bound]^A
    oracle: false               # Flatten / Tokenize expose the privileged high-value flag (upper bound only)

Gaze keys other than ``source``, ``p_valid``, ``availability``, ``hold``, ``max_age`` are the source's own
options (see :func:`~bikkle_rl.gaze.make_gaze_source`). A mixture trains on several sources, each arena
drawing one per episode: ``gaze: {source: mixture, components: [{source: correlated, weight: 0.5},
{source: none, weight: 0.5}]}``.

Whatever the stack, the env also carries ``step_count`` (StepCounter), ``is_init`` (InitTracker), the raw
undiscounted ``episode_return`` (RewardSum, placed before any reward normalisation) and the per-episode touch
counts ``episode_pink``, ``episode_blue``, ``episode_high_value``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torchrl.envs import Compose, InitTracker, RewardSum, StepCounter, Transform, TransformedEnv

from bikkle_rl.envs.bikkle import BikkleEnv
from bikkle_rl.envs.config import BikkleConfig
from bikkle_rl.envs.transforms import (
    EpisodeSum,
    Flatten,
    GazeEvidence,
    GazeInjection,
    MaxNormAction,
    RewardNormalization,
    SemanticImage,
    SortPellets,
    Tokenize,
)
from bikkle_rl.envs.transforms.gaze_injection import AVAILABILITIES, availability_range
from bikkle_rl.gaze import make_gaze_source
from bikkle_rl.plain_config import plain_config

PRESETS: dict[str, tuple[dict[str, Any], ...]] = {
    "mlp": ({"name": "sort_pellets", "within_kind": True}, {"name": "gaze"}, {"name": "flatten", "polar": True}),
    "transformer": ({"name": "sort_pellets"}, {"name": "gaze"}, {"name": "tokenize"}),
    "cnn": ({"name": "gaze"}, {"name": "semantic_image"}),
}
"""Named transform stacks; the ``gaze`` step is left out when the config has no gaze. The MLP sorts within
each kind so that its input columns keep their meaning (pinks, then blues, each nearest first), and its flat view
adds each pellet's distance and direction (``Flatten(polar=True)``), from which it learns to step around blues
(the measurements are in ``docs/ppo.md``)."""

ACTION_SCALINGS = ("max_norm", "full_speed", "clip")
"""``max_norm``: actions outside the box are shrunk onto it along their direction (:class:`MaxNormAction`);
``full_speed``: every non-zero action is scaled onto the box's boundary (the agent always moves at full speed);
``clip``: the arena clips each axis (the original's raw behaviour, which snaps large actions onto the diagonals)."""

EVENT_SUMS = {("events", "pink"): "episode_pink", ("events", "blue"): "episode_blue",
              ("events", "high_value"): "episode_high_value"}


@dataclass
class GazeConfig:
    """How gaze is injected: the source by name with its ``options``, and ``GazeInjection``'s arguments."""

    source: str = "correlated"
    p_valid: float | list[float] | None = None  # a [low, high] range draws a rate per arena and episode
    availability: str = "step"
    hold: bool = False
    max_age: int = 10
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.availability not in AVAILABILITIES:
            raise ValueError(f"gaze.availability must be one of {AVAILABILITIES}, got {self.availability!r}")
        if self.p_valid is not None:
            self.p_valid = plain_config(self.p_valid)
            try:
                availability_range(self.p_valid)
            except ValueError as error:
                raise ValueError(f"gaze.{error} (or null)") from None
        make_gaze_source(self.source, **self.options)  # fails early on an unknown source or option

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> GazeConfig:
        """Reads a flat mapping: keys that are not fields of this class are the source's options."""
        names = {f.name for f in dataclasses.fields(cls)} - {"options"}
        mapping = dict(mapping)
        options = {**mapping.pop("options", {}), **{k: v for k, v in mapping.items() if k not in names}}
        return cls(**{k: v for k, v in mapping.items() if k in names}, options=options)

    def build(self, seed: int | None) -> GazeInjection:
        return GazeInjection(make_gaze_source(self.source, **self.options), p_valid=self.p_valid,
                             availability=self.availability, hold=self.hold, max_age=self.max_age, seed=seed)


@dataclass
class EnvStackConfig:
    """Everything :func:`make_env` needs (see the module docstring); Hydra can use it as a schema."""

    env: Any = field(default_factory=dict)  # BikkleConfig or a mapping of its fields
    num_envs: int = 1
    device: str = "cpu"
    stack: str | None = "mlp"
    transforms: list[dict[str, Any]] | None = None
    gaze: Any = None  # GazeConfig, a flat mapping (see GazeConfig.from_mapping) or None for no gaze
    reward_norm: dict[str, Any] | None = None
    oracle: bool = False
    action_scaling: str = "max_norm"
    action_bound: float = 1.0

    def __post_init__(self) -> None:
        if self.action_scaling not in ACTION_SCALINGS:
            raise ValueError(f"action_scaling must be one of {ACTION_SCALINGS}, got {self.action_scaling!r}")
        if not self.action_bound >= 1.0:
            raise ValueError(f"action_bound must be >= 1 (the arena's action box), got {self.action_bound!r}")
        if self.action_bound != 1.0 and self.action_scaling == "clip":
            raise ValueError(f"action_bound={self.action_bound!r} needs action_scaling=max_norm or full_speed "
                             "(clipping would leave the wider actions on the box's edges)")
        self.env = self.env.to_dict() if isinstance(self.env, BikkleConfig) else dict(self.env)
        BikkleConfig(**self.env)  # validates the env fields
        if int(self.num_envs) < 1:
            raise ValueError(f"num_envs must be >= 1, got {self.num_envs!r}")
        if self.transforms is None and self.stack not in PRESETS:
            raise ValueError(f"unknown stack preset {self.stack!r}; choose one of {sorted(PRESETS)} "
                             "or give an explicit `transforms` list")
        for entry in self.transform_entries():
            if entry.get("name") not in TRANSFORMS:
                raise ValueError(f"unknown transform {entry.get('name')!r} in {entry!r}; "
                                 f"choose one of {sorted(TRANSFORMS)}")
        if isinstance(self.gaze, Mapping):
            self.gaze = GazeConfig.from_mapping(self.gaze)
        elif not isinstance(self.gaze, (GazeConfig, type(None))):
            raise TypeError(f"gaze must be a mapping, a GazeConfig or None, got {type(self.gaze).__name__}")
        names = [entry["name"] for entry in self.transform_entries()]
        if self.gaze is not None and "gaze" not in names:
            raise ValueError(f"a gaze config is given but the transforms {names} have no `gaze` entry")

    def transform_entries(self) -> list[dict[str, Any]]:
        """The observation transforms as ``{name: ..., **options}`` entries (preset or explicit)."""
        if self.transforms is not None:
            return [dict(entry) for entry in self.transforms]
        return [dict(entry) for entry in PRESETS[self.stack] if entry["name"] != "gaze" or self.gaze is not None]

    @classmethod
    def from_any(cls, cfg: Any) -> EnvStackConfig:
        if isinstance(cfg, cls):
            return cls(**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(cls)})
        cfg = plain_config(cfg) if cfg is not None else {}
        if not isinstance(cfg, dict):
            raise TypeError(f"make_env needs a mapping, DictConfig or EnvStackConfig, got {type(cfg).__name__}")
        unknown = set(cfg) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown make_env config keys {sorted(unknown)}; "
                             f"known: {sorted(f.name for f in dataclasses.fields(cls))}")
        return cls(**cfg)


@dataclass
class _BuildContext:
    """What the transform builders may read besides their own options."""

    cfg: EnvStackConfig
    env_config: BikkleConfig
    gaze_seed: int | None


def _build_gaze(options: dict[str, Any], ctx: _BuildContext) -> Transform:
    if ctx.cfg.gaze is None and "source" not in options:
        raise ValueError("the `gaze` transform needs a gaze config (cfg.gaze) or a `source` option")
    base = dataclasses.asdict(ctx.cfg.gaze) if ctx.cfg.gaze is not None else {}
    merged = {**base, **options, "options": {**base.get("options", {}), **options.get("options", {})}}
    return GazeConfig.from_mapping(merged).build(ctx.gaze_seed)


def _with_options(cls: Callable[..., Transform], **defaults: Callable[[_BuildContext], Any]):
    """A builder calling ``cls(**options)``, filling absent options from the context."""
    def build(options: dict[str, Any], ctx: _BuildContext) -> Transform:
        filled = {name: default(ctx) for name, default in defaults.items() if name not in options}
        try:
            return cls(**filled, **options)
        except TypeError as error:
            raise ValueError(f"bad options {sorted(options)} for transform {cls.__name__}: {error}") from None
    return build


TRANSFORMS: dict[str, Callable[[dict[str, Any], _BuildContext], Transform]] = {
    "sort_pellets": _with_options(SortPellets),
    "gaze": _build_gaze,
    "gaze_evidence": _with_options(GazeEvidence),
    "flatten": _with_options(Flatten, oracle=lambda ctx: ctx.cfg.oracle),
    "tokenize": _with_options(Tokenize, oracle=lambda ctx: ctx.cfg.oracle),
    "semantic_image": _with_options(SemanticImage, radius=lambda ctx: ctx.env_config.pellet_radius),
}
"""Observation transforms by config name; each builder takes ``(options, context)``."""


def make_env(cfg: Any, *, num_envs: int | None = None, device: torch.device | str | None = None,
             seed: int | None = None) -> TransformedEnv:
    """A :class:`~torchrl.envs.TransformedEnv` over :class:`BikkleEnv` built from ``cfg``.

    ``num_envs`` and ``device`` override the config's; ``seed`` seeds the env and (with ``seed + 1``) the gaze.
    Stack order: StepCounter, InitTracker, RewardSum (raw ``episode_return``), per-episode touch counts,
    MaxNormAction (``action_scaling``: ``max_norm`` or ``full_speed``), the observation transforms (preset or
    explicit list), then RewardNormalization if ``reward_norm`` is set.
    """
    stack_cfg = EnvStackConfig.from_any(cfg)
    env_config = BikkleConfig(**stack_cfg.env)
    base = BikkleEnv(num_envs=num_envs or stack_cfg.num_envs, device=device or stack_cfg.device, seed=seed,
                     config=env_config)
    ctx = _BuildContext(stack_cfg, env_config, None if seed is None else seed + 1)
    transforms: list[Transform] = [
        StepCounter(),
        InitTracker(),
        RewardSum(in_keys=["reward"], out_keys=["episode_return"]),
        EpisodeSum(list(EVENT_SUMS), list(EVENT_SUMS.values())),
    ]
    if stack_cfg.action_scaling != "clip":
        transforms.append(MaxNormAction(bound=stack_cfg.action_bound,
                                        full_speed=stack_cfg.action_scaling == "full_speed"))
    for entry in stack_cfg.transform_entries():
        name = entry.pop("name")
        transforms.append(TRANSFORMS[name](entry, ctx))
    if stack_cfg.reward_norm is not None:
        try:
            transforms.append(RewardNormalization(**stack_cfg.reward_norm))
        except TypeError as error:
            raise ValueError(f"bad reward_norm options {sorted(stack_cfg.reward_norm)}: {error}") from None
    return TransformedEnv(base, Compose(*transforms))
