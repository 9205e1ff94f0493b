"""Orders the pellet slots nearest-first: with slots in spawn order PPO did not learn (``docs/task.md``)."""

from __future__ import annotations

from tensordict import TensorDictBase

from bikkle_rl.envs.keys import PRIVILEGED
from bikkle_rl.envs.transforms.observation_view import ObservationView

PER_PELLET_KEYS = ("pellet_rel", "pellet_kind", "pellet_mask", "pellet_gaze_share", (PRIVILEGED, "pellet_pos"),
                   (PRIVILEGED, "is_high_value"))
"""Every key with a pellet dimension (the one after the batch dimensions); they are permuted together."""
ABSENT = 2.0
"""Sort key of an absent pellet: after every present one (distances in the unit square are at most sqrt(2))."""
KIND_STRIDE = 3.0
"""Added per kind index with ``within_kind``: every pink (present or absent) sorts before every blue."""


class SortPellets(ObservationView):
    """Sorts pellets by distance to the agent, nearest first; absent pellets (``pellet_mask`` False) go last.

    Every key of :data:`PER_PELLET_KEYS` present in the observation is permuted the same way, so slot ``i`` of
    ``pellet_rel``, ``pellet_kind``, ``pellet_mask`` and the privileged keys still describe one pellet. Ties
    keep slot order (stable sort). Specs are unchanged.

    ``within_kind=False`` sorts all pellets together: slots no longer follow the "pinks first" layout (read
    ``pellet_kind``), the view a set encoder wants. ``within_kind=True`` sorts pinks among pinks and blues among
    blues and keeps the layout, so a flat MLP input has fixed pink and blue columns (the nearest pink first).

    Examples:
        >>> from torchrl.envs import TransformedEnv
        >>> from bikkle_rl.envs import BikkleEnv
        >>> env = TransformedEnv(BikkleEnv(4), SortPellets())
        >>> distance = env.reset()["pellet_rel"].norm(dim=-1)  # [4, P], non-decreasing along P
    """

    def __init__(self, within_kind: bool = False):
        super().__init__(in_keys=list(PER_PELLET_KEYS), out_keys=list(PER_PELLET_KEYS))
        self.within_kind = bool(within_kind)

    def _call(self, next_tensordict: TensorDictBase) -> TensorDictBase:
        distance = next_tensordict.get("pellet_rel").norm(dim=-1)  # at most sqrt(2)
        distance = distance.masked_fill(~next_tensordict.get("pellet_mask"), ABSENT)
        if self.within_kind:
            distance = distance + KIND_STRIDE * next_tensordict.get("pellet_kind")
        order = distance.argsort(dim=-1, stable=True)  # [N, P]
        for key in PER_PELLET_KEYS:
            value = next_tensordict.get(key, None)
            if value is not None:
                index = order.view(*order.shape, *([1] * (value.ndim - order.ndim))).expand_as(value)
                next_tensordict.set(key, value.gather(order.ndim - 1, index))
        return next_tensordict
