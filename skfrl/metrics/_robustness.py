"""Metrics for poisoning defenses and group robustness.

Worst-group accuracy, attack success, and how a defense treats poisons and
legitimate minority rows: the quantities in which group-robustness methods
and poisoning defenses conflict (Panaitescu-Liess et al., ICLR 2024).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from ..utils import check_sensitive_features
from ..utils._sklearn_compat import ordered_options, validate_params

__all__ = [
    "PoisonAmplification",
    "attack_success_rate",
    "minority_removal_rate",
    "poison_amplification",
    "sanitizer_precision_recall",
    "worst_group_accuracy",
]


def _check_1d(values, name: str, n: int | None = None) -> np.ndarray:
    # Array contents (shape, length, missing values): no constraint sees them.
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}.")
    if n is not None and len(arr) != n:
        raise ValueError(f"{name} has {len(arr)} entries, expected {n}.")
    if len(arr) == 0:
        raise ValueError(f"{name} is empty.")
    if pd.isna(arr).any():
        raise ValueError(f"{name} contains NaN or missing values.")
    if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
        raise ValueError(f"{name} contains infinite values; labels must be finite.")
    return arr


def _check_mask(mask, name: str, n: int | None = None) -> np.ndarray:
    arr = _check_1d(mask, name, n)
    if arr.dtype != bool:
        if arr.dtype.kind not in "biuf" or not np.isin(arr, (0, 1)).all():
            raise ValueError(f"{name} must be a boolean mask (or 0/1 values).")
        arr = arr.astype(bool)
    return arr


def _group_keys(sensitive_features, n: int, name="sensitive_features") -> pd.Series:
    """One label per row for the joint group over all (categorical) attributes."""
    values, attrs = check_sensitive_features(
        sensitive_features, n_samples=n, allow_continuous=False, input_name=name
    )
    labels = [attr.classes[codes] for codes, attr in zip(values, attrs, strict=True)]
    if len(labels) == 1:
        return pd.Series(labels[0])
    return pd.Series(list(zip(*labels, strict=True)))


@validate_params(
    {
        "y_true": ["array-like"],
        "y_pred": ["array-like"],
        "sensitive_features": ["array-like"],
        "groups": [ordered_options(["label_sensitive", "sensitive"])],
    },
    prefer_skip_nested_validation=True,
)
def worst_group_accuracy(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    sensitive_features: ArrayLike,
    groups: str = "label_sensitive",
) -> float:
    """Smallest accuracy over groups (or over label x group cells).

    Group-robustness methods such as JTT aim to raise it; poisoning
    defenses that remove hard rows can lower it.

    .. versionadded:: 0.1

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels.
    sensitive_features : array-like of shape (n_samples,) or \
