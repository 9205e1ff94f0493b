"""A collector whose env step (policy, arena dynamics, transform stack, partial resets) is one compiled function.

TorchRL's :class:`~torchrl.collectors.Collector` steps the env from Python: each env step runs the policy, the
env's ``step`` with its checks, ``step_mdp``, and, only when some arena is done (a host sync), a reset; the
TensorDict bookkeeping around that costs several times the arena dynamics themselves. :class:`FusedCollector`
runs the same pieces (the policy, ``TransformedEnv._step``, ``_step_mdp`` and ``TransformedEnv._reset`` with the
``"_reset"`` mask, so the env's own transforms run inside it), but resets every step under the done mask instead
of branching on it, and tracks trajectory ids with a cumulative sum instead of a host-side pool. A step is then
one function with no host sync and no data-dependent shape, which ``torch.compile`` captures whole
(``fullgraph=True``) and, on CUDA with ``compile_mode="reduce-overhead"``, a CUDA graph replays; the T steps of a
batch are a Python loop over it (unrolled into one graph, 16 steps took about ten minutes to compile on a CPU).

The batch is the Collector's: the same keys (``("collector", "traj_ids")`` included), shape ``[N, T]``, the same
semantics, and with the same seeds the same data: the arenas and gaze draw from the counter-based
:class:`~bikkle_rl.envs.random.ArenaRNG`, whose numbers do not depend on whether a reset computed every arena
under a mask or only the done ones. The policy's exploration noise comes from torch's global RNG: identical to
the Collector's when the rollout runs eagerly (``compile=False``) or with inductor's ``fallback_random``;
compiled, inductor draws its own (equally distributed) stream.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import nullcontext

import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.collectors import BaseCollector
from torchrl.envs import TransformedEnv

from bikkle_rl.envs.bikkle import BikkleEnv


def whole_batches(frames: int, frames_per_batch: int) -> int:
    """``frames`` rounded up to a multiple of ``frames_per_batch``."""
    return -(-frames // frames_per_batch) * frames_per_batch


def stack_steps(steps: list[TensorDictBase]) -> TensorDict:
    """``torch.stack(steps, dim=1)`` for same-layout steps, leaf by leaf (half the time of TensorDict's stack)."""
    first = steps[0]
    batch = TensorDict(batch_size=[*first.batch_size, len(steps)], device=first.device)
    for key in first.keys(include_nested=True, leaves_only=True):
        batch.set(key, torch.stack([step.get(key) for step in steps], 1))
    return batch


class FusedCollector(BaseCollector):
    """Yields ``[N, frames_per_batch / N]`` batches from ``env`` under ``policy``, each env step one fused function.

    Args:
        env: a :class:`~torchrl.envs.TransformedEnv` over a :class:`~bikkle_rl.envs.BikkleEnv`.
        policy: a TensorDict module reading the env's observation (e.g. an algorithm's collection policy).
        frames_per_batch: env steps per batch, a multiple of the env's arena count N.
        total_frames: the budget (rounded up to whole batches); -1 collects without end.
        init_random_frames: the first frames act with the action spec's random actions (SAC's warm-up), in whole
            batches: a batch that starts before them is random.
        compile: ``torch.compile`` the step whole (``fullgraph=True``); the first batch runs eagerly.
        compile_options: more ``torch.compile`` arguments (e.g. ``mode="reduce-overhead"``: CUDA graphs on CUDA).
    """

    def __init__(self, env: TransformedEnv, policy: Callable[[TensorDictBase], TensorDictBase], frames_per_batch: int,
                 total_frames: int = -1, init_random_frames: int = 0, compile: bool = False,
                 compile_options: dict | None = None):
        super().__init__()
        if not isinstance(env, TransformedEnv) or not isinstance(env.base_env, BikkleEnv):
            raise TypeError(f"FusedCollector needs a TransformedEnv over a BikkleEnv, got {type(env).__name__}")
        num_envs = env.batch_size.numel()
        if frames_per_batch < num_envs or frames_per_batch % num_envs:
            raise ValueError(f"frames_per_batch={frames_per_batch} must be a positive multiple of the arena count "
                             f"{num_envs}")
        if total_frames != -1 and total_frames < 1:
            raise ValueError(f"total_frames must be >= 1 (or -1: endless), got {total_frames}")
        self.env, self.policy = env, policy
        self.frames_per_batch = frames_per_batch
        self.steps = frames_per_batch // num_envs
        self.total_frames = total_frames if total_frames == -1 else whole_batches(total_frames, frames_per_batch)
        self.init_random_frames = init_random_frames
        self.frames = 0
        self._state_keys = list(env.state_spec.keys(True, True))
        self._carrier: TensorDictBase | None = None
        self._traj_ids = torch.arange(num_envs, device=env.device)
        self._next_traj_id = torch.tensor(num_envs, device=env.device)
        self._compiled = compile
        self._steps = {random: self._make_step(random) for random in (False, True)}
        self._untaken_policy_outputs = self._policy_outputs().zero_() if init_random_frames else None
        self._compile_kwargs = {"fullgraph": True, **(compile_options or {})}
        self._batches = {False: 0, True: 0}  # batches collected by each step function

    @torch.no_grad()
    def _policy_outputs(self) -> TensorDictBase:
        """What the policy writes besides the action (e.g. ``loc``, ``action_log_prob``), from a probe call.

        Random-action batches carry them as zeros, as the Collector's do."""
        probe = self.env.fake_tensordict().exclude("next")
        output = self.policy(probe.clone())
        return output.exclude(*probe.keys(True, True), "action")

    def _make_step(self, random: bool) -> Callable:
        def step(carrier: TensorDictBase, traj_ids: torch.Tensor, next_traj_id: torch.Tensor):
            if random:
                carrier = self.env.rand_action(carrier.update(self._untaken_policy_outputs.clone()))
            else:
                carrier = self.policy(carrier)
            data, carrier = self._env_step(carrier)
            data.set(("collector", "traj_ids"), traj_ids)
            done = data.get(("next", "done")).squeeze(-1)
            traj_ids = torch.where(done, next_traj_id + done.cumsum(0) - 1, traj_ids)
            return data, carrier, traj_ids, next_traj_id + done.sum()
        return step

    def _env_step(self, carrier: TensorDictBase) -> tuple[TensorDictBase, TensorDictBase]:
        """``env.step_and_maybe_reset`` without its host-side branch: every arena goes through the masked reset."""
        env = self.env
        data = carrier.set("next", env._step(carrier))
        carrier = env._step_mdp(data)
        done = carrier.get("done")
        request = carrier.select(*self._state_keys, strict=False).set("_reset", done)
        fresh = env._reset(request)
        return data, fresh.where(done.squeeze(-1), carrier, pad=0)

    def _step(self, random: bool) -> tuple[Callable, bool]:
        """The step function and whether it is in its steady state.

        Eager for the first batch (TensorDict layouts settle), compiled from the second; from the third on, dynamo
        skips its guard checks (``skip_guard_eval_unsafe``: the step's inputs keep their layout, and a test holds
        the steady state free of recompiles), which cost about a tenth of a step on a CPU.
        """
        batches = self._batches[random]
        self._batches[random] += 1
        if self._compiled and batches == 1:
            self._steps[random] = torch.compile(self._steps[random], **self._compile_kwargs)
        return self._steps[random], self._compiled and batches >= 2

    @torch.no_grad()
    def next_batch(self) -> TensorDictBase:
        """Collects one ``[N, T]`` batch."""
        if self._carrier is None:
            self._carrier = self.env.reset()
        step, steady = self._step(self.frames < self.init_random_frames)
        carrier, traj_ids, next_traj_id = self._carrier, self._traj_ids, self._next_traj_id
        steps = []
        with torch.compiler.set_stance("default", skip_guard_eval_unsafe=True) if steady else nullcontext():
            for _ in range(self.steps):
                data, carrier, traj_ids, next_traj_id = step(carrier, traj_ids, next_traj_id)
                steps.append(data)
        self._carrier, self._traj_ids, self._next_traj_id = carrier, traj_ids, next_traj_id
        batch = stack_steps(steps)
        self.frames += batch.numel()
        return batch

    def iterator(self) -> Iterator[TensorDictBase]:
        while self.total_frames == -1 or self.frames < self.total_frames:
            yield self.next_batch()

    def set_seed(self, seed: int, static_seed: bool = False) -> int:
        return self.env.set_seed(seed, static_seed=static_seed)

    def state_dict(self) -> dict:
        return {"frames": self.frames, "next_traj_id": self._next_traj_id.clone()}

    def load_state_dict(self, state_dict: dict) -> None:
        self.frames = int(state_dict["frames"])
        self._next_traj_id.copy_(state_dict["next_traj_id"])

    def shutdown(self, timeout: float | None = None, close_env: bool = True, raise_on_error: bool = True) -> None:
        if close_env and not self.env.is_closed:
            self.env.close(raise_if_closed=False)
