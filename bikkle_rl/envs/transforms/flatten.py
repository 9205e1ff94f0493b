"""A fixed-size observation vector for MLP policies."""

from __future__ import annotations

import torch
from tensordict import TensorDictBase
from torchrl.data import Composite, Unbounded

from bikkle_rl.envs.dynamics import BLUE
from bikkle_rl.envs.keys import PRIVILEGED
from bikkle_rl.envs.transforms.observation_view import ObservationView


class Flatten(ObservationView):
    """Writes ``observation_vector`` [N, F] (float) from the arena's observation, in this order:

    - ``agent_pos`` (2);
    - per pellet slot (4 each, in slot order: use ``SortPellets`` first for nearest-first):
      ``pellet_rel`` (2), present flag, blue flag (0 for pink and for absent slots; absent slots read all zero);
      with ``polar=True`` 3 more per slot: the distance and the unit direction (2) to the pellet. An MLP
      cannot easily compute a norm or a division; given them, "is this blue in my way" becomes a near-linear
      test (the greedy reference steers with exactly these quantities);
    - ``round_progress`` (1);
    - with ``oracle=True`` only: the privileged high-value flag of each slot (P). This leaks what only the
      human knows; it exists for the oracle upper-bound baseline and nothing else;
    - last, if the observation has gaze (``GazeInjection`` earlier in the stack): gaze minus agent (2, zero
      where not valid), ``gaze_valid`` (1), and ``gaze_age`` (1) when the gaze is held. Gaze comes last so
      that the MLP encoder can split its first layer into non-gaze and gaze columns.

    So F = 2 + 4P (+ 3P when polar) + 1 (+ P with the oracle) (+ 3 or 4 with gaze). The input keys are kept.
    """

    def __init__(self, oracle: bool = False, polar: bool = False, out_key: str = "observation_vector"):
        super().__init__(in_keys=[], out_keys=[out_key])
        self.oracle = bool(oracle)
        self.polar = bool(polar)

    def _call(self, next_tensordict: TensorDictBase) -> TensorDictBase:
        td = next_tensordict
        batch = td.batch_size
        agent_pos = td.get("agent_pos")
        mask = td.get("pellet_mask")
        is_blue = (td.get("pellet_kind") == BLUE) & mask
        pellet_rel = td.get("pellet_rel")
        pellets = [pellet_rel, mask[..., None].float(), is_blue[..., None].float()]
        if self.polar:
            distance = pellet_rel.norm(dim=-1, keepdim=True)
            pellets += [distance, pellet_rel / distance.clamp_min(1e-6)]  # absent slots: rel is zero, so all zero
        pellets = torch.cat(pellets, -1)
        parts = [agent_pos, pellets.reshape(*batch, -1), td.get("round_progress")]
        if self.oracle:
            parts.append(td.get((PRIVILEGED, "is_high_value")).float())
        if "gaze" in td:
            valid = td.get("gaze_valid")
            parts += [(td.get("gaze") - agent_pos) * valid, valid.float()]
            if "gaze_age" in td:
                parts.append(td.get("gaze_age"))
        td.set(self.out_keys[0], torch.cat(parts, -1))
        return td

    def num_features(self, observation_spec: Composite) -> int:
        """F for an observation with this spec."""
        num_pellets = observation_spec["pellet_rel"].shape[-2]
        features = 2 + (7 if self.polar else 4) * num_pellets + 1
        if "gaze" in observation_spec:
            features += 3 + ("gaze_age" in observation_spec)
        return features + (num_pellets if self.oracle else 0)

    def transform_observation_spec(self, observation_spec: Composite) -> Composite:
        if self.oracle and (PRIVILEGED, "is_high_value") not in observation_spec.keys(True):
            raise KeyError("Flatten(oracle=True) needs ('privileged', 'is_high_value') in the observation")
        shape = (*observation_spec.shape, self.num_features(observation_spec))
        observation_spec[self.out_keys[0]] = Unbounded(shape, device=observation_spec.device)
        return observation_spec