(n_samples, n_attributes)
        Categorical protected attribute(s); several attributes form joint
        groups.
    groups : {"label_sensitive", "sensitive"}, default="label_sensitive"
        ``"label_sensitive"``: the cells of (true label x group), the usual
        definition in the group-robustness literature; ``"sensitive"``:
        the groups alone.

    Returns
    -------
    float
        The minimum, over the non-empty groups, of the accuracy within the
        group.

    Raises
    ------
    ValueError
        On length mismatch, NaN, a continuous or single-group attribute, or
        an unknown ``groups``.

    Examples
    --------
    >>> from skfrl.metrics import worst_group_accuracy
    >>> y_true = [0, 0, 1, 1, 0, 1]
    >>> y_pred = [0, 0, 1, 0, 0, 1]
    >>> s = ["a", "a", "a", "b", "b", "b"]
    >>> worst_group_accuracy(y_true, y_pred, sensitive_features=s)
    0.5
    >>> worst_group_accuracy(y_true, y_pred, sensitive_features=s,
    ...                      groups="sensitive")
    0.666...
    """
    y_true = _check_1d(y_true, "y_true")
    n = len(y_true)
    y_pred = _check_1d(y_pred, "y_pred", n)
    keys = _group_keys(sensitive_features, n)
    frame = pd.DataFrame({"g": keys, "correct": y_true == y_pred})
    by = ["g"]
    if groups == "label_sensitive":
        frame["y"] = y_true
        by.append("y")
    return float(frame.groupby(by, sort=False)["correct"].mean().min())


@validate_params(
    {"y_pred": ["array-like"], "y_true": ["array-like", None]},
    prefer_skip_nested_validation=True,
)
def attack_success_rate(
    y_pred: ArrayLike, target_label, *, y_true: ArrayLike | None = None
) -> float:
    """Share of triggered rows that a backdoored model assigns the target label.

    .. versionadded:: 0.1

    Parameters
    ----------
    y_pred : array-like of shape (n_samples,)
        Predictions on rows with the trigger set (e.g.
        ``model.predict(backdoor.apply_trigger(X_test))``).
    target_label : object
        The backdoor's target label.
    y_true : array-like of shape (n_samples,), default=None
        True labels of the rows; rows already of the target label are then
        left out (predicting it there is no success of the attack).

    Returns
    -------
    float
        Share of the counted rows predicted as ``target_label``.

    Raises
    ------
    ValueError
        On length mismatch, NaN, or when no row is left to count.

    Examples
    --------
    >>> from skfrl.metrics import attack_success_rate
    >>> attack_success_rate([1, 1, 0, 1], 1)
    0.75
    >>> attack_success_rate([1, 1, 0, 1], 1, y_true=[1, 0, 0, 0])
    0.666...
    """
    y_pred = _check_1d(y_pred, "y_pred")
    # Any label type is allowed, so a non-finite float is refused here.
    if isinstance(target_label, float) and not np.isfinite(target_label):
        raise ValueError(f"target_label must be a finite label, got {target_label}.")
    counted = np.ones(len(y_pred), dtype=bool)
    if y_true is not None:
        y_true = _check_1d(y_true, "y_true", len(y_pred))
        counted = y_true != target_label
        if not counted.any():
            raise ValueError(
                f"Every row of y_true already has the target label "
                f"{target_label!r}; attack success is undefined."
            )
    return float(np.mean(y_pred[counted] == target_label))


class PoisonAmplification(NamedTuple):
    """Result of :func:`poison_amplification`.

    .. versionadded:: 0.1

    Parameters
    ----------
    amplification : float
        ``weight_share / row_share``: 1 when poisons weigh as much as other
        rows, above 1 when they are up-weighted.
    upweighted_poison_share : float
        Share of poisons among the up-weighted rows (weight above the
        smallest weight); nan when no row is up-weighted.
    weight_share : float
        Share of the total weight carried by poisons.
    row_share : float
        Share of rows that are poisons.

    Examples
    --------
    >>> from skfrl.metrics import PoisonAmplification
    >>> PoisonAmplification(2.0, 0.5, 0.2, 0.1).amplification
    2.0
    """

    amplification: float
    upweighted_poison_share: float
    weight_share: float
    row_share: float


@validate_params(
    {"sample_weight": ["array-like"], "poison_mask": ["array-like"]},
    prefer_skip_nested_validation=True,
)
def poison_amplification(
    sample_weight: ArrayLike, poison_mask: ArrayLike
) -> PoisonAmplification:
    """How much a reweighting amplifies poisons.

    With JTT (:class:`~skfrl.defenses.JTTReweighter`), pass its
    ``sample_weight_``, or ``np.bincount(sample_indices_, minlength=n)``
    after ``fit_resample``, together with the attack's ``poison_mask_``.

    .. versionadded:: 0.1

    Parameters
    ----------
    sample_weight : array-like of shape (n_samples,)
        Non-negative weight (or repetition count) of every row.
    poison_mask : array-like of bool of shape (n_samples,)
        True for poisons; at least one.

    Returns
    -------
    PoisonAmplification
        ``(amplification, upweighted_poison_share, weight_share,
        row_share)``.

    Raises
    ------
    ValueError
        On length mismatch, negative or non-finite weights, zero total
        weight, or a mask without poisons.

    Examples
    --------
    >>> from skfrl.metrics import poison_amplification
    >>> res = poison_amplification([1, 1, 1, 5, 5], [False, False, False, True, False])
    >>> res.amplification, res.upweighted_poison_share
    (1.92..., 0.5)
    """
    w = _check_1d(sample_weight, "sample_weight").astype(np.float64)
    if not np.all(np.isfinite(w)) or (w < 0).any():
        raise ValueError("sample_weight must be finite and non-negative.")
    if w.sum() <= 0:
        raise ValueError("sample_weight sums to zero.")
    poison = _check_mask(poison_mask, "poison_mask", len(w))
    if not poison.any():
        raise ValueError("poison_mask marks no poisons; amplification is undefined.")
    row_share = float(poison.mean())
    weight_share = float(w[poison].sum() / w.sum())
    up = w > w.min()
    upweighted = float(poison[up].mean()) if up.any() else float("nan")
    return PoisonAmplification(
        weight_share / row_share, upweighted, weight_share, row_share
    )


@validate_params(
    {
        "removed_mask": ["array-like"],
        "sensitive_features": ["array-like"],
        "poison_mask": ["array-like", None],
        "per_group": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def minority_removal_rate(
    removed_mask: ArrayLike,
    sensitive_features: ArrayLike,
    *,
    poison_mask: ArrayLike | None = None,
    per_group: bool = False,
) -> float | pd.Series:
    """Share of the legitimate rows of the minority group that a sanitiser removed.

    .. versionadded:: 0.1

    Parameters
    ----------
    removed_mask : array-like of bool of shape (n_samples,)
        A sanitiser's ``removed_mask_``.
    sensitive_features : array-like of shape (n_samples,) or \
