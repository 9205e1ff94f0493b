"""Pure, batched Bikkle dynamics: tensors in, tensors out, no Python loop over arenas.

State is a TensorDict of batch ``[N]`` (see :func:`new_arena`). Everything here is a function of that state,
the action and an :class:`~bikkle_rl.envs.random.ArenaRNG`, so tests can call it on hand-placed states and the
env, the gymnasium vector env and the renderer all share one implementation. The single-arena gymnasium adapter
steps a NumPy mirror of :func:`step_arena` (one arena is too small for tensor programs); tests hold the two
equal step by step.

Spawning follows the task (``docs/task.md``): a position is drawn uniformly in the unit square and rejected
while it touches a blocked position. Instead of an open-ended loop, ``num_candidates`` uniform points are drawn at once and the
first acceptable one is taken; this is the same distribution as sequential rejection sampling, except in the
event that every candidate is rejected (probability below 1e-12 by construction of
``BikkleConfig.num_spawn_candidates``), when the first candidate is kept. Pellets touched in the same step
are re-spawned one after the other in slot order, each seeing the positions held at that moment, exactly
like the original's sequential loop.

On CPU only the arenas that need a spawn are gathered (a cheap ``nonzero``); on other devices, and inside
``torch.compile``, every arena is computed and masked, so that no step synchronises with the host. The
counter-based RNG gives an arena the same numbers either way, so both paths produce the same data.
"""

from __future__ import annotations

import math

import torch
from tensordict import TensorDict

from bikkle_rl.envs.config import BikkleConfig
from bikkle_rl.envs.random import ArenaRNG, Arenas, num_rows

PINK, BLUE = 0, 1

STATE_KEYS = ("agent_pos", "pellet_pos", "pellet_kind", "pellet_mask", "high_value", "round_step", "step_count")


def rows_to_update(mask: torch.Tensor) -> tuple[torch.Tensor, Arenas]:
    """The rows [R] a masked update must compute, and who draws random numbers for them (an ``Arenas``).

    On CPU in eager mode: the set rows, gathered (a cheap ``nonzero``), which draw. Elsewhere (no host sync and
    no data-dependent shape on GPU and under ``torch.compile``): every row, with the mask saying who draws.
    """
    if mask.device.type == "cpu" and not torch.compiler.is_compiling():
        rows = mask.nonzero().squeeze(-1)
        return rows, rows
    return torch.arange(mask.shape[0], device=mask.device), mask


def first_free(candidates: torch.Tensor, obstacles: torch.Tensor, min_dist_sq: torch.Tensor) -> torch.Tensor:
    """The first candidate farther than ``sqrt(min_dist_sq)`` from every obstacle (the first one if none is).

    candidates: [R, K, 2]; obstacles: [R, M, 2]; min_dist_sq: [R, M] (a negative value switches an obstacle
    off). Returns [R, 2].
    """
    dx = candidates[..., 0, None] - obstacles[:, None, :, 0]
    dy = candidates[..., 1, None] - obstacles[:, None, :, 1]
    blocked = (dx * dx + dy * dy <= min_dist_sq[:, None, :]).any(-1)  # [R, K]
    first = (~blocked).to(torch.uint8).argmax(-1, keepdim=True)  # argmax returns the first maximum
    return candidates.gather(1, first[..., None].expand(-1, 1, 2)).squeeze(1)


def spawn_candidates(cfg: BikkleConfig, arenas: Arenas, slots: int, rng: ArenaRNG) -> torch.Tensor:
    """Uniform candidate points for ``slots`` spawns in each of the drawing ``arenas``: [R, S, K, 2]."""
    return rng.uniform(arenas, slots, cfg.num_spawn_candidates, 2)


def draw_high_value(pellet_mask: torch.Tensor, max_pink: int, rng: ArenaRNG, arenas: Arenas | None = None
                    ) -> torch.Tensor:
    """A uniformly drawn present pink slot per arena: [N] long (present pinks are slots ``[0, num_pink)``).

    ``arenas``: who draws for ``pellet_mask``'s rows (all arenas when None).
    """
    num_pink = pellet_mask[:, :max_pink].sum(-1)
    uniform = rng.uniform(pellet_mask.shape[0] if arenas is None else arenas)
    return (uniform * num_pink).long().clamp_max(num_pink - 1)


def draw_counts(count_range: tuple[int, int], arenas: Arenas, rng: ArenaRNG, device) -> torch.Tensor:
    """Per-arena pellet counts drawn uniformly from the inclusive range: [R] long."""
    low, high = count_range
    if low == high:
        return torch.full((num_rows(arenas),), low, dtype=torch.long, device=device)
    return rng.integers(low, high + 1, arenas)


