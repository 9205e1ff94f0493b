"""Counter-based random numbers for batched arenas: a draw is a pure function of (seed, draw, arena, element).

A ``torch.Generator`` hands out numbers in sequence, so what arena ``i`` draws depends on how many numbers
were drawn before it: drawing for the arenas that need it (a cheap gather on CPU) or for all arenas and masking
(no host sync: GPU, ``torch.compile``, CUDA graphs) give different streams, and ``torch.compile`` cannot trace a
``torch.Generator`` at all. :class:`ArenaRNG` hashes ``(seed, draw counter, arena index, element index)``
instead (a PCG hash, as GPU renderers and JAX-style envs do), so

- the numbers arena ``i`` gets never depend on which other arenas drew: every code path yields the same data;
- the state is int64 tensors on the device (a seed key, one draw counter per arena): a draw is a handful of elementwise
  integer ops that ``torch.compile`` fuses and a CUDA graph captures, with no host sync;
- CPU and CUDA give bit-identical integers (and uniforms, which are exact 24-bit fractions).

Every draw advances the counters of the arenas that draw by one: code that skips a draw it does not need
(``skip()``) stays in step with code that computes and discards it, and a masked draw (every row computed, the
mask's rows advanced) stays in step with a gather of the masked rows.
"""

from __future__ import annotations

import math

import torch

_MASK32 = 0xFFFFFFFF


def pcg_hash(x: torch.Tensor) -> torch.Tensor:
    """The PCG output permutation of a 32-bit LCG step, on int64 tensors holding uint32 values.

    Every product stays below 2**63 (multipliers below 2**30), so int64 arithmetic is exact on every device.
    """
    state = (x * 747796405 + 2891336453) & _MASK32
    word = (((state >> ((state >> 28) + 4)) ^ state) * 277803737) & _MASK32
    return (word >> 22) ^ word


Arenas = torch.Tensor | int
"""Which arenas draw: an int N (all arenas ``0..N-1``), an int64 index tensor [R] (those arenas, in that order) or
a bool mask [N] (values for all N arenas, but only the masked ones draw: the others' counters stay)."""


def num_rows(arenas: Arenas) -> int:
    """How many rows a draw for ``arenas`` returns."""
    return arenas if isinstance(arenas, int) else arenas.shape[0]


