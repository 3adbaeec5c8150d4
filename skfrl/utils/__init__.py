"""Utilities shared by skfrl's sub-packages."""

from ._fit import check_fine_tune, fine_tune, fit_with_sensitive
from ._representation import (
    get_representation,
    has_representation,
    is_fair_representation,
    representation_pipeline,
    split_representation,
)
from ._seeding import fill_random_state, seed_from, torch_rng
from ._sensitive import SensitiveAttribute, SensitiveEncoder, check_sensitive_features
from ._validation import check_X_y_s, sensitive_frame

__all__ = [
    "SensitiveAttribute",
    "SensitiveEncoder",
    "check_fine_tune",
    "check_X_y_s",
    "check_sensitive_features",
    "fill_random_state",
    "fine_tune",
    "fit_with_sensitive",
    "get_representation",
    "has_representation",
    "is_fair_representation",
    "representation_pipeline",
    "seed_from",
    "sensitive_frame",
    "split_representation",
    "torch_rng",
]