def new_arena(cfg: BikkleConfig, num: int, rng: ArenaRNG | None, device="cpu", arenas: Arenas | None = None
              ) -> TensorDict:
    """A fresh random layout for ``num`` arenas, drawn by ``arenas`` (all ``num`` when None; see ``rows_to_update``).

    ``rng`` None draws from a fixed stream (layouts whose shapes and slot kinds are all that matter).

    Keys (batch [N]): ``agent_pos`` [N,2], ``pellet_pos`` [N,P,2] (absolute, privileged), ``pellet_kind`` [N,P]
    (0 pink, 1 blue; slots ``[0, max_pink)`` pink, the rest blue), ``pellet_mask`` [N,P] bool (present),
    ``high_value`` [N] (slot index, privileged), ``round_step`` [N], ``step_count`` [N].
    Pellets are placed one slot at a time, none touching another; then the agent, touching none.
    """
    rng = ArenaRNG(0, device) if rng is None else rng
    arenas = num if arenas is None else arenas
    slots = torch.arange(cfg.num_pellets, device=device)
    kind = (slots >= cfg.max_pink).long().expand(num, -1).clone()
    num_pink = draw_counts(cfg.pink_range, arenas, rng, device)
    num_blue = draw_counts(cfg.blue_range, arenas, rng, device)
    mask = torch.where(kind == PINK, slots < num_pink[:, None], slots - cfg.max_pink < num_blue[:, None])

    candidates = spawn_candidates(cfg, arenas, cfg.num_pellets + 1, rng)
    pellet_pos = torch.zeros(num, cfg.num_pellets, 2, device=device)
    pellet_gap_sq = (2 * cfg.pellet_radius) ** 2
    for slot in range(cfg.num_pellets):
        min_dist_sq = torch.where(mask[:, :slot], pellet_gap_sq, -1.0)
        pellet_pos[:, slot] = first_free(candidates[:, slot], pellet_pos[:, :slot], min_dist_sq)
    agent_pos = first_free(candidates[:, -1], pellet_pos, torch.where(mask, cfg.touch_distance**2, -1.0))
    if cfg.start_round_step == "uniform":
        round_step = rng.integers(0, cfg.round_len, arenas)
    else:
        round_step = torch.zeros(num, dtype=torch.long, device=device)
    return TensorDict(
        agent_pos=agent_pos,
        pellet_pos=pellet_pos,
        pellet_kind=kind,
        pellet_mask=mask,
        high_value=draw_high_value(mask, cfg.max_pink, rng, arenas),
        round_step=round_step,
        step_count=torch.zeros(num, dtype=torch.long, device=device),
        batch_size=[num],
        device=device,
    )


def reset_arenas(cfg: BikkleConfig, state: TensorDict, reset: torch.Tensor, rng: ArenaRNG) -> TensorDict:
    """``state`` with a fresh layout in every arena where ``reset`` [N] is True, the others untouched."""
    rows, drawing = rows_to_update(reset)
    fresh = new_arena(cfg, rows.shape[0], rng, state.device, arenas=drawing)
    keep = ~reset[rows]  # all False where rows_to_update gathered the set rows
    state = state.clone()
    for key in STATE_KEYS:
        new = torch.where(keep.view(-1, *([1] * (fresh[key].ndim - 1))), state[key][rows], fresh[key])
        state[key][rows] = new
    return state


