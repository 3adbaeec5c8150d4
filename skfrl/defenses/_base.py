"""BaseSanitizer: the ``fit_resample`` template every sanitiser follows."""

from __future__ import annotations

import inspect
import numbers
from abc import abstractmethod

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn import get_config
from sklearn.base import BaseEstimator, clone
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils.metadata_routing import get_routing_for_object
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from ..utils import check_sensitive_features, fit_with_sensitive
from ..utils._sklearn_compat import Interval, check_params

__all__ = ["BaseSanitizer"]


def _validate_xy(
    X, y, sensitive_features, *, require_y: bool = True, name: str = "This defense"
):
    """Check ``(X, y, s)`` for a defense; return ``(X, y_array, S_frame)``.

    ``X`` comes back as the caller's DataFrame or as a numeric ndarray (an
    object array of numbers is converted to float64), ``y`` must hold class
    labels, ``S_frame`` comes back as a DataFrame with a fresh RangeIndex
    (or None). ``name`` (the estimator's class name) appears in the message
    for a missing ``y``.
    """
    if sp.issparse(X):
        raise TypeError(
            f"X is a sparse {type(X).__name__}, but sparse input is not "
            "supported by the defenses (they return the kept rows in the "
            "caller's container): densify it first, e.g. X.toarray(), or pass "
            "a DataFrame."
        )
    if isinstance(X, pd.Series) or np.ndim(X) != 2:
        raise ValueError(
            f"X must be 2-D (a DataFrame or an array), got shape {np.shape(X)}."
        )
    if isinstance(X, pd.DataFrame):
        if X.isna().to_numpy().any():
            raise ValueError("X contains NaN or missing values; impute or drop them.")
    else:
        X = np.asarray(X)
        if X.dtype.kind == "c":
            raise ValueError(
                f"Complex data not supported: X has dtype {X.dtype}; pass real numbers."
            )
        if X.dtype.kind == "O":
            try:
                X = X.astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise TypeError(
                    "X must be numeric when it is not a DataFrame; its object "
                    f"values could not be converted to float ({exc}). Pass a "
                    "DataFrame to keep categorical columns."
                ) from exc
        if X.dtype.kind not in "biuf":
            raise TypeError(
                f"X must be numeric when it is not a DataFrame; got dtype {X.dtype}. "
                "Pass a DataFrame to keep categorical columns."
            )
        if not np.all(np.isfinite(X)):
            raise ValueError("X contains NaN or infinite values.")
    n = len(X)
    if X.shape[1] == 0:
        raise ValueError(
            f"0 feature(s) (shape={X.shape}) while a minimum of 1 is required."
        )
    if n < 2:
        raise ValueError(
            f"X needs at least 2 samples, got {n} sample{'' if n == 1 else 's'}."
        )
    y_arr = None
    if y is None:
        if require_y:
            raise ValueError(
                f"{name} requires y to be passed, but the target y is None: it "
                "uses the labels."
            )
    else:
        y_arr = np.asarray(y)
        if y_arr.ndim != 1 or len(y_arr) != n:
            raise ValueError(
                f"y must be 1-D with one label per row of X ({n}), got shape "
                f"{y_arr.shape}."
            )
        if y_arr.dtype.kind == "c":
            raise ValueError("Complex data not supported: y has complex labels.")
        if pd.isna(y_arr).any():
            raise ValueError("y contains NaN or missing values.")
        if y_arr.dtype.kind == "f" and not np.all(np.isfinite(y_arr)):
            raise ValueError("y contains infinite values.")
        # Class labels: continuous or mixed-type targets have no meaning here.
        check_classification_targets(y_arr)
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


def _takes_sensitive(estimator) -> bool:
    """Whether ``estimator.fit`` has a ``sensitive_features`` parameter."""
    fit = getattr(estimator, "fit", None)
    if fit is None:
        return False
    try:
        return "sensitive_features" in inspect.signature(fit).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without signature
        return False


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
    elif _takes_sensitive(estimator) and hasattr(estimator, "set_fit_request"):
        estimator.set_fit_request(sensitive_features=True)


def _fit_estimator(estimator, X, y, S):
    """Fit a defense's own (cloned) ``estimator``, with or without routing.

    Without metadata routing this is :func:`~skfrl.utils.fit_with_sensitive`.
    With it, the steps of a Pipeline that take ``sensitive_features`` are
    made to request them (on this clone only) and the Pipeline gets them
    only when some step consumes them (a ``make_pipeline(scaler,
    LogisticRegression())`` would reject them); any other estimator gets
    them when its ``fit`` takes them. Both modes fit the same model.
    """
    if not get_config().get("enable_metadata_routing", False):
        return fit_with_sensitive(estimator, X, y, S)
    if isinstance(estimator, Pipeline):
        _request_sensitive(estimator)
        routing = get_routing_for_object(estimator)
        if S is not None and routing.consumes("fit", ["sensitive_features"]):
            return estimator.fit(X, y, sensitive_features=S)
        return estimator.fit(X, y)
    if _takes_sensitive(estimator):
        return estimator.fit(X, y, sensitive_features=S)
    return estimator.fit(X, y)


def _set_input_features(estimator, X) -> None:
    """``n_features_in_`` and (DataFrames with string columns) ``feature_names_in_``."""
    validate_data(estimator, X, skip_check_array=True, reset=True)


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
    removed_mask_ : ndarray of bool of shape (n_samples,)
        True for removed input rows.
    kept_indices_ : ndarray of int
        Positions of the kept rows in the input, in input order.
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

    def _check_params(self) -> None:
        check_params(self)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

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
        X_checked, y_arr, S = _validate_xy(
            X, y, sensitive_features, name=type(self).__name__
        )
        _set_input_features(self, X_checked)
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
