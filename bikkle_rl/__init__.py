"""Bikkle: a batched TorchRL pipeline for a pellet arena with an implicit gaze signal."""

from gymnasium.envs.registration import register

register(id="bikkle_rl/Bikkle-v0", entry_point="bikkle_rl.envs.gym_adapter:BikkleGymEnv")
