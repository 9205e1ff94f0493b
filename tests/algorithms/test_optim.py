"""The learning-rate schedule: warmup from zero, linear annealing, both, or neither; its validation."""

import pytest
import torch

from bikkle_rl.algorithms.optim import OptimConfig, make_optimizer, schedule_learning_rate


def lr_at(progress: float, **optim) -> float:
    cfg = OptimConfig(lr=1e-3, **optim)
    optimizer = make_optimizer(cfg, [torch.nn.Parameter(torch.zeros(3))])
    schedule_learning_rate(optimizer, cfg, progress)
    return optimizer.param_groups[0]["lr"]


def test_warmup_rises_from_zero_then_holds_without_annealing():
    assert lr_at(0.0, warmup=0.1, anneal_lr=False) == 0.0
    assert lr_at(0.05, warmup=0.1, anneal_lr=False) == pytest.approx(0.5e-3)
    assert lr_at(0.1, warmup=0.1, anneal_lr=False) == pytest.approx(1e-3)
    assert lr_at(0.7, warmup=0.1, anneal_lr=False) == pytest.approx(1e-3)


def test_warmup_and_annealing_multiply():
    assert lr_at(0.05, warmup=0.1) == pytest.approx(0.5e-3 * 0.95)
    assert lr_at(0.5, warmup=0.1) == pytest.approx(0.5e-3)
    assert lr_at(0.5) == pytest.approx(0.5e-3)  # annealing alone, the default
    assert lr_at(1.5) == 0.0  # progress is clamped


def test_neither_leaves_the_learning_rate():
    assert lr_at(0.5, anneal_lr=False) == 1e-3


@pytest.mark.parametrize("warmup", [-0.1, 1.0])
def test_warmup_outside_a_fraction_of_the_run_is_refused(warmup):
    with pytest.raises(ValueError, match="optim.warmup must be a fraction"):
        OptimConfig(warmup=warmup)
