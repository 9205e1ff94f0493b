"""Typed configuration of the policy and value networks (the ``model`` config group's schema)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

ENCODERS = ("mlp", "transformer", "cnn")
POOLINGS = ("mean", "query")
ACTIVATIONS = ("tanh", "relu", "elu", "gelu", "silu")
DISTRIBUTIONS = ("tanh_normal", "normal")
SCALES = ("state", "global")
Q_ACTION_INPUTS = ("head", "encoder")
NUMBER_FIELDS = {"int": ((int,), "a whole number"), "float": ((int, float), "a number")}
"""What an ``int`` or ``float`` field accepts, and how its error names it (a bool is neither)."""


@dataclass
class ModelConfig:
    """Every choice that shapes the actor, critic and Q networks, validated at construction.

    ``encoder`` picks what the networks read: ``mlp`` the flat ``observation_vector``, ``transformer`` the
    token set (``tokens``, ``token_type``, ``token_mask``), ``cnn`` the semantic ``image``. Each of the actor,
    critic and Q network owns its own encoder (no shared trunk).

    ``distribution``: ``tanh_normal`` squashes into the action bounds (log-probs of the squashed action);
    ``normal`` is a plain Gaussian whose samples the env clips (CleanRL's PPO). ``scale``: ``state`` maps half
    of the policy's last layer through a biased softplus, ``global`` learns one log-std per action dimension
    (state-independent, the usual PPO choice). Both start at ``init_scale``.

    ``gaze_adapter``: the hidden width of the transformer's gaze-pellet adapter (see
    :mod:`bikkle_rl.modules.gaze_adapter`), 0 for none; a gaze-only fine-tune adds one to a no-gaze agent.
    ``gaze_token``: whether the transformer's attention sees the gaze token; false leaves gaze to the adapter
    alone (a no-gaze agent's fine-tune then starts at exactly its play without gaze). ``gaze_gate``: the hidden
    width of a gate that scales the adapter and the looks' shares by a trust learned from the gaze's track record
    (:mod:`bikkle_rl.modules.gaze_gate`), 0 for none; it needs the adapter and ``gaze_token`` false.

    ``q_action_input``: where SAC's Q networks read the action: ``head`` joins it to the encoded observation
    before the ``q_layers`` head, ``encoder`` (MLP only) puts it in the encoder's first layer beside the
    observation, so every hidden layer can shape how Q varies with the action (``docs/sac.md``).
    """

    encoder: str = "mlp"
    hidden: int = 64
    mlp_layers: int = 2
    activation: str = "tanh"
    token_width: int = 32
    transformer_layers: int = 2
    num_heads: int = 4
    ff_multiplier: int = 2
    pooling: str = "mean"
    gaze_adapter: int = 0
    gaze_token: bool = True
    gaze_gate: int = 0
    cnn_channels: list[int] = field(default_factory=lambda: [16, 32, 32])
    q_layers: int = 1
    q_action_input: str = "head"
    distribution: str = "tanh_normal"
    scale: str = "state"
    init_scale: float = 1.0
    min_scale: float = 1e-4
    policy_init_gain: float = 0.01
    value_init_gain: float = 1.0

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = getattr(self, spec.name)
            if spec.type in NUMBER_FIELDS:
                accepted, described = NUMBER_FIELDS[spec.type]
                if isinstance(value, bool) or not isinstance(value, accepted):
                    raise ValueError(f"{spec.name} must be {described}, got {value!r}")
        for name, value, choices in (
            ("encoder", self.encoder, ENCODERS),
            ("pooling", self.pooling, POOLINGS),
            ("activation", self.activation, ACTIVATIONS),
            ("distribution", self.distribution, DISTRIBUTIONS),
            ("scale", self.scale, SCALES),
            ("q_action_input", self.q_action_input, Q_ACTION_INPUTS),
        ):
            if value not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {value!r}")
        for name in ("hidden", "mlp_layers", "token_width", "transformer_layers", "num_heads", "ff_multiplier"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.gaze_adapter < 0 or (self.gaze_adapter and self.encoder != "transformer"):
            raise ValueError(f"gaze_adapter must be 0, or > 0 with the transformer encoder, got {self.gaze_adapter!r} "
                             f"with encoder {self.encoder!r}")
        if not isinstance(self.gaze_token, bool):
            raise ValueError(f"gaze_token must be true or false, got {self.gaze_token!r}")
        if not self.gaze_token and not self.gaze_adapter:
            raise ValueError("gaze_token: false needs gaze_adapter > 0 (otherwise nothing reads gaze)")
        if self.gaze_gate < 0 or (self.gaze_gate and (self.gaze_token or not self.gaze_adapter)):
            raise ValueError(f"gaze_gate must be 0, or > 0 with gaze_adapter > 0 and gaze_token false (an ungated gaze "
                             f"token would bypass the gate), got gaze_gate={self.gaze_gate!r}, "
                             f"gaze_adapter={self.gaze_adapter!r}, gaze_token={self.gaze_token!r}")
        if self.q_action_input == "encoder" and self.encoder != "mlp":
            raise ValueError(f"q_action_input: encoder needs the mlp encoder, got encoder {self.encoder!r}")
        if self.q_layers < 0:
            raise ValueError(f"q_layers must be >= 0, got {self.q_layers!r}")
        if self.token_width % self.num_heads:
            raise ValueError(
                f"token_width ({self.token_width}) must be divisible by num_heads ({self.num_heads})"
            )
        self.cnn_channels = [int(c) for c in self.cnn_channels]
        if not self.cnn_channels or min(self.cnn_channels) < 1:
            raise ValueError(f"cnn_channels must be a non-empty list of positive ints, got {self.cnn_channels!r}")
        if not 0 < self.min_scale < self.init_scale:
            raise ValueError(
                f"need 0 < min_scale < init_scale, got min_scale={self.min_scale!r}, init_scale={self.init_scale!r}"
            )
        for name in ("policy_init_gain", "value_init_gain"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
