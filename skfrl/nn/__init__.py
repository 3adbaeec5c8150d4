"""Plain PyTorch building blocks used by skfrl's models."""

from ._layers import MLP, GradientReversal, ParallelMLP, grad_reverse

__all__ = ["MLP", "GradientReversal", "ParallelMLP", "grad_reverse"]
