"""Bikkle: a batched TorchRL pipeline for a pellet arena with an implicit gaze signal."""
