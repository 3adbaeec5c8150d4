"""Synthetic classification data with a controllable sensitive-attribute bias."""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from ..utils._sklearn_compat import Interval, validate_params

__all__ = ["make_biased_classification"]


@validate_params(
    {
        "n_samples": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_features": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_informative": [Interval(numbers.Integral, 1, None, closed="left")],
        "bias": [Interval(numbers.Real, 0, None, closed="left")],
        "n_sensitive_classes": [Interval(numbers.Integral, 2, None, closed="left")],
        "flip_y": [Interval(numbers.Real, 0, 1, closed="both")],
        "continuous_sensitive": ["boolean"],
        "random_state": ["random_state"],
        "return_frame": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def make_biased_classification(
    n_samples: int = 1000,
    n_features: int = 10,
    *,
    n_informative: int = 5,
    bias: float = 1.0,
    n_sensitive_classes: int = 2,
    flip_y: float = 0.0,
    continuous_sensitive: bool = False,
    random_state: int | np.random.RandomState | None = None,
    return_frame: bool = False,
) -> (
    tuple[np.ndarray, np.ndarray, np.ndarray]
    | tuple[pd.DataFrame, pd.Series, pd.Series]
):
    """Generate a binary classification problem in which ``s`` is planted in ``X``.

    A small, fast stand-in for a real fairness data set: ``bias`` sets how
    much the sensitive attribute ``s`` shifts the features, and through them
    the label.

    Generative model, for each sample independently:

    1. ``s`` is drawn uniformly from ``{0, ..., n_sensitive_classes - 1}``,
       or from a standard normal when ``continuous_sensitive=True``. It is
       mapped to a position ``t``: ``t = s / (n_sensitive_classes - 1) - 1/2``
       (so ``t`` is -1/2 or +1/2 for two classes), or ``t = s / 2`` for a
       continuous ``s`` (same variance as two balanced classes).
    2. ``x ~ N(0, I)`` in ``n_features`` dimensions, then ``bias * t`` is added
       to each of the first ``n_informative`` features. For two classes the
       group means thus differ by ``bias`` on each of those features, and the
       best possible ROC AUC for predicting ``s`` from ``X`` is
       ``Phi(bias * sqrt(n_informative) / sqrt(2))`` (0.94 for the defaults).
       The other features are pure noise.
    3. ``y = 1`` if ``w @ x[:n_informative] > 0`` else 0, with weights
       ``w ~ Uniform(0.5, 1.5)`` drawn once per call. As all weights are
       positive, the shift of step 2 moves the score, so ``y`` correlates
       with ``s`` as well (``P(y=1)`` is 1/2 overall, by symmetry).
    4. With probability ``flip_y`` the label is replaced by a fair coin toss.

    With ``bias=0``, ``s`` is independent of ``X`` and ``y``.

    .. versionadded:: 0.1

    Parameters
    ----------
    n_samples : int, default=1000
        Number of samples.
    n_features : int, default=10
        Number of features.
    n_informative : int, default=5
        Number of features that determine ``y`` and are shifted by ``s``
        (the first columns of ``X``); at most ``n_features``.
    bias : float, default=1.0
        Strength of the dependence of ``X`` (and hence ``y``) on ``s``;
        non-negative.
    n_sensitive_classes : int, default=2
        Number of groups of a categorical ``s`` (at least 2). Ignored when
        ``continuous_sensitive=True``.
    flip_y : float, default=0.0
        Fraction of labels replaced by random ones, in [0, 1].
    continuous_sensitive : bool, default=False
        If True, ``s`` is a continuous standard-normal attribute.
    random_state : int, RandomState instance or None, default=None
        Seed for reproducible output.
    return_frame : bool, default=False
        If True, return ``X`` as a DataFrame with columns ``x0``, ``x1``, ...
        and ``y``, ``s`` as Series named ``"y"`` and ``"s"``.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64, or DataFrame
        The features.
    y : ndarray of shape (n_samples,), int64, or Series
        Binary labels in {0, 1}.
    s : ndarray of shape (n_samples,), or Series
        Sensitive attribute: int64 in ``{0, ..., n_sensitive_classes - 1}``,
        or float64 when ``continuous_sensitive=True``.

    Raises
    ------
    TypeError
        If an argument has the wrong type.
    ValueError
        If an argument is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> from skfrl.datasets import make_biased_classification
    >>> X, y, s = make_biased_classification(n_samples=500, bias=2.0, random_state=0)
    >>> X.shape, X.dtype, np.unique(y).tolist(), np.unique(s).tolist()
    ((500, 10), dtype('float64'), [0, 1], [0, 1])
    >>> # The group means differ by about ``bias`` on the informative features.
    >>> gap = X[s == 1, :5].mean(axis=0) - X[s == 0, :5].mean(axis=0)
    >>> bool(np.all(np.abs(gap - 2.0) < 0.5))
    True
    """
    # A bound that depends on another parameter: no constraint expresses it.
    if n_informative > n_features:
        raise ValueError(
            f"n_informative must be in [1, n_features={n_features}]; got "
            f"{n_informative!r}."
        )
    rng = check_random_state(random_state)

    if continuous_sensitive:
        s = rng.standard_normal(n_samples)
        position = s / 2.0
    else:
        s = rng.randint(n_sensitive_classes, size=n_samples).astype(np.int64)
        position = s / (n_sensitive_classes - 1) - 0.5
    X = rng.standard_normal((n_samples, n_features))
    X[:, :n_informative] += bias * position[:, np.newaxis]
    weights = rng.uniform(0.5, 1.5, size=n_informative)
    y = (X[:, :n_informative] @ weights > 0).astype(np.int64)
    flip = rng.uniform(size=n_samples) < flip_y
    y[flip] = rng.randint(2, size=int(flip.sum()))

    if not return_frame:
        return X, y, s
    columns = [f"x{j}" for j in range(n_features)]
    return (
        pd.DataFrame(X, columns=columns),
        pd.Series(y, name="y"),
        pd.Series(s, name="s"),
    )
