"""Training metrics read off a collected batch: episode returns (raw), touches, stillness, action statistics, and
the gaze gate's trust."""

from __future__ import annotations

from tensordict import TensorDictBase

from bikkle_rl.envs.keys import GAZE_INFORMATIVE_KEY
from bikkle_rl.modules.token_transformer import TokenTransformer

EPISODE_KEYS = {
    "episode_return": "episode/return",
    "episode_pink": "episode/pink_touches",
    "episode_blue": "episode/blue_touches",
    "episode_high_value": "episode/high_value_touches",
}


def batch_metrics(batch: TensorDictBase, max_speed: float, still_fraction_of_speed: float = 0.1) -> dict[str, float]:
    """Scalars describing one collected batch ``[num_envs, time]``.

    Episode statistics average over the episodes that ended in the batch (absent when none did). ``still`` is
    the fraction of steps the agent moved less than ``still_fraction_of_speed * max_speed`` (the prototype's
    agent got stuck in place).
    """
    next_td = batch["next"]
    done = next_td["done"].squeeze(-1)
    raw_reward = next_td["raw_reward"] if "raw_reward" in next_td else next_td["reward"]
    moved = (next_td["agent_pos"] - batch["agent_pos"]).norm(dim=-1)
    action = batch["action"]
    metrics = {
        "train/reward_per_step": raw_reward.mean().item(),
        "train/still_fraction": (moved < still_fraction_of_speed * max_speed).float().mean().item(),
        "train/action_mean": action.mean().item(),
        "train/action_std": action.reshape(-1, action.shape[-1]).std(0).mean().item(),
        "train/episodes_ended": done.sum().item(),
    }
    if done.any():
        for key, name in EPISODE_KEYS.items():
            if key in next_td:
                metrics[name] = next_td[key][done].float().mean().item()
    return metrics


def gate_trust_metrics(encoder: TokenTransformer | None, batch: TensorDictBase) -> dict[str, float]:
    """The gaze gate's mean trust over a batch's steps (``train/gate_trust``), and apart over the steps whose gaze
    source is informative and those whose is not, where the batch says which (``train/gate_trust_informative``,
    ``train/gate_trust_uninformative``): whether, when and on which gaze a run's gate closes. Empty without a gate
    (``encoder`` None, as :func:`~bikkle_rl.modules.token_transformer.gated_encoder` gives for a policy without)."""
    if encoder is None:
        return {}
    trust = encoder.gaze_trust(batch["tokens"], batch["token_type"])
    metrics = {"train/gate_trust": trust.mean().item()}
    informative = batch.get(GAZE_INFORMATIVE_KEY, None)
    if informative is not None:
        informative = informative.reshape(trust.shape)
        for name, steps in (("informative", informative), ("uninformative", ~informative)):
            if steps.any():
                metrics[f"train/gate_trust_{name}"] = trust[steps].mean().item()
    return metrics
