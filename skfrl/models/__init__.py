"""Fair representation learning models (scikit-learn estimators on skorch)."""

from ._adversarial import AdversarialFairRepresentation

__all__ = ["AdversarialFairRepresentation"]
