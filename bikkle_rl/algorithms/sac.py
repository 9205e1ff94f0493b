"""Soft actor-critic on torchrl's ``SACLoss``: twin Q, automatic entropy tuning, n-step returns, replay.

One collected batch ``[num_envs, frames_per_env]`` goes through three stages in :meth:`SAC.update`:

1. each transition is flagged as an event (non-zero raw reward, see :mod:`bikkle_rl.buffers`) and reduced to
   the keys the loss reads;
2. torchrl's ``MultiStepTransform`` turns it into n-step transitions: ``("next", "reward")`` becomes
   ``sum_{i<k} gamma^i r_{t+i}``, ``("next", obs)`` the observation ``k`` steps ahead and ``steps_to_next_obs``
   = ``k``, where ``k = n`` unless the episode ends (terminated or truncated) sooner. The transform keeps the
   last ``n`` frames of each arena and releases them with the next batch, so windows span batch boundaries;
3. the transitions join the replay buffer, and ``updates_per_frame`` gradient steps per collected frame
   sample from it. The TD(0) target ``R + gamma^k (1 - terminated) Q'(s_{t+k})`` bootstraps after a
   truncation and not after a termination.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from tensordict import TensorDictBase
from torch.nn.utils import clip_grad_norm_
from torchrl.envs import MultiStepTransform
from torchrl.modules import ProbabilisticActor, ValueOperator
from torchrl.objectives import SACLoss, SoftUpdate, ValueEstimators

from bikkle_rl.algorithms.optim import OptimConfig, accelerate, make_optimizer, schedule_learning_rate
from bikkle_rl.buffers import EVENT_KEY, ReplayConfig, event_mask, make_replay_buffer
from bikkle_rl.modules.gaze_adapter import load_weights_keeping_new_adapters

LOSS_FUNCTIONS = ("l2", "smooth_l1", "l1")
DONE_KEYS = (("next", "done"), ("next", "terminated"), ("next", "truncated"))
N_STEP_ONLY = ("gamma", "nonterminal", ("next", "original_reward"))
"""Entries ``MultiStepTransform`` adds that the loss never reads (dropped before storage)."""


SAC_OPTIM_DEFAULTS = {"lr": 1e-3, "eps": 1e-8, "anneal_lr": False, "max_grad_norm": None}
"""SAC's optimizer settings where the config gives none: no annealing or clipping."""


def sac_optim(value: OptimConfig | Mapping | None = None) -> OptimConfig:
    """:class:`OptimConfig` with :data:`SAC_OPTIM_DEFAULTS` under the settings ``value`` gives."""
    if isinstance(value, OptimConfig):
        return value
    return OptimConfig(**{**SAC_OPTIM_DEFAULTS, **(value or {})})


@dataclass
class SACConfig:
    """SAC hyper-parameters (the ``algo=sac`` config group).

    ``num_envs`` and ``action_bound`` are the algorithm's defaults for the env (the recipe builds the env with
    them unless the run sets its own): far fewer arenas than PPO's, so the policy is updated every few hundred
    frames, and an action box of 2, so the tanh policy reaches full speed (see
    :class:`~bikkle_rl.envs.transforms.MaxNormAction`) despite the entropy bonus. ``updates_per_frame`` is the
    update-to-data ratio: gradient steps per collected env frame (fractions carry over between batches). The
    first ``init_random_frames`` frames are collected with uniform random actions and trigger no update.
    ``target_entropy`` null means ``-action_dim``. ``save_buffer`` has the checkpoint code write the replay buffer
    under ``buffer_dir`` with every checkpoint, so a resumed run continues with its data.
    """

    name: str = "sac"
    num_envs: int = 64
    action_bound: float = 2.0
    frames_per_env: int = 4
    gamma: float = 0.95
    n_steps: int = 3
    batch_size: int = 256
    updates_per_frame: float = 0.25
    init_random_frames: int = 10_000
    tau: float = 0.005
    alpha_init: float = 0.01
    target_entropy: float | None = None
    loss_function: str = "l2"
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    save_buffer: bool = False
    buffer_dir: str | None = None
    actor_optim: OptimConfig = field(default_factory=sac_optim)
    critic_optim: OptimConfig = field(default_factory=sac_optim)
    alpha_lr: float = 3e-4

    def __post_init__(self) -> None:
        if isinstance(self.replay, Mapping):  # built from a plain config (a checkpoint's)
            self.replay = ReplayConfig(**self.replay)
        self.actor_optim = sac_optim(self.actor_optim)
        self.critic_optim = sac_optim(self.critic_optim)
        for name in ("num_envs", "frames_per_env", "n_steps", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"algo.{name} must be >= 1, got {getattr(self, name)!r}")
        if self.init_random_frames < 0:
            raise ValueError(f"algo.init_random_frames must be >= 0, got {self.init_random_frames!r}")
        if not 0.0 < self.gamma <= 1.0:
            raise ValueError(f"algo.gamma must lie in (0, 1], got {self.gamma!r}")
        if not self.updates_per_frame > 0:
            raise ValueError(f"algo.updates_per_frame must be > 0, got {self.updates_per_frame!r}")
        if not 0.0 < self.tau <= 1.0:
            raise ValueError(f"algo.tau must lie in (0, 1], got {self.tau!r}")
        if not self.alpha_init > 0 or not self.alpha_lr > 0:
            raise ValueError(f"algo.alpha_init and algo.alpha_lr must be > 0, got {self.alpha_init!r}, "
                             f"{self.alpha_lr!r}")
        if self.loss_function not in LOSS_FUNCTIONS:
            raise ValueError(f"algo.loss_function must be one of {LOSS_FUNCTIONS}, got {self.loss_function!r}")
        if self.replay.size < self.batch_size:
            raise ValueError(f"algo.replay.size ({self.replay.size}) must hold at least one batch "
                             f"(algo.batch_size={self.batch_size})")
        if self.save_buffer and not self.buffer_dir:
            raise ValueError("algo.save_buffer=true needs algo.buffer_dir (where the buffer is written)")


