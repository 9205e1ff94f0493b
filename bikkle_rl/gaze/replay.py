"""A recorded person's gaze, replayed step by step: real gaze evaluated offline against the same seeds.

The recording's gaze is indexed by episode and step: on its k-th episode an arena replays a recorded
episode from its first step, one recorded step per gaze sample (the reset's observation is step 0), and the
gaze is invalid once the episode outlasts the recorded one. Which recorded episode an arena replays:

- ``episodes="shared"``: every arena replays recorded episode ``k mod E`` on its k-th episode (the same
  sequence in every arena; with one arena, the session's episodes in order);
- ``episodes="staggered"``: arena i replays ``(i + k * N) mod E``, so a batch of N arenas covers N different
  recorded episodes at once.

The gaze is open-loop: it matches what the person saw only while the replayed arena follows the recorded
one (same config and seed, and the same moves). Once a different policy touches a different pellet, the
recorded gaze keeps pointing where the person looked, which is the question such an evaluation asks.
"""

from __future__ import annotations

import os

import torch
from tensordict import TensorDictBase

from bikkle_rl.gaze.source import GazeSource, observation_device, where_rows
from bikkle_rl.human.recording import Recording, load_recording

EPISODE_ORDERS = ("shared", "staggered")


def episode_gaze(recording: Recording) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A recording's gaze per episode, padded: gaze [E, L, 2], valid [E, L] (False on padding), lengths [E]."""
    episode = torch.as_tensor(recording["episode"])
    step = torch.as_tensor(recording["episode_step"])
    num_episodes = int(episode.max()) + 1 if len(episode) else 0
    longest = int(step.max()) + 1 if len(step) else 0
    gaze = torch.zeros(num_episodes, longest, 2)
    valid = torch.zeros(num_episodes, longest, dtype=torch.bool)
    gaze[episode, step] = torch.as_tensor(recording["gaze"])
    valid[episode, step] = torch.as_tensor(recording["gaze_valid"])
    lengths = torch.zeros(num_episodes, dtype=torch.long).scatter_reduce(0, episode, step + 1, "amax")
    return gaze, valid, lengths


class ReplayGaze(GazeSource):
    """Replays the gaze of a recording (a path or a loaded :class:`~bikkle_rl.human.recording.Recording`).

    See the module docstring for the alignment. Validity is the recorded one (``default_p_valid = 1``).

    Args:
        recording: the file (see :mod:`bikkle_rl.human.recording`) or a loaded recording.
        episodes: ``"shared"`` or ``"staggered"``.
    """

    default_p_valid = 1.0

    def __init__(self, recording: str | os.PathLike | Recording, episodes: str = "shared"):
        if episodes not in EPISODE_ORDERS:
            raise ValueError(f"episodes must be one of {EPISODE_ORDERS}, got {episodes!r}")
        self.path = None if isinstance(recording, Recording) else str(recording)
        loaded = recording if isinstance(recording, Recording) else load_recording(recording)
        if loaded.num_steps == 0:
            raise ValueError(f"recording {self.path or ''} has no steps to replay".replace("  ", " "))
        self.episodes = episodes
        self._gaze, self._valid, self._lengths = episode_gaze(loaded)
        self._episode: torch.Tensor | None = None  # [N] recorded episode each arena replays
        self._step: torch.Tensor | None = None  # [N] next recorded step to replay
        self._count: torch.Tensor | None = None  # [N] episodes each arena has started

    @property
    def num_recorded_episodes(self) -> int:
        return self._lengths.shape[0]

    def reset(self, td: TensorDictBase, mask: torch.Tensor | None, generator: torch.Generator) -> None:
        num, device = td.batch_size[0], observation_device(td)
        if self._count is None or self._count.shape[0] != num or self._count.device != device:
            self._gaze, self._valid, self._lengths = (x.to(device) for x in (self._gaze, self._valid, self._lengths))
            self._count = torch.zeros(num, dtype=torch.long, device=device)
            self._step = torch.zeros(num, dtype=torch.long, device=device)
            self._episode = torch.zeros(num, dtype=torch.long, device=device)
            mask = None
        arena = torch.arange(num, device=device)
        first = arena if self.episodes == "staggered" else torch.zeros_like(arena)
        stride = num if self.episodes == "staggered" else 1
        episode = (first + self._count * stride) % self.num_recorded_episodes
        self._episode = where_rows(mask, episode, self._episode)
        self._step = where_rows(mask, torch.zeros_like(self._step), self._step)
        self._count = where_rows(mask, self._count + 1, self._count)

    def sample(self, td, mask, generator):
        if self._step is None:
            raise RuntimeError("ReplayGaze: reset before sampling")
        step = self._step.clamp_max(self._gaze.shape[1] - 1)
        recorded = self._step < self._lengths[self._episode]
        gaze = self._gaze[self._episode, step] * recorded[:, None]
        valid = (self._valid[self._episode, step] & recorded)[:, None]
        self._step = where_rows(mask, self._step + 1, self._step)
        return gaze, valid
