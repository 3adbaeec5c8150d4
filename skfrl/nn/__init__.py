"""Plain PyTorch building blocks used by skfrl's models."""

from ._data import BatchIterator, TensorDictDataset
from ._dro import grouped_dro_loss, kl_dro_weights
from ._layers import (
    MLP,
    GradientReversal,
    ParallelMLP,
    grad_reverse,
    reversal_override,
)
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
    "BatchIterator",
    "GaussianEncoder",
    "GradientReversal",
    "MixedReconstructionLoss",
    "ParallelMLP",
    "TensorDictDataset",
    "gaussian_kl_standard",
    "grad_reverse",
    "grouped_dro_loss",
    "kl_dro_weights",
    "pairwise_gaussian_kl",
    "reparameterize",
    "reversal_override",
    "rff_mmd",
]
