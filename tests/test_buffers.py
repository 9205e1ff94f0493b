"""Replay buffers: event flags, the event-priority batch composition, save/restore, config validation."""

import pytest
import torch
from tensordict import TensorDict

from bikkle_rl.buffers import (
    EVENT_KEY,
    EventPriorityReplayBuffer,
    ReplayConfig,
    event_mask,
    make_replay_buffer,
)


def transitions(num_events: int, num_others: int, start: int = 0) -> TensorDict:
    """Flat transitions [E + O] with a unique ``id``; events first."""
    total = num_events + num_others
    ids = torch.arange(start, start + total)
    return TensorDict({
        "id": ids,
        "observation": ids.float().unsqueeze(-1).expand(total, 3).clone(),
        EVENT_KEY: torch.arange(total) < num_events,
        ("next", "reward"): (torch.arange(total) < num_events).float().unsqueeze(-1),
    }, [total])


def test_event_mask_reads_the_raw_reward_when_present():
    batch = TensorDict({("next", "reward"): torch.tensor([[[0.3], [0.0], [-0.2]]]),
                        ("next", "raw_reward"): torch.tensor([[[0.0], [1.0], [-10.0]]])}, [1, 3])
    assert event_mask(batch).tolist() == [[False, True, True]]
    assert event_mask(batch.exclude(("next", "raw_reward"))).tolist() == [[True, False, True]]


def test_event_mask_reads_touches_so_that_shaping_does_not_make_every_step_an_event():
    shaped = torch.tensor([[[0.01], [1.02], [-0.01], [-9.98]]])
    batch = TensorDict({("next", "raw_reward"): shaped,
                        ("next", "events", "pink"): torch.tensor([[[0], [1], [0], [0]]]),
                        ("next", "events", "blue"): torch.tensor([[[0], [0], [0], [1]]])}, [1, 4])
    assert event_mask(batch).tolist() == [[False, True, False, True]]


def test_each_transition_is_stored_once_in_its_storage():
    buffer = EventPriorityReplayBuffer(size=100, event_size=50, event_fraction=0.25, batch_size=8)
    buffer.extend(transitions(5, 20))
    assert (len(buffer.events), len(buffer.others), len(buffer)) == (5, 20, 25)
    assert buffer.events.storage[:]["id"].tolist() == list(range(5))
    assert not buffer.others.storage[:][EVENT_KEY].any()


@pytest.mark.parametrize("fraction", [0.25, 0.0])
def test_batches_hold_the_configured_event_fraction(fraction):
    torch.manual_seed(0)
    num_events, num_others, batch_size, batches = 100, 900, 256, 200
    buffer = EventPriorityReplayBuffer(size=2000, event_size=500, event_fraction=fraction, batch_size=batch_size)
    buffer.extend(transitions(num_events, num_others))
    samples = [buffer.sample() for _ in range(batches)]
    forced = round(fraction * batch_size)
    expected = (forced + (batch_size - forced) * num_events / (num_events + num_others)) / batch_size
    per_batch = torch.stack([s[EVENT_KEY].float().sum() for s in samples])
    # the forced events are in every batch; the rest is a uniform draw (std of the mean here ~0.0012)
    assert per_batch.min() >= forced
    assert abs(per_batch.mean().item() / batch_size - expected) < 0.006
    for sample in samples[:5]:  # rows are genuine stored transitions, flag and content consistent
        assert torch.equal(sample[EVENT_KEY], sample["id"] < num_events)
        assert torch.equal(sample["observation"][:, 0], sample["id"].float())


def test_a_buffer_without_events_samples_ordinary_transitions():
    buffer = EventPriorityReplayBuffer(size=100, event_size=50, event_fraction=0.5, batch_size=16)
    buffer.extend(transitions(0, 30))
    assert not buffer.sample()[EVENT_KEY].any()
    assert buffer.sample().batch_size == torch.Size([16])


def test_events_outlive_the_ordinary_stream():
    buffer = EventPriorityReplayBuffer(size=10, event_size=10, event_fraction=0.25, batch_size=4)
    buffer.extend(transitions(2, 8))
    buffer.extend(transitions(0, 10, start=100))  # pushes every old ordinary transition out
    assert sorted(buffer.events.storage[:]["id"].tolist()) == [0, 1]
    assert sorted(buffer.others.storage[:]["id"].tolist()) == list(range(100, 110))


@pytest.mark.parametrize("kind", ["uniform", "event"])
def test_save_and_restore_round_trip(kind, tmp_path):
    cfg = ReplayConfig(kind=kind, size=40, event_size=10)
    buffer = make_replay_buffer(cfg, batch_size=8)
    buffer.extend(transitions(4, 30))
    buffer.extend(transitions(3, 20, start=1000))  # wraps both storages
    buffer.dumps(tmp_path)
    restored = make_replay_buffer(cfg, batch_size=8)
    restored.loads(tmp_path)
    assert len(restored) == len(buffer)
    more = transitions(2, 5, start=5000)
    for b in (buffer, restored):
        b.extend(more)  # the write cursors must continue at the same place
    storages = (lambda b: [b.storage]) if kind == "uniform" else (lambda b: [b.events.storage, b.others.storage])
    for original, copy in zip(storages(buffer), storages(restored)):
        assert torch.equal(original[:]["id"], copy[:]["id"])
        assert torch.equal(original[:]["observation"], copy[:]["observation"])


@pytest.mark.parametrize("field, value, match", [
    ("kind", "prioritized", "kind"),
    ("size", 0, "size"),
    ("event_size", 0, "event_size"),
    ("event_fraction", 1.5, "event_fraction"),
])
def test_config_validation_names_the_bad_field(field, value, match):
    with pytest.raises(ValueError, match=match):
        ReplayConfig(**{field: value})