class ArenaRNG:
    """Random numbers for ``[N, ...]`` batches of arenas, with the interface the dynamics and gaze sources use.

    Each arena has its own draw counter, so what an arena gets depends only on its own history of draws: a draw
    for arenas ``[3, 7]`` (a gather) gives the rows that a draw for the mask ``[.., 3: True, .., 7: True, ..]``
    (all rows computed, the rest masked) gives at 3 and 7, and both leave every arena's stream in the same place.
    The counters are allocated at the first draw for an int N or a mask [N] (or by ``num_arenas``).

    Args:
        seed: any Python int (its low 64 bits key the stream).
        device: where the state lives and draws are made.
        num_arenas: N, when known.
    """

    def __init__(self, seed: int = 0, device: torch.device | str = "cpu", num_arenas: int | None = None):
        self.device = torch.device(device)
        self.key = torch.zeros((), dtype=torch.int64, device=self.device)
        self.counter: torch.Tensor | None = None  # [N] int64, draws made by each arena
        self.stream: torch.Tensor | None = None  # [N] int64, each arena's hashed (key, arena)
        self.manual_seed(seed, num_arenas)

    def manual_seed(self, seed: int, num_arenas: int | None = None) -> ArenaRNG:
        """Restarts the streams of ``seed`` (every counter back to 0)."""
        seed = int(seed) & 0xFFFFFFFFFFFFFFFF
        low, high = torch.tensor([seed & _MASK32, seed >> 32], dtype=torch.int64)
        self.key.fill_(int(pcg_hash(low ^ pcg_hash(high))))
        if num_arenas is not None:
            self._allocate(int(num_arenas))
        elif self.counter is not None:
            self._allocate(self.counter.shape[0])
        return self

    def _allocate(self, num_arenas: int) -> None:
        self.counter = torch.zeros(num_arenas, dtype=torch.int64, device=self.device)
        self.stream = pcg_hash((self.key + torch.arange(num_arenas, device=self.device)) & _MASK32)

    def get_state(self) -> torch.Tensor:
        """``[key, *counters]`` (int64, on the CPU): what :meth:`set_state` reinstalls."""
        counter = self.counter if self.counter is not None else self.key.new_zeros(0)
        return torch.cat((self.key[None], counter)).cpu()

    def set_state(self, state: torch.Tensor) -> None:
        state = torch.as_tensor(state)
        if state.ndim != 1 or state.dtype != torch.int64 or state.shape[0] < 1:
            raise ValueError(f"ArenaRNG state must be an int64 [key, *counters] vector, got {state.dtype} "
                             f"{tuple(state.shape)} (a torch.Generator's state?)")
        self.key.copy_(state[0])
        self.counter = self.stream = None
        if state.shape[0] > 1:
            self._allocate(state.shape[0] - 1)
            self.counter.copy_(state[1:])

    def _positions(self, arenas: Arenas) -> torch.Tensor:
        """Each row's stream plus its counter before this draw (allocating N arenas' state at the first draw)."""
        if self.counter is None:
            if not isinstance(arenas, int) and arenas.dtype != torch.bool:
                raise RuntimeError("ArenaRNG: the first draw must be for all arenas (an int N or a mask [N]), "
                                   "or pass num_arenas")
            self._allocate(num_rows(arenas))
        if isinstance(arenas, int) or arenas.dtype == torch.bool:
            if num_rows(arenas) != self.counter.shape[0]:
                raise ValueError(f"ArenaRNG holds {self.counter.shape[0]} arenas, got a draw for {num_rows(arenas)}")
            return self.stream + self.counter
        return self.stream[arenas] + self.counter[arenas]

    def skip(self, arenas: Arenas | None = None) -> None:
        """Advances the streams of ``arenas`` (all when None) by one draw without computing it."""
        self._advance(self.counter.shape[0] if arenas is None else arenas)

    def _advance(self, arenas: Arenas) -> None:
        if isinstance(arenas, int):
            self.counter.add_(1)
        elif arenas.dtype == torch.bool:
            self.counter.add_(arenas.to(torch.int64))
        else:
            self.counter.index_add_(0, arenas, torch.ones_like(arenas))

    def _bits(self, arenas: Arenas, shape: tuple[int, ...]) -> torch.Tensor:
        """Uniform uint32 values (as int64) [R, *shape] for this draw; advances the drawing arenas' counters."""
        row = pcg_hash(self._positions(arenas) & _MASK32)
        self._advance(arenas)
        if not shape:  # one number per arena: the row's hash is it
            return row
        elements = torch.arange(math.prod(shape), device=self.device).view(shape)
        return pcg_hash((row.view(-1, *([1] * len(shape))) + elements) & _MASK32)

    def uniform(self, arenas: Arenas, *shape: int) -> torch.Tensor:
        """U[0, 1) float32 [R, *shape] (24-bit fractions)."""
        return (self._bits(arenas, shape) >> 8).float() * 2.0**-24

    def normal(self, arenas: Arenas, *shape: int) -> torch.Tensor:
        """N(0, 1) float32 [R, *shape] by the Box-Muller transform of two uniforms."""
        pairs = self.uniform(arenas, *shape, 2)
        radius = (-2.0 * torch.log1p(-pairs[..., 0])).sqrt()  # 1 - u lies in (0, 1]
        return radius * torch.cos(2 * math.pi * pairs[..., 1])

    def integers(self, low: int, high: int, arenas: Arenas, *shape: int) -> torch.Tensor:
        """Integers uniform in ``[low, high)``, int64 [R, *shape]."""
        return low + self._bits(arenas, shape) % (high - low)

    def categorical(self, probs: torch.Tensor, arenas: Arenas) -> torch.Tensor:
        """One index per row drawn with probabilities proportional to ``probs`` [K]: int64 [R]."""
        cdf = probs.cumsum(0) / probs.sum()
        draw = self.uniform(arenas)
        return (draw[:, None] >= cdf).sum(-1).clamp_max(probs.shape[0] - 1)
