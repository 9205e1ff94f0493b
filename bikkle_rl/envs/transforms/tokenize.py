"""The set view of the arena for attention models: one typed token per object (see ``token_layout``)."""

from __future__ import annotations

import torch
from tensordict import TensorDictBase
from torchrl.data import Binary, Bounded, Composite, Unbounded

from bikkle_rl.envs.dynamics import BLUE
from bikkle_rl.envs.keys import PRIVILEGED
from bikkle_rl.envs.transforms.observation_view import ObservationView
from bikkle_rl.envs.transforms.token_layout import NUM_TOKEN_TYPES, TOKEN_FEATURES, TokenType


class Tokenize(ObservationView):
    """Writes ``tokens`` [N, T, 4], ``token_type`` [N, T] long and ``token_mask`` [N, T] bool, T = P + 3.

    Exactly the layout of :mod:`bikkle_rl.envs.transforms.token_layout`: the agent, the P pellet slots (in
    slot order; put ``SortPellets`` first for nearest-first), the gaze, the round progress.
    ``token_mask`` is True where a token is **present** (pass ``~token_mask`` as PyTorch's
    ``key_padding_mask``): the agent and round tokens always, a pellet where ``pellet_mask``, the gaze where
    ``gaze_valid`` (fresh or held); without ``GazeInjection`` earlier in the stack the gaze token is always
    absent. Absent tokens have all-zero features; pellet tokens keep their kind's type either way.

    ``oracle=True`` fills the 4th pellet feature with the privileged high-value flag: only for the oracle
    upper-bound baseline, since it leaks what only the human knows. Otherwise the 4th feature is the pellet's
    ``pellet_gaze_share`` where :class:`~bikkle_rl.envs.transforms.gaze_evidence.GazeEvidence` writes one, else 0;
    the round token carries its ``gaze_track_record`` where it keeps one.
    """

    def __init__(self, oracle: bool = False):
        super().__init__(in_keys=[], out_keys=["tokens", "token_type", "token_mask"])
        self.oracle = bool(oracle)

    def _call(self, next_tensordict: TensorDictBase) -> TensorDictBase:
        td = next_tensordict
        agent_pos = td.get("agent_pos")  # [*B, 2]
        pellet_rel, mask, kind = td.get("pellet_rel"), td.get("pellet_mask"), td.get("pellet_kind")
        batch, device = agent_pos.shape[:-1], agent_pos.device
        zeros = torch.zeros(*batch, 1, device=device)
        present = torch.ones(*batch, 1, dtype=torch.bool, device=device)

        agent = torch.cat((agent_pos, zeros, zeros), -1)
        if self.oracle:
            flag = td.get((PRIVILEGED, "is_high_value")).float()
        elif "pellet_gaze_share" in td:
            flag = td.get("pellet_gaze_share")
        else:
            flag = torch.zeros_like(mask, dtype=torch.float)
        pellets = torch.cat((pellet_rel, pellet_rel.norm(dim=-1, keepdim=True), flag[..., None]), -1)
        pellets = pellets * mask[..., None]
        if "gaze" in td:
            gaze_present = td.get("gaze_valid")
            gaze_rel = td.get("gaze") - agent_pos
            age = td.get("gaze_age") if "gaze_age" in td else zeros
            gaze = torch.cat((gaze_rel, gaze_rel.norm(dim=-1, keepdim=True), age), -1) * gaze_present
        else:
            gaze_present = torch.zeros_like(present)
            gaze = torch.zeros(*batch, TOKEN_FEATURES, device=device)
        record = td.get("gaze_track_record") if "gaze_track_record" in td else torch.cat((zeros, zeros), -1)
        round_token = torch.cat((td.get("round_progress"), record, zeros), -1)

        pellet_type = torch.where(kind == BLUE, int(TokenType.BLUE), int(TokenType.PINK))
        single_type = torch.ones(*batch, 1, dtype=torch.long, device=device)
        td.set("tokens", torch.cat((agent[..., None, :], pellets, gaze[..., None, :], round_token[..., None, :]), -2))
        td.set("token_type", torch.cat((single_type * TokenType.AGENT, pellet_type,
                                        single_type * TokenType.GAZE, single_type * TokenType.ROUND), -1))
        td.set("token_mask", torch.cat((present, mask, gaze_present, present), -1))
        return td

    def transform_observation_spec(self, observation_spec: Composite) -> Composite:
        if self.oracle and (PRIVILEGED, "is_high_value") not in observation_spec.keys(True):
            raise KeyError("Tokenize(oracle=True) needs ('privileged', 'is_high_value') in the observation")
        shape, device = observation_spec.shape, observation_spec.device
        num_tokens = observation_spec["pellet_rel"].shape[-2] + 3
        observation_spec["tokens"] = Unbounded((*shape, num_tokens, TOKEN_FEATURES), device=device)
        observation_spec["token_type"] = Bounded(0, NUM_TOKEN_TYPES - 1, (*shape, num_tokens), dtype=torch.long,
                                                 device=device)
        observation_spec["token_mask"] = Binary(num_tokens, (*shape, num_tokens), dtype=torch.bool, device=device)
        return observation_spec
