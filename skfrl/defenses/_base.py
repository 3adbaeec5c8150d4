"""Base classes of the defenses: the ``fit_resample`` template and the sanitisers."""

from __future__ import annotations

import numbers
from abc import ABCMeta, abstractmethod

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn import get_config
from sklearn.base import BaseEstimator, clone
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils.validation import has_fit_parameter, validate_data

from ..utils import check_X_y_s, fit_with_sensitive
from ..utils._sklearn_compat import Interval, check_params

__all__ = ["BaseSanitizer"]


def _take(container, indices: np.ndarray, repeat_prefix: str = "copy_"):
    """Rows ``indices`` of ``container``, in the same container type (a copy).

    A DataFrame or Series keeps its index labels; a row taken again (after
    its first occurrence) gets a fresh label so that the index stays unique:
    the integers after the largest label of an integer index, else
    ``f"{repeat_prefix}{i}"``.
    """
    if container is None:
        return None
    if not isinstance(container, pd.DataFrame | pd.Series):
        return np.asarray(container)[indices]
    out = container.iloc[indices].copy()
    repeated = pd.Index(indices).duplicated()
    if repeated.any():
        index = container.index
        m = int(repeated.sum())
        if pd.api.types.is_integer_dtype(index) and len(index):
            fresh = list(range(index.max() + 1, index.max() + 1 + m))
        else:
            fresh = [f"{repeat_prefix}{i}" for i in range(m)]
        labels = out.index.to_list()
        for position, label in zip(np.flatnonzero(repeated), fresh, strict=True):
            labels[position] = label
        out.index = pd.Index(labels)
    return out


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


def _request_sensitive(estimator) -> None:
    """Request ``sensitive_features`` for ``fit`` on every step that takes it.

    Only ever called on a defense's own clone (never on the caller's
    estimator), with metadata routing enabled: the routing-off path of
    :func:`~skfrl.utils.fit_with_sensitive` hands the sensitive features to
    every step whose ``fit`` takes them, and this gives the same fit.
    """
    if isinstance(estimator, Pipeline):
        for _, step in estimator.steps:
            if step not in (None, "passthrough"):
                _request_sensitive(step)
    elif (
        hasattr(estimator, "fit")
        and has_fit_parameter(estimator, "sensitive_features")
        and hasattr(estimator, "set_fit_request")
    ):
        estimator.set_fit_request(sensitive_features=True)


def _fit_estimator(estimator, X, y, S):
    """Fit a defense's own (cloned) ``estimator``, with or without routing.

    :func:`~skfrl.utils.fit_with_sensitive`, after (with metadata routing
    enabled) requesting the sensitive features on this clone's steps that
    take them: the defenses promise the same fit in both modes without the
    caller setting requests on the estimator they pass.
    """
    if get_config().get("enable_metadata_routing", False):
        _request_sensitive(estimator)
    return fit_with_sensitive(estimator, X, y, S)


def _set_input_features(estimator, X) -> None:
    """``n_features_in_`` and (DataFrames with string columns) ``feature_names_in_``."""
    validate_data(estimator, X, skip_check_array=True, reset=True)


class _BaseResampler(BaseEstimator, metaclass=ABCMeta):
    """The ``fit_resample`` template of the defenses that return rows.

    ``fit_resample`` validates the parameters and the data, asks the
    subclass for the input rows to return through ``_fit_resample(X, y, S)``
    (positions, repeats allowed), stores them as ``sample_indices_`` (the
    name imbalanced-learn uses) and returns those rows in the caller's
    containers, so every resampling defense has one contract:
    ``X_res`` equals ``X[sample_indices_]``.
    """

    #: Start of the index labels of repeated DataFrame/Series rows (when the
    #: index is not made of integers).
    _repeat_label_prefix = "copy_"

    def _check_params(self) -> None:
        check_params(self)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    def fit_resample(self, X, y, *, sensitive_features=None):
        """Fit on the rows and return the resampled rows.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Training rows, possibly poisoned (never modified).
        y : array-like of shape (n_samples,)
            Labels.
        sensitive_features : array-like of shape (n_samples,) or \
(n_samples, n_attributes), default=None
            Protected attribute(s), carried along (and used by the defenses
            that need them).

        Returns
        -------
        X_res, y_res, s_res
            The input rows ``sample_indices_``, in that order, in the
            containers of ``X``, ``y`` and ``sensitive_features``
            (DataFrames and Series keep their index labels; ``s_res`` is
            None when ``sensitive_features`` is).
        """
        self._check_params()
        X_checked, y_arr, S = check_X_y_s(
            X, y, sensitive_features, estimator_name=type(self).__name__
        )
        _set_input_features(self, X_checked)
        indices = np.asarray(self._fit_resample(X_checked, y_arr, S), dtype=np.intp)
        self.sample_indices_ = indices
        X_out = X if isinstance(X, pd.DataFrame) else X_checked
        y_out = y if isinstance(y, pd.Series) else y_arr
        prefix = self._repeat_label_prefix
        return tuple(
            _take(c, indices, prefix) for c in (X_out, y_out, sensitive_features)
        )

    @abstractmethod
    def _fit_resample(self, X, y, S) -> np.ndarray:
        """Fit on validated data; return the positions of the rows to return.

        ``X`` is the caller's DataFrame or a numeric ndarray, ``y`` an
        ndarray, ``S`` the sensitive features as a DataFrame or None.
        """


class BaseSanitizer(_BaseResampler):
    """Base class of sanitisers (template method ``fit_resample``).

    ``fit_resample(X, y, *, sensitive_features)`` validates the data, asks
    the subclass for one suspiciousness score per row through
    ``_scores(X, y, S, rng)`` (higher = more suspicious; ``S`` is the
    sensitive features as a DataFrame or None) and removes either the
    ``contamination`` share of rows with the highest scores (ties broken at
    random with ``random_state``) or, with ``contamination="auto"`` where a
    subclass defines it, the rows whose score exceeds the subclass's
    ``_auto_threshold``. The kept rows come back in input order, in the
    caller's container types; the inputs are never modified.

    Models fitted while scoring are clones; they get the sensitive features
    where their ``fit`` takes them, with scikit-learn's metadata routing
    enabled or not (with routing, the clone's steps that take them request
    them; the caller's estimator is left as it is). Sparse ``X`` is not
    supported.

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
    sample_indices_ : ndarray of int
        Positions of the kept rows in the input, in input order: the rows
        ``fit_resample`` returns are ``X[sample_indices_]``.
    removed_mask_ : ndarray of bool of shape (n_samples,)
        True for removed input rows (the complement of ``sample_indices_``).
    n_removed_ : int
        Number of removed rows.
    n_features_in_ : int
        Number of columns of ``X``.
    feature_names_in_ : ndarray of str
        Column names of ``X``, when it is a DataFrame with string column
        names.

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

    def _auto_threshold(self, scores: np.ndarray) -> float:  # pragma: no cover
        # Only reached by subclasses that accept "auto" in their constraints
        # (adding StrOptions({"auto"})) and override this method.
        raise NotImplementedError

    def _fit_resample(self, X, y, S) -> np.ndarray:
        n = len(X)
        rng = check_random_state(self.random_state)
        # Drawn before scoring so that the tie-breaking does not depend on how
        # many random numbers a score consumes.
        tie_rng = np.random.default_rng(rng.randint(2**31 - 1))
        scores = np.asarray(self._scores(X, y, S, rng), dtype=np.float64)
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
        self.n_removed_ = int(removed.sum())
        return np.flatnonzero(~removed)

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