def move_agent(cfg: BikkleConfig, agent_pos: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
    """Applies an action ([N,2] velocity or [N,1] heading, both in [-1, 1]) and clamps into the arena."""
    if cfg.action_mode == "velocity":
        delta = action.clamp(-1.0, 1.0) * cfg.max_speed
    else:
        angle = action[..., 0].clamp(-1.0, 1.0) * math.pi
        delta = torch.stack((angle.cos(), angle.sin()), -1) * cfg.max_speed
    return (agent_pos + delta).clamp(0.0, 1.0)


def high_value_reward(cfg: BikkleConfig, round_step: torch.Tensor) -> torch.Tensor:
    """``max(pink_reward, high_value_reward * (round_len - round_step) / round_len)``: [N]."""
    decay = (cfg.round_len - round_step).float() / cfg.round_len
    return (cfg.high_value_reward * decay).clamp_min(cfg.pink_reward)


def respawn(cfg: BikkleConfig, pellet_pos: torch.Tensor, pellet_mask: torch.Tensor, touched: torch.Tensor,
            rng: ArenaRNG) -> torch.Tensor:
    """New pellet positions [N,P,2] with every touched pellet re-spawned, slot after slot.

    A re-spawned pellet touches no pellet position held at that moment, its own old position included.
    """
    rows, drawing = rows_to_update(touched.any(-1))
    positions, hit = pellet_pos[rows], touched[rows]
    min_dist_sq = torch.where(pellet_mask[rows], (2 * cfg.pellet_radius) ** 2, -1.0)
    candidates = spawn_candidates(cfg, drawing, cfg.num_pellets, rng)
    for slot in range(cfg.num_pellets):
        spawned = first_free(candidates[:, slot], positions, min_dist_sq)
        positions[:, slot] = torch.where(hit[:, slot, None], spawned, positions[:, slot])
    pellet_pos = pellet_pos.clone()
    pellet_pos[rows] = positions
    return pellet_pos


def step_arena(cfg: BikkleConfig, state: TensorDict, action: torch.Tensor, rng: ArenaRNG
               ) -> tuple[TensorDict, torch.Tensor, TensorDict]:
    """One step for every arena.

    Returns ``(next_state, reward [N], events)`` where ``events`` holds per-arena touch counts
    ``pink``, ``blue``, ``high_value`` ([N] long). Termination and truncation are read off ``next_state``
    by :func:`is_terminated` / :func:`is_truncated`.
    """
    pellet_pos, kind, mask = state["pellet_pos"], state["pellet_kind"], state["pellet_mask"]
    agent_pos = move_agent(cfg, state["agent_pos"], action)

    offset = pellet_pos - agent_pos[:, None]
    dist_sq = offset.pow(2).sum(-1)
    touched = (dist_sq <= cfg.touch_distance**2) & mask
    is_pink = kind == PINK
    is_high = torch.nn.functional.one_hot(state["high_value"], cfg.num_pellets).bool()
    value = torch.where(is_pink, cfg.pink_reward, cfg.blue_reward)
    value = torch.where(is_high, high_value_reward(cfg, state["round_step"])[:, None], value)
    reward = (touched * value).sum(-1)
    if cfg.shaping:
        dist_old = (pellet_pos - state["agent_pos"][:, None]).norm(dim=-1)
        sign = torch.where(is_pink, -1.0, 1.0) * mask
        reward = reward + cfg.shaping * (sign * (dist_sq.sqrt() - dist_old)).sum(-1)

    high_touched = (touched & is_high).any(-1)
    round_step = state["round_step"] + 1
    round_over = round_step >= cfg.round_len
    round_step = torch.where(round_over, 0, round_step)
    pellet_pos = respawn(cfg, pellet_pos, mask, touched, rng)
    redrawn = draw_high_value(mask, cfg.max_pink, rng)
    high_value = torch.where(high_touched | round_over, redrawn, state["high_value"])

    events = TensorDict(
        pink=(touched & is_pink).sum(-1),
        blue=(touched & ~is_pink).sum(-1),
        high_value=high_touched.long(),
        batch_size=state.batch_size,
        device=state.device,
    )
    next_state = TensorDict(
        agent_pos=agent_pos,
        pellet_pos=pellet_pos,
        pellet_kind=kind,
        pellet_mask=mask,
        high_value=high_value,
        round_step=round_step,
        step_count=state["step_count"] + 1,
        batch_size=state.batch_size,
        device=state.device,
    )
    return next_state, reward, events


def is_terminated(cfg: BikkleConfig, events: TensorDict) -> torch.Tensor:
    """[N] bool: in ``episodic`` mode an episode ends on any touch; ``continuing`` never terminates."""
    if cfg.episode_mode == "continuing":
        return torch.zeros_like(events["pink"], dtype=torch.bool)
    return (events["pink"] + events["blue"]) > 0


def is_truncated(cfg: BikkleConfig, state: TensorDict) -> torch.Tensor:
    """[N] bool: the episode reached ``max_steps``."""
    return state["step_count"] >= cfg.max_steps


def observe(cfg: BikkleConfig, state: TensorDict) -> dict[str, torch.Tensor]:
    """The policy-visible observation of a state (absent pellets read as zeros)."""
    mask = state["pellet_mask"]
    pellet_rel = (state["pellet_pos"] - state["agent_pos"][:, None]) * mask[..., None]
    return {
        "agent_pos": state["agent_pos"],
        "pellet_rel": pellet_rel,
        "pellet_kind": state["pellet_kind"],
        "pellet_mask": mask,
        "round_progress": (state["round_step"].float() / cfg.round_len)[:, None],
    }
