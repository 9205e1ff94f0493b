"""Bikkle: a batched TorchRL pipeline for a pellet arena with an implicit gaze signal.

Importing the package registers the gymnasium ids (and imports neither torch nor TorchRL):

- ``bikkle_rl/Bikkle-v0``: the evaluation arena every figure of the project is measured on (the ``seed``
  protocol: 1 pink + 1 blue pellet, continuing, 200 steps from round step 0, unshaped reward).
- ``bikkle_rl/BikkleEpisodic-v0``: the default arena (2 pink + 2 blue), episodic: the first touch ends the
  episode, else 200 steps.

Keyword arguments of ``gymnasium.make`` / ``make_vec`` change single fields (``num_pink=3``) or replace the
arena (``config=BikkleConfig(...)``). Episodes longer than 200 steps need ``max_episode_steps`` too.
"""

from gymnasium.envs.registration import register

EVALUATION_ARENA = {"num_pink": 1, "num_blue": 1, "episode_mode": "continuing", "max_steps": 200,
                    "start_round_step": "zero", "shaping": 0.0}
"""The ``seed`` evaluation protocol's arena (``bikkle_rl.evaluation.protocols``), as ``BikkleConfig`` fields."""


def register_arena(name: str, arena: dict) -> None:
    """Registers ``bikkle_rl/{name}`` on ``arena``: the single-arena env and the batched vector env."""
    register(
        id=f"bikkle_rl/{name}",
        entry_point="bikkle_rl.envs.gym_adapter:BikkleGymEnv",
        vector_entry_point="bikkle_rl.envs.gym_vector:BikkleVectorEnv",
        max_episode_steps=200,
        kwargs={"config": arena},
    )


register_arena("Bikkle-v0", EVALUATION_ARENA)
register_arena("BikkleEpisodic-v0", {"episode_mode": "episodic"})
