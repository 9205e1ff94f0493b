"""The token layout shared by the ``Tokenize`` transform and the token-transformer encoder.

``tokens`` [N, T, TOKEN_FEATURES] with T = 1 + P + 2, in this order: the agent, the P pellet slots, the gaze,
the round progress. ``token_type`` [N, T] holds a :class:`TokenType` per token, ``token_mask`` [N, T] is
True where a token is present (the opposite of PyTorch's ``key_padding_mask``, where True means ignore).

Features per type (unused features are zero):
- AGENT: (x, y, 0, 0), absolute arena position.
- PINK / BLUE: (dx, dy, distance, flag), pellet minus agent; flag is the privileged high-value flag only when
  ``Tokenize(oracle=True)`` builds the oracle baseline's view, else the pellet's share of this round's gaze looks
  where ``GazeEvidence`` is in the stack, else 0.
- GAZE: (dx, dy, distance, age), gaze minus agent; age = steps since the gaze sample (0 when fresh).
- ROUND: (round_progress, hits / (1 + reveals), reveals / (1 + reveals), 0); the middle two are ``GazeEvidence``'s
  ``gaze_track_record`` (how far this episode's gaze has led to the high-value pellets the agent collected) where it
  keeps one, else 0.
"""

from enum import IntEnum

TOKEN_FEATURES = 4


class TokenType(IntEnum):
    AGENT = 0
    PINK = 1
    BLUE = 2
    GAZE = 3
    ROUND = 4


NUM_TOKEN_TYPES = len(TokenType)
