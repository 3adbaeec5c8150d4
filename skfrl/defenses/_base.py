"""BaseSanitizer: the ``fit_resample`` template every sanitiser follows."""

from __future__ import annotations

import numbers
from abc import abstractmethod

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, clone
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state

from ..utils import check_sensitive_features
from ..utils._sklearn_compat import Interval, check_params

__all__ = ["BaseSanitizer"]


def _validate_xy(X, y, sensitive_features, *, require_y: bool = True):
    """Check ``(X, y, s)`` for a defense; return ``(X, y_array, S_frame)``.

    ``X`` comes back as the caller's DataFrame or as a numeric ndarray,
    ``S_frame`` as a DataFrame with a fresh RangeIndex (or None).
    """
    if isinstance(X, pd.Series) or np.ndim(X) != 2:
        raise ValueError(
            f"X must be 2-D (a DataFrame or an array), got shape {np.shape(X)}."
        )
    if isinstance(X, pd.DataFrame):
        if X.isna().to_numpy().any():
            raise ValueError("X contains NaN or missing values; impute or drop them.")
    else:
        X = np.asarray(X)
        if X.dtype.kind not in "biuf":
            raise TypeError(
                f"X must be numeric when it is not a DataFrame; got dtype {X.dtype}."
            )
        if not np.all(np.isfinite(X)):
            raise ValueError("X contains NaN or infinite values.")
    n = len(X)
    if n < 2:
        raise ValueError(f"X needs at least 2 samples, got {n}.")
    y_arr = None
    if y is None:
        if require_y:
            raise ValueError("y is required: this defense scores rows by their label.")
    else:
        y_arr = np.asarray(y)
        if y_arr.ndim != 1 or len(y_arr) != n:
            raise ValueError(
                f"y must be 1-D with one label per row of X ({n}), got shape "
                f"{y_arr.shape}."
            )
        if pd.isna(y_arr).any():
            raise ValueError("y contains NaN or missing values.")
    S = None
    if sensitive_features is not None:
        check_sensitive_features(sensitive_features, n_samples=n)
        if isinstance(sensitive_features, pd.DataFrame):
            S = sensitive_features.reset_index(drop=True)
        elif isinstance(sensitive_features, pd.Series):
            S = sensitive_features.reset_index(drop=True).to_frame()
        else:
            arr = np.asarray(sensitive_features)
            S = pd.DataFrame(arr.reshape(n, -1))
    return X, y_arr, S


def _take(container, idx: np.ndarray):
    """Rows ``idx`` of ``container`` in the same container type (a copy)."""
    if container is None:
        return None
    if isinstance(container, pd.DataFrame | pd.Series):
        return container.iloc[idx].copy()
    return np.asarray(container)[idx].copy()


def _default_preprocessor(X):
    """One-hot + scaling for DataFrames, standardisation for arrays (unfitted)."""
    if isinstance(X, pd.DataFrame):
        from ..datasets import make_preprocessor

        return make_preprocessor(X)
    return StandardScaler()


def _encode(preprocessor, X) -> tuple[object, np.ndarray]:
    """Fit ``preprocessor`` (or the default) on ``X``; return it and float64 rows."""
    pre = _default_preprocessor(X) if preprocessor is None else clone(preprocessor)
    E = pre.fit_transform(X)
    if sp.issparse(E):
        E = E.toarray()
    E = np.asarray(E, dtype=np.float64)
    if not np.all(np.isfinite(E)):
        raise ValueError(
            "The preprocessed X contains NaN or infinite values; check the "
            "preprocessor."
        )
    return pre, E


def _seed_estimator(estimator, seed: int):
    """Give every step whose ``random_state`` is None the seed ``seed``."""
    steps = (
        [step for _, step in estimator.steps]
        if isinstance(estimator, Pipeline)
        else [estimator]
    )
    for step in steps:
        if step in (None, "passthrough") or not hasattr(step, "get_params"):
            continue
        params = step.get_params(deep=False)
        if "random_state" in params and params["random_state"] is None:
            step.set_params(random_state=seed)
    return estimator


