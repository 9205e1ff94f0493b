"""TensorDict keys the env writes and other packages read, in a module that imports nothing.

Gaze sources and transforms read the privileged observations by these keys without importing the TorchRL env.
"""

PRIVILEGED = "privileged"
"""Nested key of the privileged observations (``pellet_pos`` [N, P, 2], ``is_high_value`` [N, P]): what the
human sees. Never feed these to a policy; gaze sources and the oracle baseline read them."""

GAZE_INFORMATIVE_KEY = (PRIVILEGED, "gaze_informative")
"""[N, 1] bool, written by ``GazeInjection``: whether the arena's gaze source this episode carries anything about
the high-value pellet (False for uniform and absent gaze). What a trainer may know and the agent must find out."""