(n_samples, n_attributes)
        Categorical protected attribute(s) of the same rows; several
        attributes form joint groups.
    poison_mask : array-like of bool of shape (n_samples,), default=None
        True for poisons, which are not counted (an attack's
        ``poison_mask_``); None counts every row as legitimate.
    per_group : bool, default=False
        Return the rate of every group instead of the minority's.

    Returns
    -------
    float or Series
        The removal rate of the group with the fewest legitimate rows (ties:
        the first in sorted order), or a Series of every group's rate.

    Raises
    ------
    ValueError
        On length mismatch, NaN, a continuous attribute, or no legitimate
        rows.

    Examples
    --------
    >>> from skfrl.metrics import minority_removal_rate
    >>> removed = [True, False, False, False, True, False]
    >>> s = ["a", "a", "a", "a", "b", "b"]
    >>> minority_removal_rate(removed, s)
    0.5
    >>> minority_removal_rate(removed, s, per_group=True).to_dict()
    {'a': 0.25, 'b': 0.5}
    """
    removed = _check_mask(removed_mask, "removed_mask")
    n = len(removed)
    n_s = len(sensitive_features) if hasattr(sensitive_features, "__len__") else n
    if n_s != n:
        # A common slip: the sanitiser's kept sensitive features instead of
        # the ones it was given.
        raise ValueError(
            f"sensitive_features has {n_s} rows but removed_mask has {n}; pass "
            "the sensitive features the sanitiser was given (all rows), not the "
            "kept ones."
        )
    keys = _group_keys(sensitive_features, n)
    legit = np.ones(n, dtype=bool)
    if poison_mask is not None:
        legit = ~_check_mask(poison_mask, "poison_mask", n)
    if not legit.any():
        raise ValueError("No legitimate rows: every row is a poison.")
    frame = pd.DataFrame({"g": keys[legit].to_numpy(), "removed": removed[legit]})
    grouped = frame.groupby("g", sort=True)["removed"]
    rates = grouped.mean().astype(np.float64)
    rates.index.name = None
    if per_group:
        return rates.rename("removal_rate")
    sizes = grouped.size()
    # Positional: with several attributes the group labels are tuples, which
    # .loc would read as a multi-axis indexer.
    return float(rates.iloc[int(np.argmin(sizes.to_numpy()))])


@validate_params(
    {"removed_mask": ["array-like"], "poison_mask": ["array-like"]},
    prefer_skip_nested_validation=True,
)
def sanitizer_precision_recall(
    removed_mask: ArrayLike, poison_mask: ArrayLike
) -> tuple[float, float]:
    """Precision and recall of a sanitiser at finding poisons.

    .. versionadded:: 0.1

    Parameters
    ----------
    removed_mask : array-like of bool of shape (n_samples,)
        A sanitiser's ``removed_mask_``.
    poison_mask : array-like of bool of shape (n_samples,)
        The attack's ``poison_mask_`` over the same rows.

    Returns
    -------
    precision : float
        Share of removed rows that are poisons (nan if none was removed).
        Compare with the base rate ``poison_mask.mean()``.
    recall : float
        Share of poisons removed (nan if there are none).

    Examples
    --------
    >>> from skfrl.metrics import sanitizer_precision_recall
    >>> sanitizer_precision_recall([True, True, False, False],
    ...                            [True, False, True, False])
    (0.5, 0.5)
    """
    removed = _check_mask(removed_mask, "removed_mask")
    poison = _check_mask(poison_mask, "poison_mask", len(removed))
    hits = float((removed & poison).sum())
    precision = hits / removed.sum() if removed.any() else float("nan")
    recall = hits / poison.sum() if poison.any() else float("nan")
    return float(precision), float(recall)
