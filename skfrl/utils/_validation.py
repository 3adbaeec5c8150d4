"""One validation of ``(X, y, sensitive_features)`` for attacks and defenses."""

from __future__ import annotations

import math
import numbers

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.utils.multiclass import check_classification_targets

from ._sensitive import _frame, check_sensitive_features
from ._sklearn_compat import Interval, validate_params

__all__ = ["check_X_y_s", "sensitive_frame"]


def _infinite_columns(X: pd.DataFrame) -> list:
    """Names of the float (or complex) columns of ``X`` holding +-inf."""
    bad = []
    for name, col in X.items():
        dtype = col.dtype
        if pd.api.types.is_bool_dtype(dtype):
            continue
        if pd.api.types.is_float_dtype(dtype):
            values = col.to_numpy(dtype=np.float64)
        elif pd.api.types.is_complex_dtype(dtype):
            values = col.to_numpy()
        else:
            continue
        if np.isinf(values).any():
            bad.append(name)
    return bad


def _has_non_finite(y: np.ndarray) -> bool:
    """Whether numeric labels (or numbers in an object array) are +-inf."""
    if y.dtype.kind in "fc":
        return not bool(np.isfinite(y).all())
    if y.dtype.kind == "O":
        return any(
            isinstance(v, float | np.floating) and not math.isfinite(v) for v in y
        )
    return False


def _words(n: int) -> str:
    return {1: "one", 2: "two", 3: "three"}.get(n, str(n))


@validate_params(
    {"n_samples": [Interval(numbers.Integral, 0, None, closed="left"), None]},
    prefer_skip_nested_validation=True,
)
def sensitive_frame(sensitive_features, n_samples: int | None = None) -> pd.DataFrame:
    """Sensitive features as a DataFrame with a fresh RangeIndex (a copy).

    One column per attribute, aligned with ``X`` by row position. Does not
    validate the groups (see :func:`check_sensitive_features`).

    .. versionadded:: 0.1

    Parameters
    ----------
    sensitive_features : array-like of shape (n_samples,) or \
(n_samples, n_attributes)
        A Series, DataFrame, list or array.
    n_samples : int, default=None
        Expected number of rows; a mismatch raises ``ValueError``.

    Returns
    -------
    DataFrame of shape (n_samples, n_attributes)

    Examples
    --------
    >>> from skfrl.utils import sensitive_frame
    >>> sensitive_frame(["a", "b"]).shape
    (2, 1)
    """
    frame = _frame(sensitive_features, "sensitive_features")
    if n_samples is not None and len(frame) != n_samples:
        raise ValueError(
            f"sensitive_features has {len(frame)} rows, expected {n_samples}."
        )
    return frame


# The data are not declared: what is wrong with them (shape, dtype, missing
# values, too few rows or classes) takes the messages below.
@validate_params(
    {
        "require_y": ["boolean"],
        "require_sensitive": ["boolean"],
        "min_classes": [Interval(numbers.Integral, 1, None, closed="left")],
        "estimator_name": [str],
    },
    prefer_skip_nested_validation=True,
)
def check_X_y_s(
    X,
    y,
    sensitive_features,
    *,
    require_y: bool = True,
    require_sensitive: bool = False,
    min_classes: int = 1,
    estimator_name: str = "This estimator",
):
    """Validate ``(X, y, sensitive_features)`` before any expensive work.

    The checks attacks and sanitisers share: ``X`` 2-D, dense, finite and
    with at least two rows and one column (a DataFrame keeps its columns and
    dtypes; an array must be numeric), ``y`` class labels with one per row,
    and the sensitive features validated by :func:`check_sensitive_features`.
    Nothing is modified.

    .. versionadded:: 0.1

    Parameters
    ----------
    X : DataFrame or array-like of shape (n_samples, n_features)
        Input rows.
    y : array-like of shape (n_samples,) or None
        Class labels.
    sensitive_features : array-like of shape (n_samples,) or \
(n_samples, n_attributes), or None
        Protected attribute(s).
    require_y : bool, default=True
        Whether ``y=None`` raises.
    require_sensitive : bool, default=False
        Whether ``sensitive_features=None`` raises.
    min_classes : int, default=1
        Fewest distinct labels ``y`` must hold (2 for estimators that
        relabel rows).
    estimator_name : str, default="This estimator"
        Named in the messages about a missing ``y`` or too few classes.

    Returns
    -------
    X : DataFrame or ndarray
        The caller's DataFrame, or a numeric ndarray (an object array of
        numbers is converted to float64).
    y : ndarray or None
        ``y`` as an array.
    S : DataFrame or None
        The sensitive features, one column per attribute, fresh RangeIndex.

    Raises
    ------
    TypeError
        Sparse or non-numeric array ``X``.
    ValueError
        Wrong shapes, missing or infinite values, too few rows or classes,
        invalid sensitive features.

    Examples
    --------
    >>> import numpy as np
    >>> from skfrl.utils import check_X_y_s
    >>> X, y, S = check_X_y_s(np.eye(3), [0, 1, 0], ["a", "b", "b"])
    >>> X.shape, y.tolist(), S.shape
    ((3, 3), [0, 1, 0], (3, 1))
    """
    if sp.issparse(X):
        raise TypeError(
            f"X is a sparse {type(X).__name__}, but sparse input is not "
            "supported (the rows come back in the caller's container): densify "
            "it first, e.g. X.toarray(), or pass a DataFrame."
        )
    if isinstance(X, pd.Series) or np.ndim(X) != 2:
        raise ValueError(
            f"X must be 2-D (a DataFrame or an array), got shape {np.shape(X)}."
        )
    if isinstance(X, pd.DataFrame):
        if X.isna().to_numpy().any():
            raise ValueError("X contains NaN or missing values; impute or drop them.")
        bad = _infinite_columns(X)
        if bad:
            raise ValueError(
                f"X contains infinite values in column(s) {bad[:10]}; X must be "
                "finite (clip or drop those values first)."
            )
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
                f"{estimator_name} requires y to be passed, but the target y is "
                "None: it uses the labels."
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
        if _has_non_finite(y_arr):
            raise ValueError(
                "y contains infinite values; labels must be finite class values."
            )
        # Class labels: continuous or mixed-type targets have no meaning here.
        check_classification_targets(y_arr)
        if min_classes > 1:
            classes = pd.unique(y_arr)
            if len(classes) < min_classes:
                first = classes[0]
                first = first.item() if isinstance(first, np.generic) else first
                raise ValueError(
                    f"{estimator_name} needs at least {_words(min_classes)} classes "
                    f"in y, got {_words(len(classes))} class ({first!r})."
                )
    S = None
    if sensitive_features is None:
        if require_sensitive:
            raise ValueError(f"{estimator_name} requires sensitive_features; got None.")
    else:
        check_sensitive_features(sensitive_features, n_samples=n)
        S = sensitive_frame(sensitive_features, n)
    return X, y_arr, S
