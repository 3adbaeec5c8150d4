"""Utilities shared by skfrl's sub-packages."""

from ._fit import fine_tune, fit_with_sensitive
from ._seeding import torch_rng
from ._sensitive import (
    SensitiveAttribute,
    check_sensitive_features,
    is_fair_representation,
)

__all__ = [
    "SensitiveAttribute",
    "check_sensitive_features",
    "fine_tune",
    "fit_with_sensitive",
    "is_fair_representation",
    "torch_rng",
]
