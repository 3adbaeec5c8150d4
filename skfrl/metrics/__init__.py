"""Leakage metrics on representations and scorers for model selection.

Functions take a representation ``Z`` and a sensitive attribute ``s`` and
return a float; the ``make_*_scorer`` factories return scorers that route
``sensitive_features`` through scikit-learn's metadata routing.
"""

from ._leakage import (
    balanced_error_rate,
    check_leakage_metric,
    fld_score,
    leakage_by_probe,
    mutual_information_lower_bound,
    probe_family,
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
    "balanced_error_rate",
    "check_leakage_metric",
    "fld_score",
    "leakage_by_probe",
    "make_fairness_scorer",
    "make_leakage_scorer",
    "minority_removal_rate",
    "mutual_information_lower_bound",
    "poison_amplification",
    "probe_family",
    "representation_leakage",
    "sanitizer_precision_recall",
    "worst_group_accuracy",
]
