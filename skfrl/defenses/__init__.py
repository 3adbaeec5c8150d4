"""Defenses against poisoning: sanitisers and group-robust reweighting.

Sanitisers score every training row and remove the most suspicious ones
(``fit_resample(X, y, *, sensitive_features) -> (X_kept, y_kept, s_kept)``,
with ``removed_mask_``); :class:`JTTReweighter` up-weights the rows a quick
model gets wrong (Just Train Twice), or up-samples them. Every defense that
returns rows sets ``sample_indices_``: the returned rows are the input rows
``sample_indices_``, in that order. :class:`RobustMLPClassifier` is a
downstream classifier trained adversarially (PGD or a learned attacker),
optionally with KL-DRO over classes.
"""

from ._adversarial_training import RobustMLPClassifier, robust_accuracy
from ._base import BaseSanitizer
from ._gradient import GradientFilter
from ._jtt import JTTReweighter
from ._knn import KNNConsistencyFilter
from ._loss import LossFilter
from ._spectral import SpectralSignatureFilter

__all__ = [
    "BaseSanitizer",
    "GradientFilter",
    "JTTReweighter",
    "KNNConsistencyFilter",
    "LossFilter",
    "RobustMLPClassifier",
    "SpectralSignatureFilter",
    "robust_accuracy",
]
