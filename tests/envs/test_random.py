"""The counter-based arena RNG: a row's numbers depend only on (seed, arena, that arena's draws so far)."""

import pytest
import torch

from bikkle_rl.envs.random import ArenaRNG


def test_a_gather_and_a_masked_draw_give_the_same_rows_and_leave_the_same_streams():
    gathered, masked = ArenaRNG(7, num_arenas=6), ArenaRNG(7, num_arenas=6)
    gathered.uniform(6, 3), masked.uniform(6, 3)  # some history first
    mask = torch.tensor([False, True, False, False, True, False])
    rows = gathered.uniform(mask.nonzero().squeeze(-1), 4, 2)
    every_row = masked.uniform(mask, 4, 2)
    torch.testing.assert_close(rows, every_row[mask], rtol=0, atol=0)
    torch.testing.assert_close(gathered.counter, masked.counter, rtol=0, atol=0)
    assert gathered.counter.tolist() == [1, 2, 1, 1, 2, 1]
    torch.testing.assert_close(gathered.normal(6, 5), masked.normal(6, 5), rtol=0, atol=0)


def test_an_arena_that_does_not_draw_keeps_its_next_numbers():
    rng, other = ArenaRNG(3, num_arenas=4), ArenaRNG(3, num_arenas=4)
    rng.uniform(torch.tensor([0, 2]), 2)  # arenas 1 and 3 do not draw
    torch.testing.assert_close(rng.uniform(4, 2)[[1, 3]], other.uniform(4, 2)[[1, 3]], rtol=0, atol=0)
    rng.skip(torch.tensor([True, False, False, False]))
    assert rng.counter.tolist() == [3, 1, 2, 1]


def test_draws_have_the_distributions_they_name():
    rng = ArenaRNG(11, num_arenas=20_000)
    uniform = rng.uniform(20_000, 4)
    assert 0.0 <= uniform.min() and uniform.max() < 1.0
    assert abs(uniform.mean() - 0.5) < 0.01 and abs(uniform.var() - 1 / 12) < 0.002
    assert abs(torch.corrcoef(uniform.T[:2])[0, 1]) < 0.03  # elements of one draw are not correlated
    normal = rng.normal(20_000, 4).flatten()
    assert abs(normal.mean()) < 0.02 and abs(normal.std() - 1) < 0.02
    assert abs((normal.abs() > 1.96).float().mean() - 0.05) < 0.005
    integers = rng.integers(2, 7, 20_000)
    assert set(integers.unique().tolist()) == {2, 3, 4, 5, 6}
    share = torch.bincount(rng.categorical(torch.tensor([2.0, 1.0, 1.0]), 20_000)) / 20_000
    torch.testing.assert_close(share, torch.tensor([0.5, 0.25, 0.25]), atol=0.015, rtol=0)


def test_seeds_streams_and_state_round_trip():
    first, second = ArenaRNG(1, num_arenas=3), ArenaRNG(2, num_arenas=3)
    assert not torch.equal(first.uniform(3, 2), second.uniform(3, 2))
    saved = first.get_state()
    ahead = first.uniform(3, 2)
    first.set_state(saved)
    torch.testing.assert_close(first.uniform(3, 2), ahead, rtol=0, atol=0)
    first.manual_seed(2)
    torch.testing.assert_close(first.uniform(3, 2), ArenaRNG(2, num_arenas=3).uniform(3, 2), rtol=0, atol=0)
    with pytest.raises(ValueError, match="int64 \\[key, \\*counters\\]"):
        first.set_state(torch.Generator().get_state())
    with pytest.raises(ValueError, match="holds 3 arenas, got a draw for 4"):
        first.uniform(4)


def test_a_compiled_draw_gives_the_eager_numbers():
    eager, compiled = ArenaRNG(5, num_arenas=8), ArenaRNG(5, num_arenas=8)
    mask = torch.tensor([True, False] * 4)

    def draw(rng):
        return rng.uniform(mask, 3, 2), rng.normal(8, 2), rng.integers(0, 100, 8)

    expected = draw(eager)
    got = torch.compile(draw, fullgraph=True, backend="inductor")(compiled)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(compiled.counter, eager.counter, rtol=0, atol=0)
