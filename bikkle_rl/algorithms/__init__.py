"""Training algorithms on torchrl objectives: clipped PPO (``ClipPPOLoss``) and SAC (``SACLoss``), each with its
optimizers and schedule, behind one interface (:class:`~bikkle_rl.algorithms.base.Algorithm`)."""

from bikkle_rl.algorithms.base import Algorithm

__all__ = ["Algorithm"]
