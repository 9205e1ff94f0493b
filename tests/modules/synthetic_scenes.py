"""Hand-made inputs for the module tests: random arena scenes in the three views the transforms write, and an
env that carries only the specs the builders read."""

from __future__ import annotations

import torch
from tensordict import TensorDict
from torchrl.data import Binary, Bounded, Categorical, Composite, Unbounded
from torchrl.envs import EnvBase

from bikkle_rl.envs.transforms.token_layout import TOKEN_FEATURES, TokenType

NUM_PINK, NUM_BLUE = 3, 3
NUM_PELLETS = NUM_PINK + NUM_BLUE
NUM_TOKENS = 1 + NUM_PELLETS + 2
IMAGE_SIZE = 16
VECTOR_FEATURES = 2 + 4 * NUM_PELLETS + 1 + 3  # agent, per pellet (dx, dy, kind, present), round, gaze (3)
GAZE_SLOT = 1 + NUM_PELLETS


class SpecOnlyEnv(EnvBase):
    """An env that only carries the specs the builders read (observations of every view, gaze optional)."""

    def __init__(self, num_envs: int = 4, gaze: bool = True, action_dim: int = 2):
        super().__init__(batch_size=torch.Size([num_envs]))
        n = num_envs
        vector_features = VECTOR_FEATURES if gaze else VECTOR_FEATURES - 3
        channels = 4 if gaze else 3
        spec = Composite(
            observation_vector=Unbounded((n, vector_features)),
            tokens=Unbounded((n, NUM_TOKENS, TOKEN_FEATURES)),
            token_type=Categorical(len(TokenType), (n, NUM_TOKENS), dtype=torch.long),
            token_mask=Binary(NUM_TOKENS, (n, NUM_TOKENS), dtype=torch.bool),
            image=Bounded(0.0, 1.0, (n, channels, IMAGE_SIZE, IMAGE_SIZE)),
            shape=(n,),
        )
        if gaze:
            spec["gaze"] = Bounded(0.0, 1.0, (n, 2))
            spec["gaze_valid"] = Binary(1, (n, 1), dtype=torch.bool)
        self.observation_spec = spec
        self.action_spec = Bounded(-1.0, 1.0, (n, action_dim))
        self.reward_spec = Unbounded((n, 1))

    def _reset(self, tensordict):
        raise NotImplementedError("SpecOnlyEnv only carries specs")

    def _step(self, tensordict):
        raise NotImplementedError("SpecOnlyEnv only carries specs")

    def _set_seed(self, seed):
        pass


def rasterize(points: torch.Tensor, present: torch.Tensor, size: int) -> torch.Tensor:
    """Gaussian blobs (std one pixel) at ``points`` [B, K, 2] in [0, 1]^2 where ``present`` [B, K] -> [B, size, size]."""
    centres = (torch.arange(size) + 0.5) / size
    dx = centres[None, None, None, :] - points[..., 0, None, None]  # x along the last axis
    dy = centres[None, None, :, None] - points[..., 1, None, None]
    blobs = torch.exp(-(dx**2 + dy**2) * size**2 / 2) * present[..., None, None]
    return blobs.sum(1).clamp_max(1.0)


def random_scenes(num: int, generator: torch.Generator, gaze_valid_prob: float = 0.5) -> TensorDict:
    """``num`` random scenes in all three views plus ``target`` [num, 2], the unit direction to the nearest pink.

    Pellets are pinks then blues; each is absent with probability 0.3 except the first pink. The vector view is
    sorted nearest-first (as SortPellets + Flatten would write it), the token view is not.
    """
    agent = torch.rand(num, 2, generator=generator)
    pellets = torch.rand(num, NUM_PELLETS, 2, generator=generator)
    kind = torch.tensor([0] * NUM_PINK + [1] * NUM_BLUE).expand(num, -1)
    present = torch.rand(num, NUM_PELLETS, generator=generator) > 0.3
    present[:, 0] = True
    rel = (pellets - agent[:, None]) * present[..., None]
    distance = rel.norm(dim=-1)
    pink_distance = torch.where(present & (kind == 0), distance, torch.inf)
    nearest = pink_distance.argmin(-1)
    target = torch.nn.functional.normalize(rel[torch.arange(num), nearest], dim=-1)
    round_progress = torch.rand(num, 1, generator=generator)
    gaze = torch.rand(num, 2, generator=generator)
    gaze_valid = torch.rand(num, 1, generator=generator) < gaze_valid_prob
    gaze = gaze * gaze_valid

    tokens = torch.zeros(num, NUM_TOKENS, TOKEN_FEATURES)
    tokens[:, 0, :2] = agent
    tokens[:, 1:GAZE_SLOT, :2] = rel
    tokens[:, 1:GAZE_SLOT, 2] = distance
    gaze_rel = (gaze - agent) * gaze_valid
    tokens[:, GAZE_SLOT, :2] = gaze_rel
    tokens[:, GAZE_SLOT, 2] = gaze_rel.norm(dim=-1)
    tokens[:, -1, 0] = round_progress[:, 0]
    pellet_types = torch.where(kind == 0, int(TokenType.PINK), int(TokenType.BLUE))
    token_type = torch.cat([
        torch.full((num, 1), int(TokenType.AGENT)), pellet_types,
        torch.full((num, 1), int(TokenType.GAZE)), torch.full((num, 1), int(TokenType.ROUND)),
    ], dim=1)
    token_mask = torch.cat([torch.ones(num, 1, dtype=torch.bool), present, gaze_valid,
                            torch.ones(num, 1, dtype=torch.bool)], dim=1)

    order = torch.where(present, distance, torch.inf).argsort(-1)  # nearest first, absent last
    per_pellet = torch.cat([rel, kind[..., None].float(), present[..., None].float()], dim=-1)
    per_pellet = per_pellet.gather(1, order[..., None].expand_as(per_pellet))
    observation_vector = torch.cat([agent, per_pellet.flatten(1), round_progress, gaze, gaze_valid.float()], -1)

    image = torch.stack([
        rasterize(agent[:, None], torch.ones(num, 1), IMAGE_SIZE),
        rasterize(pellets, present & (kind == 0), IMAGE_SIZE),
        rasterize(pellets, present & (kind == 1), IMAGE_SIZE),
        rasterize(gaze[:, None], gaze_valid.float(), IMAGE_SIZE),
    ], dim=1)
    return TensorDict(
        observation_vector=observation_vector, tokens=tokens, token_type=token_type, token_mask=token_mask,
        image=image, gaze=gaze, gaze_valid=gaze_valid, target=target, batch_size=[num],
    )
