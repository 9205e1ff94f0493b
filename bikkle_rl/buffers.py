"""Replay buffers for off-policy training: uniform, or event-priority (rare pellet touches over-sampled).

Bikkle's reward is sparse: with the training arena (1 pink + 1 blue, episodic) only a few percent of
transitions carry a non-zero reward. The *event-priority* buffer makes sure every sampled batch holds at least
a configured fraction of those "events", so the critic sees them often, while the rest of the batch stays a
uniform sample of everything stored.

Why two disjoint storages and not torchrl's ``PrioritizedSampler`` driven by ``|reward|``: a priority sampler
gives each transition a probability proportional to its priority, so the share of events in a batch drifts
with the event rate, the reward magnitudes (a blue touch weighs 10 pinks) and the priority exponent; the
event share a run asks for would have to be re-solved for the priorities every batch. Splitting the
stream into an ``events`` storage and an ``others`` storage gives the share directly, stores each transition
once, and lets events live longer than the main stream (``event_size`` is its own capacity): a rare touch is
not pushed out by the hundreds of ordinary steps that follow it. Sampling draws ``round(event_fraction * B)``
rows from the events and the rest uniformly over both storages (in proportion to their sizes), so the
realised event share is ``f + (1 - f) * n_events / (n_events + n_others)``: never below ``f``, and the natural
rate when ``f = 0``. No importance weights correct the bias: over-sampling events is the point.

An event is a transition in which the agent touched a pellet: the env's per-step touch counts
``("next", "events", "pink" | "blue")``. Read from the touches, not the reward, the split stays meaningful under
distance shaping (``env.shaping > 0``, the training default), which makes every step's reward non-zero. Batches
without touch counts fall back on a non-zero *raw* reward: ``("next", "raw_reward")`` when the env normalises
rewards, else ``("next", "reward")``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from tensordict import TensorDictBase
from torchrl.data import LazyTensorStorage, TensorDictReplayBuffer

EVENT_KEY = "is_event"
"""Bool [B] entry stored with every transition: its raw reward is non-zero."""

REPLAY_KINDS = ("uniform", "event")


@dataclass
class ReplayConfig:
    """Which replay buffer SAC samples from (the ``algo.replay`` config group).

    ``kind``: ``uniform`` (one storage of ``size`` transitions) or ``event`` (``size`` ordinary transitions
    plus ``event_size`` events, batches hold at least ``event_fraction`` events).
    """

    kind: str = "uniform"
    size: int = 500_000
    event_fraction: float = 0.25
    event_size: int = 100_000

    def __post_init__(self) -> None:
        if self.kind not in REPLAY_KINDS:
            raise ValueError(f"algo.replay.kind must be one of {REPLAY_KINDS}, got {self.kind!r}")
        for name in ("size", "event_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"algo.replay.{name} must be >= 1, got {getattr(self, name)!r}")
        if not 0.0 <= self.event_fraction <= 1.0:
            raise ValueError(f"algo.replay.event_fraction must lie in [0, 1], got {self.event_fraction!r}")


TOUCH_KEYS = (("next", "events", "pink"), ("next", "events", "blue"))


def event_mask(batch: TensorDictBase) -> torch.Tensor:
    """True where a transition touched a pellet (else, without touch counts, where its raw reward is non-zero);
    shape ``batch.batch_size``."""
    if all(key in batch.keys(include_nested=True) for key in TOUCH_KEYS):
        touches = sum(batch.get(key) for key in TOUCH_KEYS)
        return (touches != 0).reshape(batch.batch_size)
    reward = batch.get(("next", "raw_reward"), None)
    if reward is None:
        reward = batch.get(("next", "reward"))
    return (reward != 0).reshape(batch.batch_size)


def _uniform(size: int, batch_size: int, device: torch.device | str) -> TensorDictReplayBuffer:
    return TensorDictReplayBuffer(storage=LazyTensorStorage(size, device=device), batch_size=batch_size)


class EventPriorityReplayBuffer:
    """Two disjoint uniform buffers, ``events`` and ``others``, sampled so a batch holds at least
    ``event_fraction`` events (see the module docstring for the rule and why).

    ``extend`` takes flat transitions [B] carrying :data:`EVENT_KEY`; ``sample`` returns ``batch_size`` of them
    on the storage device, without a host sync beyond the two storage lengths (Python ints).
    """

    def __init__(self, size: int, event_size: int, event_fraction: float, batch_size: int,
                 device: torch.device | str = "cpu"):
        self.events = _uniform(event_size, batch_size, device)
        self.others = _uniform(size, batch_size, device)
        self.event_fraction = float(event_fraction)
        self.batch_size = int(batch_size)
        self.device = torch.device(device)

    def __len__(self) -> int:
        return len(self.events) + len(self.others)

    def extend(self, transitions: TensorDictBase) -> None:
        """Stores each transition [B] once, in ``events`` or ``others`` according to its :data:`EVENT_KEY`."""
        is_event = transitions[EVENT_KEY]
        for buffer, rows in ((self.events, transitions[is_event]), (self.others, transitions[~is_event])):
            if len(rows):
                buffer.extend(rows)

    def sample(self) -> TensorDictBase:
        """``batch_size`` transitions: ``round(event_fraction * batch_size)`` events, the rest uniform over all."""
        num_events, num_others = len(self.events), len(self.others)
        if num_events == 0 or num_others == 0:
            return (self.others if num_events == 0 else self.events).sample()
        forced = round(self.event_fraction * self.batch_size)
        draw = torch.randint(num_events + num_others, (self.batch_size,), device=self.device)
        draw[:forced] = torch.randint(num_events, (forced,), device=self.device)
        from_events = draw < num_events
        event_rows = self.events.storage[draw.clamp_max(num_events - 1)]
        other_rows = self.others.storage[(draw - num_events).clamp(0, num_others - 1)]
        return torch.where(from_events, event_rows, other_rows)

    def dumps(self, path: str | Path) -> None:
        """Writes the non-empty storages to ``path/events`` and ``path/others``."""
        Path(path).mkdir(parents=True, exist_ok=True)
        for name, buffer in (("events", self.events), ("others", self.others)):
            if len(buffer):
                buffer.dumps(Path(path) / name)

    def loads(self, path: str | Path) -> None:
        """Reads what :meth:`dumps` wrote (a storage absent there stays as it is)."""
        for name, buffer in (("events", self.events), ("others", self.others)):
            if (Path(path) / name).is_dir():
                buffer.loads(Path(path) / name)


ReplayBuffer = TensorDictReplayBuffer | EventPriorityReplayBuffer
"""What SAC samples from: both ``extend(transitions [B])``, ``sample()``, ``len()``, ``dumps``/``loads(path)``."""


def make_replay_buffer(cfg: ReplayConfig, batch_size: int, device: torch.device | str = "cpu") -> ReplayBuffer:
    """The configured buffer, its storages on ``device`` (allocated on the first ``extend``)."""
    if cfg.kind == "uniform":
        return _uniform(cfg.size, batch_size, device)
    return EventPriorityReplayBuffer(cfg.size, cfg.event_size, cfg.event_fraction, batch_size, device)
