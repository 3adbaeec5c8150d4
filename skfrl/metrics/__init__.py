"""Leakage metrics on representations and scorers for model selection.

Functions take a representation ``Z`` and a sensitive attribute ``s`` and
return a float; the ``make_*_scorer`` factories return scorers that route
``sensitive_features`` through scikit-learn's metadata routing.
"""

from ._leakage import (
    balanced_error_rate,
    fld_score,
    mutual_information_lower_bound,
    representation_leakage,
)
from ._robustness import (
    PoisonAmplification,
    attack_success_rate,
    minority_removal_rate,
    poison_amplification,
    sanitizer_precision_recall,
    worst_group_accuracy,
)
from ._scorers import make_fairness_scorer, make_leakage_scorer

__all__ = [
    "PoisonAmplification",
    "attack_success_rate",
    "minority_removal_rate",
    "poison_amplification",
    "sanitizer_precision_recall",
    "worst_group_accuracy",
    "balanced_error_rate",
    "fld_score",
    "make_fairness_scorer",
    "make_leakage_scorer",
    "mutual_information_lower_bound",
    "representation_leakage",
]
