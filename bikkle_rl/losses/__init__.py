"""Loss builders: clipped PPO and SAC on torchrl objectives, with their optimizers."""