class BaseSanitizer(BaseEstimator):
    """Base class of sanitisers (template method ``fit_resample``).

    ``fit_resample(X, y, *, sensitive_features)`` validates the data, asks
    the subclass for one suspiciousness score per row through
    ``_scores(X, y, S, rng)`` (higher = more suspicious; ``S`` is the
    sensitive features as a DataFrame or None) and removes either the
    ``contamination`` share of rows with the highest scores (ties broken at
    random with ``random_state``) or, with ``contamination="auto"`` where a
    subclass defines it, the rows whose score exceeds the subclass's
    ``_auto_threshold``. The kept rows come back in the caller's container
    types; the inputs are never modified.

    .. versionadded:: 0.1

    Parameters
    ----------
    contamination : float in (0, 0.5] or "auto", default=0.05
        Share of rows to remove (rounded, at least one), or ``"auto"`` for
        a subclass-defined threshold.
    random_state : int, RandomState instance or None, default=None
        Seeds models fitted while scoring and the tie-breaking.

    Attributes
    ----------
    scores_ : ndarray of shape (n_samples,)
        Suspiciousness of each input row (higher = more suspicious).
    threshold_ : float
        Rows scoring above it were removed (with a fraction, the lowest
        removed score; rows tied with it may have been kept).
    removed_mask_ : ndarray of bool of shape (n_samples,)
        True for removed input rows.
    kept_indices_ : ndarray of int
        Positions of the kept rows in the input, in input order.
    n_removed_ : int
        Number of removed rows.

    Examples
    --------
    >>> from skfrl.defenses import BaseSanitizer, KNNConsistencyFilter
    >>> issubclass(KNNConsistencyFilter, BaseSanitizer)
    True
    """

    _parameter_constraints: dict = {
        "contamination": [Interval(numbers.Real, 0, 0.5, closed="right")],
        "random_state": ["random_state"],
    }

    def __init__(self, *, contamination=0.05, random_state=None):
        self.contamination = contamination
        self.random_state = random_state

    def _check_params(self) -> None:
        check_params(self)

    def _auto_threshold(self, scores: np.ndarray) -> float:  # pragma: no cover
        # Only reached by subclasses that accept "auto" in their constraints
        # (adding StrOptions({"auto"})) and override this method.
        raise NotImplementedError

    def fit_resample(self, X, y, *, sensitive_features=None):
        """Score every row and return the rows that were not removed.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Training rows, possibly poisoned (never modified).
        y : array-like of shape (n_samples,)
            Labels.
        sensitive_features : array-like of shape (n_samples,) or \
(n_samples, n_attributes), default=None
            Protected attribute(s); required by the scores that use them.

        Returns
        -------
        X_kept, y_kept, s_kept
            The kept rows in the containers of ``X``, ``y`` and
            ``sensitive_features`` (DataFrames and Series keep their index
            labels; ``s_kept`` is None when ``sensitive_features`` is).
        """
        self._check_params()
        X_checked, y_arr, S = _validate_xy(X, y, sensitive_features)
        n = len(X_checked)
        rng = check_random_state(self.random_state)
        # Drawn before scoring so that the tie-breaking does not depend on how
        # many random numbers a score consumes.
        tie_rng = np.random.default_rng(rng.randint(2**31 - 1))
        scores = np.asarray(self._scores(X_checked, y_arr, S, rng), dtype=np.float64)
        if scores.shape != (n,) or not np.all(np.isfinite(scores)):
            raise RuntimeError(  # pragma: no cover - subclass bug guard
                f"{type(self).__name__} produced invalid scores."
            )
        if isinstance(self.contamination, str):
            threshold = float(self._auto_threshold(scores))
            removed = scores > threshold
        else:
            n_remove = min(n - 1, max(1, int(round(self.contamination * n))))
            perm = tie_rng.permutation(n)
            order = perm[np.argsort(-scores[perm], kind="stable")]
            removed = np.zeros(n, dtype=bool)
            removed[order[:n_remove]] = True
            threshold = float(scores[order[n_remove - 1]])
        self.scores_ = scores
        self.threshold_ = threshold
        self.removed_mask_ = removed
        self.kept_indices_ = np.flatnonzero(~removed)
        self.n_removed_ = int(removed.sum())
        kept = self.kept_indices_
        X_out = X if isinstance(X, pd.DataFrame) else X_checked
        y_out = y if isinstance(y, pd.Series) else y_arr
        return _take(X_out, kept), _take(y_out, kept), _take(sensitive_features, kept)

    def fit(self, X, y, *, sensitive_features=None):
        """Score the rows and decide which to remove (see :meth:`fit_resample`).

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Training rows.
        y : array-like of shape (n_samples,)
            Labels.
        sensitive_features : array-like, default=None
            Protected attribute(s).

        Returns
        -------
        self
        """
        self.fit_resample(X, y, sensitive_features=sensitive_features)
        return self

    @abstractmethod
    def _scores(self, X, y, S, rng) -> np.ndarray:
        """Suspiciousness of every row (higher = more suspicious)."""
