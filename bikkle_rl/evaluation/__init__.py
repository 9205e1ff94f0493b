"""Evaluation: batched episode runner, summary statistics (bootstrap CIs, interquartile mean), movement figures."""

from bikkle_rl.evaluation.rollout import evaluate_policy
from bikkle_rl.evaluation.stats import bootstrap_ci, interquartile_mean, summarize

__all__ = ["bootstrap_ci", "evaluate_policy", "interquartile_mean", "summarize"]
