"""Utilities shared by skfrl's sub-packages."""

from ._sensitive import (
    SensitiveAttribute,
    check_sensitive_features,
    is_fair_representation,
)

__all__ = ["SensitiveAttribute", "check_sensitive_features", "is_fair_representation"]
