"""Scripted reference policies, run through the same evaluator as trained agents."""

from bikkle_rl.policies.greedy import (
    REFERENCE_POLICIES,
    GazeGreedyActor,
    GreedyActor,
    UniformRandomActor,
    make_reference_policy,
)

__all__ = ["REFERENCE_POLICIES", "GazeGreedyActor", "GreedyActor", "UniformRandomActor", "make_reference_policy"]
