"""Injects the human's gaze into the observation, from any :class:`~bikkle_rl.gaze.GazeSource`."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tensordict import TensorDictBase
from torchrl.data import Binary, Bounded, Composite
from torchrl.envs.transforms import Transform

from bikkle_rl.envs.keys import GAZE_INFORMATIVE_KEY
from bikkle_rl.envs.random import ArenaRNG
from bikkle_rl.gaze.source import GazeSource, drawing, observation_device, where_rows

AVAILABILITIES = ("step", "episode")

PValid = float | tuple[float, float]


def availability_range(p_valid: float | Sequence[float]) -> tuple[float, float]:
    """``(low, high)`` from one availability probability or a ``[low, high]`` range, checked to lie in [0, 1]."""
    bounds = (p_valid, p_valid) if isinstance(p_valid, (int, float)) else tuple(p_valid)
    if len(bounds) != 2 or not all(isinstance(b, (int, float)) for b in bounds):
        raise ValueError(f"p_valid must be a probability or a [low, high] pair, got {p_valid!r}")
    low, high = float(bounds[0]), float(bounds[1])
    if not 0 <= low <= high <= 1:
        raise ValueError(f"p_valid must lie in [0, 1] (as low <= high for a range), got {p_valid!r}")
    return low, high


def _same_device(a: torch.device, b: torch.device) -> bool:
    return a.type == b.type and (a.index or 0) == (b.index or 0)


class GazeInjection(Transform):
    """Writes ``gaze`` [N, 2] (arena coordinates), ``gaze_valid`` [N, 1] bool and, with ``hold``, ``gaze_age`` [N, 1].
    It also writes ``("privileged", "gaze_informative")`` [N, 1] bool (the source's ``is_informative``): whether this
    episode's gaze could carry anything, which a trainer may read and a policy never does.

    The source says where the eye is and whether its tracker has it; on top of that the gaze is *available*
    with probability ``p_valid``, drawn every step (``availability="step"``, the original) or once per episode
    (``"episode"``: an arena either has gaze for the whole episode or not at all). ``gaze`` reads zero where it
    is not valid. ``p_valid`` may also be a ``[low, high]`` range: each arena then draws its own rate uniformly
    from it at every reset, so an agent trained on a range sees gaze that is rarely and often fresh (and learns
    what a held gaze of each age is worth) while it is evaluated at one rate.

    With ``hold=True`` the last valid gaze is kept and exposed with its age (steps since it was sampled,
    0 when fresh) while the age is at most ``max_age``, so a memoryless policy can use a gaze seen a few steps
    ago: ``gaze_valid`` is then True for a fresh or held gaze, and ``gaze_age`` reads 0 where it is False.

    The gaze of step t is sampled from the observation of step t (the screen the person sees). Per-arena state
    lives in the transform and its source; a partial reset (``"_reset"`` mask) restarts only the masked arenas.

    Args:
        source: a :class:`~bikkle_rl.gaze.GazeSource` (see :func:`~bikkle_rl.gaze.make_gaze_source`).
        p_valid: availability probability, or a ``[low, high]`` range of them drawn per arena and episode; None
            takes ``source.default_p_valid`` (0.25 for synthetic sources as in the original, 1.0 for ``oracle``
            and ``realistic`` which model validity themselves).
        availability: ``"step"`` or ``"episode"``.
        hold: keep the last valid gaze and expose ``gaze_age``.
        max_age: how many steps a held gaze stays valid.
        seed: seeds the transform's ``torch.Generator`` (drawn from torch's global RNG when None).

    Examples:
        >>> from torchrl.envs import TransformedEnv
        >>> from bikkle_rl.envs import BikkleEnv
        >>> from bikkle_rl.gaze import CorrelatedGaze
        >>> env = TransformedEnv(BikkleEnv(4), GazeInjection(CorrelatedGaze(std=0.05), hold=True))
        >>> env.reset()["gaze_age"].shape
        torch.Size([4, 1])
    """

    def __init__(self, source: GazeSource, p_valid: PValid | None = None, availability: str = "step",
                 hold: bool = False, max_age: int = 10, seed: int | None = None):
        if not isinstance(source, GazeSource):
            raise TypeError(f"source must be a GazeSource, got {type(source).__name__}")
        if availability not in AVAILABILITIES:
            raise ValueError(f"availability must be one of {AVAILABILITIES}, got {availability!r}")
        if int(max_age) < 0:
            raise ValueError(f"max_age must be >= 0, got {max_age!r}")
        out_keys = ["gaze", "gaze_valid"] + (["gaze_age"] if hold else [])
        super().__init__(in_keys=[], out_keys=out_keys)
        self.source = source
        self.p_valid = source.default_p_valid if p_valid is None else p_valid
        self.availability = availability
        self.hold = bool(hold)
        self.max_age = int(max_age) if hold else 0
        self.seed = int(torch.empty((), dtype=torch.int64).random_().item()) if seed is None else int(seed)
        self.generator: ArenaRNG | None = None
        self._gaze: torch.Tensor | None = None  # [N, 2] last fresh-or-held gaze
        self._age: torch.Tensor | None = None  # [N, 1] long, steps since _gaze was sampled
        self._available: torch.Tensor | None = None  # [N, 1] bool, per-episode availability
        self._rate: torch.Tensor | None = None  # [N, 1] this episode's availability probability

    @property
    def p_valid(self) -> PValid:
        """The availability probability, or the ``(low, high)`` range each arena draws its rate from."""
        low, high = self._p_valid_range
        return low if low == high else (low, high)

    @p_valid.setter
    def p_valid(self, value: float | Sequence[float]) -> None:
        self._p_valid_range = availability_range(value)

    def _start(self, td: TensorDictBase) -> None:
        """Allocates per-arena state (and the generator) for the batch and device of ``td``."""
        n, device = td.batch_size[0], observation_device(td)
        if self.generator is None or not _same_device(self.generator.device, device):
            self.generator = ArenaRNG(self.seed, device, num_arenas=n)
        elif self.generator.counter is None or self.generator.counter.shape[0] != n:
            self.generator.manual_seed(self.seed, num_arenas=n)  # another batch size: the streams restart
        self._gaze = torch.zeros(n, 2, device=device)
        self._age = torch.full((n, 1), self.max_age + 1, dtype=torch.long, device=device)
        self._available = torch.ones(n, 1, dtype=torch.bool, device=device)
        self._rate = torch.full((n, 1), self._p_valid_range[0], device=device)

    def _advance(self, td: TensorDictBase, mask: torch.Tensor | None) -> TensorDictBase:
        """Samples the gaze for observation ``td``, updates the masked arenas' state and writes the outputs."""
        gaze, valid = self.source.sample(td, mask, self.generator)
        available = self._available
        if self.availability == "step":
            available = self.generator.uniform(drawing(mask, td), 1) < self._rate
        valid = valid & available
        held_gaze = torch.where(valid, gaze, self._gaze)
        age = torch.where(valid, 0, (self._age + 1).clamp_max(self.max_age + 1))
        self._gaze = where_rows(mask, held_gaze, self._gaze)
        self._age = where_rows(mask, age, self._age)
        shown = self._age <= self.max_age
        td.set("gaze", self._gaze * shown)
        td.set("gaze_valid", shown)
        if self.hold:
            td.set("gaze_age", (self._age * shown).float())
        td.set(GAZE_INFORMATIVE_KEY, self.source.is_informative(td))
        return td

    def _reset(self, tensordict: TensorDictBase, tensordict_reset: TensorDictBase) -> TensorDictBase:
        mask = tensordict.get("_reset", None) if tensordict is not None else None
        n = tensordict_reset.batch_size[0]
        if mask is None or self._gaze is None or self._gaze.shape[0] != n:
            self._start(tensordict_reset)
            mask = None
        else:
            mask = mask.reshape(n)
        self.source.reset(tensordict_reset, mask, self.generator)
        fresh_age = torch.full_like(self._age, self.max_age + 1)
        self._age = where_rows(mask, fresh_age, self._age)
        low, high = self._p_valid_range
        arenas = drawing(mask, tensordict_reset)
        if low < high:
            rate = low + (high - low) * self.generator.uniform(arenas, 1)
            self._rate = where_rows(mask, rate, self._rate)
        else:  # a fixed rate draws nothing (the streams still advance: they are the same as with ranges)
            self.generator.skip(arenas)
            self._rate = torch.full_like(self._rate, low)
        episode_available = self.generator.uniform(arenas, 1) < self._rate
        self._available = where_rows(mask, episode_available, self._available)
        return self._advance(tensordict_reset, mask)

    def _step(self, tensordict: TensorDictBase, next_tensordict: TensorDictBase) -> TensorDictBase:
        if self._gaze is None:
            raise RuntimeError("GazeInjection: reset the env before stepping it")
        return self._advance(next_tensordict, None)

    def transform_observation_spec(self, observation_spec: Composite) -> Composite:
        shape, device = observation_spec.shape, observation_spec.device
        observation_spec["gaze"] = Bounded(0.0, 1.0, (*shape, 2), device=device)
        observation_spec["gaze_valid"] = Binary(1, (*shape, 1), device=device, dtype=torch.bool)
        if self.hold:
            observation_spec["gaze_age"] = Bounded(0.0, float(self.max_age), (*shape, 1), device=device)
        observation_spec[GAZE_INFORMATIVE_KEY] = Binary(1, (*shape, 1), device=device, dtype=torch.bool)
        return observation_spec

    def forward(self, tensordict: TensorDictBase) -> TensorDictBase:
        raise NotImplementedError("GazeInjection is stateful and only runs inside an env (TransformedEnv)")
