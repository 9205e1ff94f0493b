"""Clipped PPO on torchrl's ``ClipPPOLoss`` and ``GAE``: config and the update of one collected batch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from tensordict import TensorDictBase
from torchrl.modules import ProbabilisticActor, ValueOperator
from torchrl.objectives import ClipPPOLoss
from torchrl.objectives.value import GAE

from bikkle_rl.algorithms.gaze_reliability import GazeReliabilityProbe
from bikkle_rl.algorithms.greedy_guide import (
    GUIDE_ACTION_KEY,
    GUIDE_WEIGHT_KEY,
    GreedyGuide,
    guide_loss,
    guide_weight,
)
from bikkle_rl.algorithms.optim import OptimConfig, accelerate, clip_and_step, make_optimizer, schedule_learning_rate
from bikkle_rl.envs.keys import GAZE_INFORMATIVE_KEY, gaze_informative
from bikkle_rl.modules.gaze_adapter import load_weights_keeping_new_adapters


@dataclass
class PPOConfig:
    """PPO hyper-parameters (the ``algo=ppo`` config group).

    Advantages are computed once per collected batch (GAE over ``[num_envs, frames_per_env]``): truncated
    episodes bootstrap from the critic's value of the last observation, terminated ones do not.
    ``guide_coeff`` > 0 adds greedy guidance (:mod:`~bikkle_rl.algorithms.greedy_guide`): ``guide_coeff`` times
    the mean squared distance between the policy's mean action and the greedy reference's, falling linearly to 0 by
    ``guide_until`` (a fraction of the run), so that every run starts from the arena's no-gaze skill.
    ``guide_floor`` > 0 keeps that pull at this weight for the whole run on the episodes whose gaze is uninformative
    (uniform or absent), so that gaze carrying nothing cannot lead the agent below greedy.
    ``reliability_coeff`` > 0 adds a probe on the policy's encoding that predicts whether the episode's gaze is
    informative, its cross-entropy at this weight (:mod:`~bikkle_rl.algorithms.gaze_reliability`).
    ``num_envs`` and ``action_bound`` are the algorithm's defaults for the env (arena count, the policy's action
    box; see :class:`~bikkle_rl.envs.transforms.MaxNormAction`): the recipe builds the env with them unless the
    run sets its own.
    """

    name: str = "ppo"
    num_envs: int = 1024
    action_bound: float = 1.0
    frames_per_env: int = 16
    epochs: int = 4
    minibatches: int = 4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_epsilon: float = 0.2
    clip_value: float | None = None
    entropy_coeff: float = 0.0
    critic_coeff: float = 0.5
    normalize_advantage: bool = True
    target_kl: float | None = None
    guide_coeff: float = 0.0
    guide_until: float = 0.1
    guide_floor: float = 0.0
    reliability_coeff: float = 0.0
    optim: OptimConfig = field(default_factory=OptimConfig)

    def __post_init__(self) -> None:
        if isinstance(self.optim, Mapping):  # built from a plain config (a checkpoint's)
            self.optim = OptimConfig(**self.optim)
        for name in ("num_envs", "frames_per_env", "epochs", "minibatches"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"algo.{name} must be >= 1, got {getattr(self, name)!r}")
        for name in ("gamma", "gae_lambda"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"algo.{name} must lie in [0, 1], got {getattr(self, name)!r}")
        if not self.clip_epsilon > 0:
            raise ValueError(f"algo.clip_epsilon must be > 0, got {self.clip_epsilon!r}")
        if self.target_kl is not None and not self.target_kl > 0:
            raise ValueError(f"algo.target_kl must be > 0 or null, got {self.target_kl!r}")
        if self.entropy_coeff < 0 or self.critic_coeff < 0:
            raise ValueError("algo.entropy_coeff and algo.critic_coeff must be >= 0")
        if self.guide_coeff < 0 or not 0 < self.guide_until <= 1:
            raise ValueError(f"algo.guide_coeff must be >= 0 and algo.guide_until in (0, 1], got "
                             f"{self.guide_coeff!r} and {self.guide_until!r}")
        if self.guide_floor < 0:
            raise ValueError(f"algo.guide_floor must be >= 0, got {self.guide_floor!r}")
        if self.reliability_coeff < 0:
            raise ValueError(f"algo.reliability_coeff must be >= 0, got {self.reliability_coeff!r}")

    @property
    def guided(self) -> bool:
        """Whether the run uses greedy guidance (at the start, or as a floor on uninformative gaze)."""
        return self.guide_coeff > 0 or self.guide_floor > 0


def explained_variance(value: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - Var[target - value] / Var[target]: 1 is a perfect critic, 0 no better than a constant."""
    return 1 - (target - value).var() / target.var().clamp_min(1e-8)


