"""Poisoning attacks against fair representation learning."""

from ._base import BaseAttack
from ._baselines import AnchorAttack, LabelFlipping, RandomPoisoning
from ._feature_space import FeatureSpace

__all__ = [
    "AnchorAttack",
    "BaseAttack",
    "FeatureSpace",
    "LabelFlipping",
    "RandomPoisoning",
]
