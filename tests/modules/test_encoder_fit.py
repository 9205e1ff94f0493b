"""Each encoder learns the arena's basic geometry: regress the unit direction to the nearest pink pellet.

A constant prediction scores about 1.0 (squared error summed over x and y); each encoder must get well
below it in a few hundred Adam steps on random scenes (pellets and gaze missing at random).
"""

import pytest
import torch
from synthetic_scenes import SpecOnlyEnv, random_scenes
from torch import nn

from bikkle_rl.modules import ModelConfig, make_encoder

# encoder -> (config overrides, learning rate, steps, loss to reach on held-out scenes)
FITS = {
    "mlp": ({"hidden": 64}, 3e-3, 1500, 0.15),
    "transformer": ({}, 1e-3, 200, 0.1),
    "cnn": ({}, 3e-3, 300, 0.3),
}


def direction_loss(encoder, head, in_keys, scenes):
    prediction = head(encoder(*[scenes[key] for key in in_keys]))
    return (prediction - scenes["target"]).square().sum(-1).mean()


@pytest.mark.slow
@pytest.mark.parametrize("encoder_name", FITS)
def test_encoder_learns_direction_to_nearest_pink(encoder_name, generator):
    overrides, lr, steps, goal = FITS[encoder_name]
    encoder, in_keys = make_encoder(ModelConfig(encoder=encoder_name, **overrides), SpecOnlyEnv().observation_spec)
    head = nn.Linear(encoder.out_features, 2)
    optimizer = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=lr)
    train, held_out = random_scenes(8192, generator), random_scenes(1024, generator)
    with torch.no_grad():
        initial = direction_loss(encoder, head, in_keys, held_out)
    for _ in range(steps):
        batch = train[torch.randint(len(train), (128,), generator=generator)]
        optimizer.zero_grad()
        direction_loss(encoder, head, in_keys, batch).backward()
        optimizer.step()
    with torch.no_grad():
        final = direction_loss(encoder, head, in_keys, held_out)
    assert final < goal < initial, f"{encoder_name}: held-out loss {initial:.3f} -> {final:.3f}, goal {goal}"
