"""The gaze-reading parameters of any network built here, for fine-tunes that train only them."""

from __future__ import annotations

from torch import nn


def gaze_parameters(module: nn.Module) -> list[nn.Parameter]:
    """Exactly the parameters that read gaze in ``module`` (an actor, critic, Q network or bare encoder).

    These are, per encoder: the MLP's gaze input weight, the CNN's gaze-channel first conv, the token
    transformer's gaze tokenizer and gaze type embedding. An MLP over a vector without gaze columns has none;
    the transformer's gaze token and the CNN's gaze channel exist (absent or empty) even without a gaze source.
    A fine-tune freezes the rest with ``requires_grad_(False)`` and hands these to its optimizer.
    """
    found: dict[int, nn.Parameter] = {}
    for submodule in module.modules():
        if callable(getattr(submodule, "gaze_parameters", None)):
            for parameter in submodule.gaze_parameters():
                found.setdefault(id(parameter), parameter)
    return list(found.values())
