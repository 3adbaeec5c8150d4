"""Fair representation learning models (scikit-learn estimators on skorch)."""

from ._adversarial import AdversarialFairRepresentation
from ._cfair import CFair
from ._lfr import LearnedFairRepresentation

__all__ = [
    "AdversarialFairRepresentation",
    "CFair",
    "LearnedFairRepresentation",
]
