"""Per-pellet gaze evidence across looks: how much of this round's gaze fell on each pellet."""

from __future__ import annotations

import torch
from tensordict import TensorDictBase
from torchrl.data import Bounded, Composite
from torchrl.envs.transforms import Compose, Transform

from bikkle_rl.envs.transforms.sort_pellets import SortPellets
from bikkle_rl.gaze.source import where_rows

RESPAWN_DISTANCE = 1e-4
"""A slot whose pellet moved farther than this between two steps holds a new pellet (pellets never move)."""

REVEALING_REWARD = 1.5
"""A step's reward above which touching the high-value pellet shows in it: the pellet pays more than a plain pink
(1) until late in a round, when it pays 1 and the agent cannot tell it from one."""


class GazeEvidence(Transform):
    """Writes ``pellet_gaze_share`` [N, P]: per pellet slot, ``looks_i / (prior + sum_j looks_j)``.

    A memoryless policy sees one (held) fixation at a time, so it can only trust a look as far as looks were
    reliable on average in training. This transform keeps the evidence across looks: each step with a fresh gaze
    sample (``gaze_valid`` and, with a held gaze, ``gaze_age`` 0) adds one look to the present pellet nearest the
    gaze point. Looks are forgotten where they stop meaning anything: a pellet's own when it respawns (its
    slot's position changes), all of them when the round restarts (``round_progress`` 0: the high-value pellet is
    drawn again) and at a reset. Gaze that keeps returning to one pellet gives it a share near 1; gaze that
    wanders (uniform) spreads it; no gaze leaves every share 0. ``prior`` keeps a share small until there
    have been a few looks.

    Put it after :class:`GazeInjection` and before :class:`SortPellets` (which permutes the share with the
    other per-pellet keys): it keys looks by slot, which only the unsorted layout keeps fixed. :class:`Tokenize`
    writes the share into the pellet tokens' fourth feature.

    ``track_record=True`` also writes ``gaze_track_record`` [N, 2], how far this episode's gaze has deserved
    trust, from what the agent's own rewards revealed: each time the agent collects the high-value pellet while
    its reward says so (above ``REVEALING_REWARD``), a reveal, and a hit where that pellet held the largest share
    of the looks just before (and any looks at all). It writes ``(hits / (1 + reveals), reveals / (1 + reveals))``:
    the hit rate shrunk towards 0 while there is little to go on, and how much there is. Correlated gaze drives the
    first towards 1, uniform gaze keeps it near chance, absent gaze at 0; the gaze source is drawn per episode,
    so the record starts over at every reset. :class:`Tokenize` writes it into the round token.

    Examples:
        >>> from torchrl.envs import Compose, TransformedEnv
        >>> from bikkle_rl.envs import BikkleEnv
        >>> from bikkle_rl.envs.transforms import GazeInjection
        >>> from bikkle_rl.gaze import CorrelatedGaze
        >>> env = TransformedEnv(BikkleEnv(4), Compose(GazeInjection(CorrelatedGaze(std=0.05)), GazeEvidence()))
        >>> env.reset()["pellet_gaze_share"].shape  # [arenas, pellet slots]
        torch.Size([4, 4])
    """

    def __init__(self, prior: float = 1.0, track_record: bool = False):
        if not prior > 0:
            raise ValueError(f"prior must be > 0, got {prior!r}")
        if not isinstance(track_record, bool):
            raise TypeError(f"track_record must be true or false, got {track_record!r}")
        self.track_record = track_record
        super().__init__(in_keys=[], out_keys=["pellet_gaze_share"] + ["gaze_track_record"] * self.track_record)
        self.prior = float(prior)
        self._looks: torch.Tensor | None = None  # [N, P] looks per slot since its pellet spawned or the round began
        self._position: torch.Tensor | None = None  # [N, P, 2] each slot's pellet position at the last step
        self._reveals: torch.Tensor | None = None  # [N, 1] high-value pellets collected this episode, as rewards said
        self._hits: torch.Tensor | None = None  # [N, 1] those of them that led the looks when collected

    def _advance(self, td: TensorDictBase, mask: torch.Tensor | None, stepped: bool = False) -> TensorDictBase:
        """Counts ``td``'s look into the masked arenas' evidence (every arena when None) and writes the share; after
        a step (``stepped``) with ``track_record``, first scores what the step revealed."""
        agent_pos, present = td.get("agent_pos"), td.get("pellet_mask")
        position = td.get("pellet_rel") + agent_pos[:, None]
        looks = self._looks
        respawned = (position - self._position).norm(dim=-1) > RESPAWN_DISTANCE
        if stepped and self.track_record:
            self._score_reveals(td, collected=respawned)
        round_start = td.get("round_progress") == 0  # [N, 1]
        looks = looks.masked_fill(respawned | round_start | ~present, 0.0)
        fresh = td.get("gaze_valid")
        if "gaze_age" in td:
            fresh = fresh & (td.get("gaze_age") == 0)
        distance = (position - td.get("gaze")[:, None]).norm(dim=-1).masked_fill(~present, float("inf"))
        nearest = torch.nn.functional.one_hot(distance.argmin(-1), distance.shape[-1]).to(looks.dtype)
        looks = looks + nearest * (fresh & present.any(-1, keepdim=True))
        self._looks = where_rows(mask, looks, self._looks)
        self._position = where_rows(mask, position, self._position)
        td.set("pellet_gaze_share", self._looks / (self.prior + self._looks.sum(-1, keepdim=True)))
        if self.track_record:
            td.set("gaze_track_record", torch.cat((self._hits, self._reveals), -1) / (1.0 + self._reveals))
        return td

    def _score_reveals(self, td: TensorDictBase, collected: torch.Tensor) -> None:
        """Counts a reveal where ``td``'s step collected the high-value pellet and its reward showed it, a hit where
        a ``collected`` pellet (its slot respawned) led the looks before the step (so before they are updated)."""
        leader = (self._looks == self._looks.max(-1, keepdim=True).values) & (self._looks > 0)
        revealed = (td.get(("events", "high_value")) > 0) & (td.get("reward") > REVEALING_REWARD)
        self._reveals = self._reveals + revealed
        self._hits = self._hits + (revealed & (collected & leader).any(-1, keepdim=True))

    def _reset(self, tensordict: TensorDictBase, tensordict_reset: TensorDictBase) -> TensorDictBase:
        mask = tensordict.get("_reset", None) if tensordict is not None else None
        shape = tensordict_reset.get("pellet_mask").shape
        if mask is None or self._looks is None or self._looks.shape != shape:
            device = tensordict_reset.get("agent_pos").device
            self._looks = torch.zeros(shape, device=device)
            self._position = torch.zeros(*shape, 2, device=device)
            self._reveals = torch.zeros(shape[0], 1, device=device)
            self._hits = torch.zeros(shape[0], 1, device=device)
            mask = None
        else:
            mask = mask.reshape(shape[0])
        self._looks = where_rows(mask, torch.zeros_like(self._looks), self._looks)
        if self.track_record:
            self._reveals = where_rows(mask, torch.zeros_like(self._reveals), self._reveals)
            self._hits = where_rows(mask, torch.zeros_like(self._hits), self._hits)
        return self._advance(tensordict_reset, mask)

    def _step(self, tensordict: TensorDictBase, next_tensordict: TensorDictBase) -> TensorDictBase:
        if self._looks is None:
            raise RuntimeError("GazeEvidence: reset the env before stepping it")
        return self._advance(next_tensordict, None, stepped=True)

    def transform_observation_spec(self, observation_spec: Composite) -> Composite:
        if "gaze" not in observation_spec:
            raise KeyError("GazeEvidence reads `gaze` and `gaze_valid`: put it after the gaze transform")
        before = self.parent.transform if self.parent is not None else Compose()
        if any(isinstance(t, SortPellets) for t in (before if isinstance(before, Compose) else [before])):
            raise ValueError("GazeEvidence keys looks by pellet slot, which SortPellets reorders every step: "
                             "put it before sort_pellets")
        pellets = observation_spec["pellet_mask"].shape
        observation_spec["pellet_gaze_share"] = Bounded(0.0, 1.0, pellets, device=observation_spec.device)
        if self.track_record:
            observation_spec["gaze_track_record"] = Bounded(0.0, 1.0, (*pellets[:-1], 2),
                                                            device=observation_spec.device)
        return observation_spec

    def forward(self, tensordict: TensorDictBase) -> TensorDictBase:
        raise NotImplementedError("GazeEvidence is stateful and only runs inside an env (TransformedEnv)")