def make_n_step_transform(n_steps: int, gamma: float) -> MultiStepTransform:
    """torchrl's n-step replay transform, with the done flags taken at the *end* of each window.

    By default the transform leaves ``("next", "terminated")`` at the first step of the window, so a window
    cut short by a termination would bootstrap from the terminal observation. With ``done_keys=[]`` every
    ``"next"`` entry, the done flags included, comes from the window's last step.
    """
    return MultiStepTransform(n_steps=n_steps, gamma=gamma, done_keys=[])


class SAC:
    """Owns the SAC loss over the actor and twin Q critics it is handed, target networks, replay buffer and
    optimizers; implements :class:`~bikkle_rl.algorithms.base.Algorithm`.

    ``update(batch)`` stores a collected batch and runs the configured number of gradient steps.
    ``compile`` wraps the gradient step in ``torch.compile``; ``cudagraphs`` (CUDA only) captures it in a
    ``CudaGraphModule`` with capturable optimizers. Target networks track the critics by Polyak averaging
    (``SoftUpdate``, ``tau``) after every step. The actor, critic and entropy coefficient have separate Adam
    optimizers, as in torchrl's SAC recipe.

    The actor must be a tanh-squashed Gaussian with a state-dependent scale
    (:func:`~bikkle_rl.modules.make_networks` builds it so); the replay buffer lives on the actor's device.
    """

    def __init__(self, cfg: SACConfig, actor: ProbabilisticActor, critics: Sequence[ValueOperator],
                 compile: bool = False, cudagraphs: bool = False):
        self.cfg = cfg
        self.actor = actor
        action_dim = actor.spec["action"].shape[-1]
        self.loss = SACLoss(
            actor_network=actor,
            qvalue_network=list(critics),
            num_qvalue_nets=len(critics),
            loss_function=cfg.loss_function,
            alpha_init=cfg.alpha_init,
            target_entropy=-float(action_dim) if cfg.target_entropy is None else float(cfg.target_entropy),
        )
        self.loss.make_value_estimator(ValueEstimators.TD0, gamma=cfg.gamma)
        self.target_update = SoftUpdate(self.loss, tau=cfg.tau)
        self.n_step = make_n_step_transform(cfg.n_steps, cfg.gamma)
        self.buffer = make_replay_buffer(cfg.replay, cfg.batch_size, next(actor.parameters()).device)
        observation_keys = [key for key in self.loss.qvalue_network.in_keys if key != "action"]
        self.transition_keys = sorted(
            {*self.loss.in_keys, *DONE_KEYS, *observation_keys, *(("next", key) for key in observation_keys)},
            key=str,
        )
        self.actor_params = list(self.loss.actor_network_params.flatten_keys().values())
        self.critic_params = list(self.loss.qvalue_network_params.flatten_keys().values())
        self.actor_optimizer = make_optimizer(cfg.actor_optim, self.actor_params, capturable=cudagraphs)
        self.critic_optimizer = make_optimizer(cfg.critic_optim, self.critic_params, capturable=cudagraphs)
        self.alpha_optimizer = make_optimizer(OptimConfig(lr=cfg.alpha_lr, anneal_lr=False, max_grad_norm=None),
                                              [self.loss.log_alpha], capturable=cudagraphs)
        self.optimizers = (self.actor_optimizer, self.critic_optimizer, self.alpha_optimizer)
        self.frames_seen = 0
        self.updates_done = 0
        self.update_credit = 0.0
        self._step = accelerate(self._gradient_step, compile, cudagraphs)

    def _gradient_step(self, sample: TensorDictBase) -> TensorDictBase:
        """One SAC step on a sampled batch: one backward of the summed losses, then each optimizer steps.

        The three losses touch disjoint parameters (the actor loss reads detached critic weights, the critic
        target is computed without gradient, the alpha loss reads a detached log-prob), so one backward of
        their sum gives each its own gradient, and one compiled graph serves all three.
        """
        losses = self.loss(sample)
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=True)
        (losses["loss_actor"] + losses["loss_qvalue"] + losses["loss_alpha"]).backward()
        grad_norm_actor = clip_grad_norm_(self.actor_params, self.cfg.actor_optim.max_grad_norm or math.inf)
        grad_norm_critic = clip_grad_norm_(self.critic_params, self.cfg.critic_optim.max_grad_norm or math.inf)
        for optimizer in self.optimizers:
            optimizer.step()
        # loss_actor = mean(alpha * log_prob - min_j Q_j(s, a~pi)) and entropy = -mean(log_prob):
        q_value = -(losses["loss_actor"] + losses["alpha"] * losses["entropy"])
        return losses.select("loss_actor", "loss_qvalue", "loss_alpha", "alpha", "entropy").set(
            "q_value", q_value).set("grad_norm_actor", grad_norm_actor).set(
            "grad_norm_critic", grad_norm_critic).set(
            "event_fraction", sample[EVENT_KEY].float().mean()).detach()

    def store(self, batch: TensorDictBase) -> torch.Tensor:
        """Adds a collected batch ``[num_envs, time]`` to the replay buffer as n-step transitions.

        Returns the event mask [num_envs, time] of the batch. The last ``n_steps`` frames of each arena wait
        in the n-step transform for the next batch.
        """
        events = event_mask(batch)
        transitions = self.n_step.inv(batch.select(*self.transition_keys).set(EVENT_KEY, events))
        if transitions is not None and transitions.batch_size.numel():
            self.buffer.extend(transitions.exclude(*N_STEP_ONLY).reshape(-1))
        return events

    def update(self, batch: TensorDictBase, progress: float = 0.0) -> dict[str, float]:
        """Stores one batch and runs ``updates_per_frame`` gradient steps per frame of it (after the warm-up).

        ``progress`` is the run's fraction done: an optimizer with ``anneal_lr`` runs at ``(1 - progress)`` of
        its learning rate (the temperature's never anneals).

        Returns the mean metrics over this batch's gradient steps (losses, ``alpha``, ``entropy``,
        ``q_value`` = mean min-twin Q at the policy's actions, gradient norms, ``event_fraction`` of the
        sampled transitions) and the buffer's state (``buffer_size``, ``event_rate`` of the collected batch).
        """
        events = self.store(batch)
        self.frames_seen += batch.numel()
        metrics = {"buffer_size": float(len(self.buffer)), "event_rate": events.float().mean().item()}
        if self.frames_seen < self.cfg.init_random_frames or len(self.buffer) < self.cfg.batch_size:
            return metrics
        schedule_learning_rate(self.actor_optimizer, self.cfg.actor_optim, progress)
        schedule_learning_rate(self.critic_optimizer, self.cfg.critic_optim, progress)
        self.update_credit += batch.numel() * self.cfg.updates_per_frame
        steps = int(self.update_credit)
        self.update_credit -= steps
        records = []
        for _ in range(steps):
            records.append(self._step(self.buffer.sample()))
            self.target_update.step()
        self.updates_done += steps
        if records:
            metrics |= {key: value.mean().item() for key, value in torch.stack(records).items()}
        metrics["updates"] = float(steps)
        return metrics

    @property
    def collection_policy(self) -> ProbabilisticActor:
        """The policy the collector runs (samples actions)."""
        return self.actor

    @property
    def init_random_frames(self) -> int:
        """Random-action frames the collector still owes (none after a resume past the warm-up)."""
        return max(0, self.cfg.init_random_frames - self.frames_seen)

    def state_dict(self) -> dict[str, Any]:
        """Networks, target networks, log-alpha, optimizers and counters (not the replay buffer: the checkpoint
        code snapshots it to disk, see :func:`~bikkle_rl.checkpoint.save_buffer_snapshot`). ``actor`` repeats the
        policy's weights under the entry every algorithm's checkpoint has (what ``load_agent`` reads)."""
        return {
            "actor": self.actor.state_dict(),
            "loss": self.loss.state_dict(),
            "actor_optimizer": self.actor_optimizer.state_dict(),
            "critic_optimizer": self.critic_optimizer.state_dict(),
            "alpha_optimizer": self.alpha_optimizer.state_dict(),
            "frames_seen": self.frames_seen,
            "updates_done": self.updates_done,
            "update_credit": self.update_credit,
        }

    def load_weights(self, state: Mapping[str, Any]) -> None:
        """Network weights (actor, critics and their targets, log-alpha) only; optimizers, counters and the
        buffer start fresh (``init_from``)."""
        load_weights_keeping_new_adapters(self.loss, state["loss"])

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Everything :meth:`state_dict` saved."""
        self.load_weights(state)
        self.actor_optimizer.load_state_dict(state["actor_optimizer"])
        self.critic_optimizer.load_state_dict(state["critic_optimizer"])
        self.alpha_optimizer.load_state_dict(state["alpha_optimizer"])
        self.frames_seen = int(state["frames_seen"])
        self.updates_done = int(state["updates_done"])
        self.update_credit = float(state["update_credit"])
