"""Poisoning attacks against fair representation learning."""

from ._backdoor import DirtyLabelBackdoor
from ._base import BaseAttack, PoisonSet
from ._baselines import AnchorAttack, LabelFlipping, RandomPoisoning
from ._bound import PoisonCountBound, min_poison_count
from ._eng import PoisonGenerator, fld_torch
from ._feature_space import FeatureSpace
from ._poisoned import PoisonedEstimator

__all__ = [
    "AnchorAttack",
    "BaseAttack",
    "DirtyLabelBackdoor",
    "FeatureSpace",
    "LabelFlipping",
    "PoisonCountBound",
    "PoisonGenerator",
    "PoisonSet",
    "PoisonedEstimator",
    "RandomPoisoning",
    "fld_torch",
    "min_poison_count",
]
