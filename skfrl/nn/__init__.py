"""Plain PyTorch building blocks used by skfrl's models."""

from ._layers import MLP, GradientReversal, ParallelMLP, grad_reverse
from ._vae import (
    RFFMMD,
    GaussianEncoder,
    MixedReconstructionLoss,
    gaussian_kl_standard,
    pairwise_gaussian_kl,
    reparameterize,
    rff_mmd,
)

__all__ = [
    "MLP",
    "RFFMMD",
    "GaussianEncoder",
    "GradientReversal",
    "MixedReconstructionLoss",
    "ParallelMLP",
    "gaussian_kl_standard",
    "grad_reverse",
    "pairwise_gaussian_kl",
    "reparameterize",
    "rff_mmd",
]