class PPO:
    """Owns the PPO loss over the actor and critic it is handed, the advantage estimator and the optimizer;
    ``update(batch)`` trains on one collected batch. Implements :class:`~bikkle_rl.algorithms.base.Algorithm`.

    ``compile`` wraps the minibatch step in ``torch.compile``; ``cudagraphs`` (CUDA only) captures it in a
    ``CudaGraphModule`` with a capturable optimizer, so a replay reuses the captured kernels.
    """

    def __init__(self, cfg: PPOConfig, actor: ProbabilisticActor, critic: ValueOperator, compile: bool = False,
                 cudagraphs: bool = False, guide: GreedyGuide | None = None):
        if cfg.guided and guide is None:
            raise ValueError("algo.guide_coeff > 0 or algo.guide_floor > 0 needs the GreedyGuide of the run's arena")
        self.cfg = cfg
        self.guide = guide if cfg.guided else None
        self.actor, self.critic = actor, critic
        self.loss = ClipPPOLoss(
            actor_network=actor,
            critic_network=critic,
            clip_epsilon=cfg.clip_epsilon,
            entropy_bonus=True,  # also when the coefficient is 0: the policy's entropy is logged
            entropy_coeff=cfg.entropy_coeff,
            critic_coeff=cfg.critic_coeff,
            loss_critic_type="l2",
            normalize_advantage=cfg.normalize_advantage,
            clip_value=cfg.clip_value,
        )
        self.gae = GAE(gamma=cfg.gamma, lmbda=cfg.gae_lambda, value_network=None, average_gae=False)
        """GAE over the values :meth:`_estimate_advantage` has the critic write first: one graph ``torch.compile``
        traces whole, where torchrl's GAE calling the critic itself stacks observations and next observations
        (vmap, or without it a per-sample loop: vmap has no batching rule for CPU attention)."""
        self.reliability = None
        if cfg.reliability_coeff > 0:
            self.reliability = GazeReliabilityProbe(actor).to(next(actor.parameters()).device)
        self.gae.tensor_keys  # noqa: B018 (built on first read: read inside the compiled step, a recompile)
        self.advantage = accelerate(self._estimate_advantage, compile, cudagraphs=False)
        keys = self.loss.tensor_keys
        self.minibatch_keys = [*actor.in_keys, *critic.in_keys, keys.action, keys.sample_log_prob, keys.advantage,
                               keys.value_target, keys.value,
                               *([GAZE_INFORMATIVE_KEY] if self.reliability is not None else [])]
        """Only what a minibatch step reads: indexing the whole batch (next observations, privileged keys...) for
        every minibatch would cost more than the update itself."""
        self.parameters = [*self.loss.parameters(),
                           *(self.reliability.parameters() if self.reliability is not None else ())]
        """A list, not ``loss.parameters()``: a generator alive across the compiled step's graph break (at
        ``zero_grad``) makes dynamo give up on the whole step and run it eagerly."""
        self.optimizer = make_optimizer(cfg.optim, self.parameters, capturable=cudagraphs)
        self.updates_done = 0
        self._step = accelerate(self._minibatch_step, compile, cudagraphs)
        self._guided_step = accelerate(self._guided_minibatch_step, compile, cudagraphs) if self.guide else None

    def _estimate_advantage(self, batch: TensorDictBase) -> TensorDictBase:
        """Writes the critic's values of the observations and the next observations into ``batch``, then GAE's
        advantages and value targets; returns ``batch``."""
        self.critic(batch)
        self.critic(batch.get("next"))
        return self.gae(batch)

    def _losses(self, minibatch: TensorDictBase) -> tuple[TensorDictBase, torch.Tensor]:
        losses = self.loss(minibatch)
        total = losses["loss_objective"] + losses["loss_critic"]
        if "loss_entropy" in losses:
            total = total + losses["loss_entropy"]
        if self.reliability is not None:
            loss, accuracy = self.reliability(minibatch)
            total = total + self.cfg.reliability_coeff * loss
            losses = losses.set("loss_reliability", loss.detach()).set("reliability_accuracy", accuracy.detach())
        return losses, total

    def _finish_step(self, losses: TensorDictBase, total: torch.Tensor) -> TensorDictBase:
        grad_norm = clip_and_step(self.optimizer, total, self.parameters, self.cfg.optim.max_grad_norm)
        return losses.select("loss_objective", "loss_critic", "entropy", "kl_approx", "clip_fraction", "loss_guide",
                             "loss_reliability", "reliability_accuracy", strict=False
                             ).set("grad_norm", grad_norm).detach()

    def _minibatch_step(self, minibatch: TensorDictBase) -> TensorDictBase:
        return self._finish_step(*self._losses(minibatch))

    def _guided_minibatch_step(self, minibatch: TensorDictBase) -> TensorDictBase:
        """The minibatch step with the greedy guidance's loss added (the weight is in the minibatch). The actor runs a
        second time for its mean action: ``ClipPPOLoss`` does not hand out the distribution it built."""
        losses, total = self._losses(minibatch)
        mean_action = self.actor.get_dist(minibatch.copy()).deterministic_sample
        guide = guide_loss(mean_action, minibatch[GUIDE_ACTION_KEY], minibatch[GUIDE_WEIGHT_KEY])
        return self._finish_step(losses.set("loss_guide", guide.detach()), total + guide)

    def update(self, batch: TensorDictBase, progress: float = 0.0) -> dict[str, float]:
        """Trains on one batch ``[num_envs, frames_per_env]``; returns mean metrics over all minibatch steps.

        ``progress`` is the fraction of the run done (0: the full learning rate), along which the learning rate
        anneals to zero. The training loop passes the larger of its frame and wall-time fractions, so a run with
        a time limit anneals to zero at that limit, not at a frame budget it never reaches. With ``target_kl``, the
        epochs stop after the first whose last minibatch's ``kl_approx`` exceeds ``1.5 * target_kl`` (reported as
        ``epochs_run``).
        """
        if self.reliability is not None:  # checked once a batch, not in the compiled minibatch step
            gaze_informative(batch, "algo.reliability_coeff")
        schedule_learning_rate(self.optimizer, self.cfg.optim, progress)
        with torch.no_grad():
            batch = self.advantage(batch)
        weight = guide_weight(self.cfg.guide_coeff, self.cfg.guide_until, progress)  # 0 without a guide (coeff 0)
        keys, step = self.minibatch_keys, self._step
        if weight > 0 or self.cfg.guide_floor > 0:
            batch = self.guide.label(batch, weight, self.cfg.guide_floor)
            keys, step = [*keys, GUIDE_ACTION_KEY, GUIDE_WEIGHT_KEY], self._guided_step
        flat = batch.select(*keys, strict=False).reshape(-1)
        size = flat.numel() // self.cfg.minibatches
        records = []
        for _ in range(self.cfg.epochs):
            order = torch.randperm(flat.numel(), device=flat.device)
            for index in order[: size * self.cfg.minibatches].split(size):
                records.append(step(flat[index].clone()))
            if self.cfg.target_kl is not None and records[-1]["kl_approx"] > 1.5 * self.cfg.target_kl:
                break
        self.updates_done += 1
        metrics = {key: value.mean().item() for key, value in torch.stack(records).items()}
        metrics["explained_variance"] = explained_variance(batch["state_value"], batch["value_target"]).item()
        metrics["learning_rate"] = float(self.optimizer.param_groups[0]["lr"])
        metrics["epochs_run"] = len(records) / self.cfg.minibatches
        if self.guide:
            metrics["guide_weight"] = weight
        return metrics

    buffer = None
    """On-policy: no replay buffer."""
    init_random_frames = 0
    """On-policy: the collector runs the policy from the first frame."""

    @property
    def collection_policy(self) -> ProbabilisticActor:
        """The policy the collector runs (samples actions)."""
        return self.actor

    def state_dict(self) -> dict[str, Any]:
        """Actor, critic, optimizer, the update count and the reliability probe where there is one."""
        state = {"actor": self.actor.state_dict(), "critic": self.critic.state_dict(),
                 "optimizer": self.optimizer.state_dict(), "updates_done": self.updates_done}
        if self.reliability is not None:
            state["reliability_probe"] = self.reliability.state_dict()
        return state

    def load_weights(self, state: Mapping[str, Any]) -> None:
        """Network weights only (``init_from``): the optimizer and counters start fresh; a reliability probe that
        the checkpoint lacks (its run had none) starts fresh too."""
        load_weights_keeping_new_adapters(self.actor, state["actor"])
        load_weights_keeping_new_adapters(self.critic, state["critic"])
        if self.reliability is not None and "reliability_probe" in state:
            self.reliability.load_state_dict(state["reliability_probe"])

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Everything :meth:`state_dict` saved."""
        self.load_weights(state)
        self.optimizer.load_state_dict(state["optimizer"])
        self.updates_done = int(state["updates_done"])
