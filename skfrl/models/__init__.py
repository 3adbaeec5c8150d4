"""Fair representation learning models (scikit-learn estimators on skorch)."""

from ._adversarial import AdversarialFairRepresentation
from ._advvae import AdversarialVAE
from ._cfair import CFair
from ._icvae import ICVAE
from ._lfr import LearnedFairRepresentation
from ._vfae import VFAE

__all__ = [
    "AdversarialFairRepresentation",
    "AdversarialVAE",
    "CFair",
    "ICVAE",
    "LearnedFairRepresentation",
    "VFAE",
]
