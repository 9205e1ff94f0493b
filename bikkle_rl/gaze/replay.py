"""A recorded person's gaze, replayed step by step: real gaze evaluated and trained on offline.

Recordings are indexed by episode and step: on its k-th episode an arena replays a recorded episode from its
first step, one recorded step per gaze sample (the reset's observation is step 0), and the gaze is invalid once
the episode outlasts the recorded one. Several files replay as one list of episodes, file by file. Which
recorded episode an arena replays:

- ``episodes="shared"``: every arena replays recorded episode ``k mod E`` on its k-th episode (the same
  sequence in every arena; with one arena, the session's episodes in order);
- ``episodes="staggered"``: arena i replays ``(i + k * N) mod E``, so a batch of N arenas covers N different
  recorded episodes at once.

What is replayed (``align``):

- ``"step"`` (open loop): the recorded gaze point. It matches what the person saw only while the replayed arena
  follows the recorded one (same config and seed, same moves); once a policy touches another pellet, the
  gaze keeps pointing where the person looked.
- ``"pellet"`` (closed loop): the recorded *role* of the looked-at pellet (:mod:`bikkle_rl.recording.gaze_targets`),
  played in the current arena: a look at the high-value pink becomes a look at this arena's high-value pink,
  a look at another pink a look at one of this arena's other pinks (drawn when the recorded look moved to a
  new pellet, kept while it stays on the same one), a blue likewise, each at the recorded offset from the
  pellet. Looks at no pellet replay the recorded point. The recorded timing is kept step for step: fixation
  durations, saccades, dropouts (invalid steps) and the tracker's latency (the person's look lags the recorded
  arena, so after a pellet is taken the look lingers where it was: such steps are off-pellet looks and replay
  as points). Any policy can be trained and evaluated on it, since the gaze follows the pellets it meets.

Role mapping when counts differ: a role the current arena never holds (a look at a second pink where the arena
has at most one pink, a look at a blue where it has no blues) cannot be mapped and the recording is refused,
naming the file and the role. A role momentarily absent (pellet counts drawn per episode from a range) replays
that step's recorded point, as an off-pellet look.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from tensordict import TensorDictBase

from bikkle_rl.envs.keys import PRIVILEGED
from bikkle_rl.envs.random import ArenaRNG
from bikkle_rl.gaze.source import GazeSource, drawing, observation_device, where_rows
from bikkle_rl.recording import Recording, load_recording
from bikkle_rl.recording.gaze_targets import ROLE_BLUE, ROLE_HIGH_VALUE, ROLE_NAMES, ROLE_PINK

EPISODE_ORDERS = ("shared", "staggered")
ALIGNMENTS = ("step", "pellet")
RecordingSource = str | os.PathLike | Recording


def new_looks(recording: Recording) -> np.ndarray:
    """[T] bool: the step's look lands on a pellet other than the last looked-at one of its episode (another
    slot, or the same slot re-spawned elsewhere). Lost steps in between do not end a look."""
    target, episode_step = recording["gaze_target"], recording["episode_step"]
    rows = np.arange(len(target))
    anchor = np.maximum.accumulate(np.where((target >= 0) | (episode_step == 0), rows, 0))
    previous = np.concatenate(([0], anchor[:-1]))
    moved = np.abs(recording["pellet_pos"][rows, np.maximum(target, 0)]
                   - recording["pellet_pos"][previous, np.maximum(target[previous], 0)]).max(-1) > 1e-6
    return (target >= 0) & ((episode_step == 0) | (target[previous] != target) | moved)


def padded_episodes(recordings: Sequence[Recording], roles: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
    """The recordings' steps as episodes [E, L, ...] (file by file), padded, with ``length`` [E]; ``roles`` are
    each recording's :attr:`~bikkle_rl.recording.Recording.gaze_roles`.

    Keys: ``gaze`` [E, L, 2], ``valid`` [E, L] (False on padding), ``role`` [E, L], ``offset`` [E, L, 2],
    ``new_look`` [E, L].
    """
    per_file = []
    first = 0
    for recording, recording_roles in zip(recordings, roles):
        episode = recording["episode"] + first
        first = int(episode.max()) + 1
        per_file.append({"episode": episode, "step": recording["episode_step"], "gaze": recording["gaze"],
                         "valid": recording["gaze_valid"], "role": recording_roles, "offset": recording["gaze_offset"],
                         "new_look": new_looks(recording)})
    rows = {key: torch.as_tensor(np.concatenate([f[key] for f in per_file])) for key in per_file[0]}
    episode, step = rows.pop("episode"), rows.pop("step")
    num_episodes, longest = int(episode.max()) + 1, int(step.max()) + 1
    episodes = {}
    for key, values in rows.items():
        padded = torch.zeros(num_episodes, longest, *values.shape[1:], dtype=values.dtype)
        padded[episode, step] = values
        episodes[key] = padded
    episodes["length"] = torch.zeros(num_episodes, dtype=torch.long).scatter_reduce(0, episode, step + 1, "amax")
    return episodes


def role_candidates(td: TensorDictBase) -> dict[int, torch.Tensor]:
    """Per pellet role, which present pellets [N, P] of the observation ``td`` can play it."""
    mask, kind = td.get("pellet_mask"), td.get("pellet_kind")
    is_high = td.get((PRIVILEGED, "is_high_value"))
    return {ROLE_HIGH_VALUE: is_high & mask, ROLE_PINK: (kind == 0) & ~is_high & mask, ROLE_BLUE: (kind == 1) & mask}


class ReplayGaze(GazeSource):
    """Replays the gaze of recordings (see the module docstring for the order and the alignment).

    Validity is the recorded one (``default_p_valid = 1``).

    Args:
        path: a recording file (see :mod:`bikkle_rl.recording`), a loaded recording, or a list of them.
        episodes: ``"shared"`` or ``"staggered"``.
        align: ``"step"`` (the recorded point) or ``"pellet"`` (the recorded look, played in the current arena).
    """

    default_p_valid = 1.0

    def __init__(self, path: RecordingSource | Sequence[RecordingSource], episodes: str = "shared",
                 align: str = "step"):
        if episodes not in EPISODE_ORDERS:
            raise ValueError(f"episodes must be one of {EPISODE_ORDERS}, got {episodes!r}")
        if align not in ALIGNMENTS:
            raise ValueError(f"align must be one of {ALIGNMENTS}, got {align!r}")
        items = list(path) if isinstance(path, (list, tuple)) else [path]
        if not items:
            raise ValueError("replay needs at least one recording")
        self.path = [None if isinstance(item, Recording) else str(item) for item in items]
        recordings = [item if isinstance(item, Recording) else load_recording(item) for item in items]
        for name, recording in zip(self.path, recordings):
            if recording.num_steps == 0:
                raise ValueError(f"recording {name or ''} has no steps to replay".replace("  ", " "))
        self.episodes = episodes
        self.align = align
        roles = [recording.gaze_roles for recording in recordings]
        self._roles_needed = self._needed_roles(roles)
        self._recorded = padded_episodes(recordings, roles)
        self._episode: torch.Tensor | None = None  # [N] recorded episode each arena replays
        self._step: torch.Tensor | None = None  # [N] next recorded step to replay
        self._count: torch.Tensor | None = None  # [N] episodes each arena has started
        self._looked_at: torch.Tensor | None = None  # [N, 2] the pellet a closed-loop look rests on (NaN: none)

    def _needed_roles(self, roles: Sequence[np.ndarray]) -> dict[int, str]:
        """Pellet role -> the first file that looks at a pellet in that role (what the current arena must hold),
        from each recording's ``roles`` [T]."""
        needed: dict[int, str] = {}
        for name, recording_roles in zip(self.path, roles):
            for role in (ROLE_PINK, ROLE_BLUE):
                if role not in needed and (recording_roles == role).any():
                    needed[role] = name or "(a loaded recording)"
        return needed

    @property
    def num_recorded_episodes(self) -> int:
        return self._recorded["length"].shape[0]

    def _check_mappable(self, td: TensorDictBase) -> None:
        """Refuses recordings whose looks need a pellet role this arena never holds (closed loop only)."""
        kind = td.get("pellet_kind")
        holds = {ROLE_PINK: int((kind == 0).sum(-1).max()) >= 2, ROLE_BLUE: int((kind == 1).sum(-1).max()) >= 1}
        needs = {ROLE_PINK: "a second pink", ROLE_BLUE: "a blue"}
        for role, name in self._roles_needed.items():
            if not holds[role]:
                raise ValueError(f"recording {name} cannot be replayed with align='pellet' here: it looks at "
                                 f"{ROLE_NAMES[role]} pellets, and this arena never holds {needs[role]}")

    def reset(self, td: TensorDictBase, mask: torch.Tensor | None, generator: torch.Generator) -> None:
        num, device = td.batch_size[0], observation_device(td)
        if self._count is None or self._count.shape[0] != num or self._count.device != device:
            if self.align == "pellet":
                self._check_mappable(td)
            self._recorded = {key: value.to(device) for key, value in self._recorded.items()}
            self._count = torch.zeros(num, dtype=torch.long, device=device)
            self._step = torch.zeros(num, dtype=torch.long, device=device)
            self._episode = torch.zeros(num, dtype=torch.long, device=device)
            self._looked_at = torch.full((num, 2), torch.nan, device=device)
            mask = None
        arena = torch.arange(num, device=device)
        first = arena if self.episodes == "staggered" else torch.zeros_like(arena)
        stride = num if self.episodes == "staggered" else 1
        episode = (first + self._count * stride) % self.num_recorded_episodes
        self._episode = where_rows(mask, episode, self._episode)
        self._step = where_rows(mask, torch.zeros_like(self._step), self._step)
        self._count = where_rows(mask, self._count + 1, self._count)
        self._looked_at = where_rows(mask, torch.full_like(self._looked_at, torch.nan), self._looked_at)

    def sample(self, td, mask, generator):
        if self._step is None:
            raise RuntimeError("ReplayGaze: reset before sampling")
        recorded = self._recorded
        step = self._step.clamp_max(recorded["gaze"].shape[1] - 1)
        in_recording = self._step < recorded["length"][self._episode]
        at = (self._episode, step)
        gaze = recorded["gaze"][at]
        if self.align == "pellet":
            gaze = self._closed_loop(td, at, mask, generator, gaze)
        valid = (recorded["valid"][at] & in_recording)[:, None]
        self._step = where_rows(mask, self._step + 1, self._step)
        return gaze * in_recording[:, None], valid

    def _closed_loop(self, td: TensorDictBase, at: tuple[torch.Tensor, torch.Tensor], mask: torch.Tensor | None,
                     generator: ArenaRNG, point: torch.Tensor) -> torch.Tensor:
        """The recorded looks at ``at`` played in the arenas of ``td`` (the recorded ``point`` off pellets): [N, 2]."""
        role, offset, new_look = (self._recorded[key][at] for key in ("role", "offset", "new_look"))
        pellet_pos = td.get((PRIVILEGED, "pellet_pos"))
        candidates = role_candidates(td)
        allowed = torch.zeros_like(candidates[ROLE_PINK])
        for pellet_role, can_play in candidates.items():
            allowed |= can_play & (role == pellet_role)[:, None]
        same_pellet = allowed & ((pellet_pos - self._looked_at[:, None]).abs().amax(-1) < 1e-6)
        keep = same_pellet.any(-1) & ~new_look
        scores = generator.uniform(drawing(mask, td), allowed.shape[-1])
        slot = torch.where(keep, same_pellet.to(torch.uint8).argmax(-1),
                           torch.where(allowed, scores, -1.0).argmax(-1))
        on_pellet = allowed.any(-1)
        pellet = pellet_pos[torch.arange(len(slot), device=slot.device), slot]
        looked_at = torch.where(on_pellet[:, None], pellet, torch.nan)
        self._looked_at = where_rows(mask, looked_at, self._looked_at)
        return torch.where(on_pellet[:, None], pellet + offset, point).clamp(0.0, 1.0)
