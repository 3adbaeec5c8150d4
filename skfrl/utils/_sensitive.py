"""Validation of sensitive features, shared by models, metrics and attacks."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from ._sklearn_compat import Interval, ordered_options, validate_params

__all__ = ["SensitiveAttribute", "SensitiveEncoder", "check_sensitive_features"]

#: A float column with more distinct values than this is treated as continuous
#: when the kind is inferred.
MAX_CATEGORIES_AUTO = 10


@dataclass(frozen=True)
class SensitiveAttribute:
    """Description of one validated sensitive attribute.

    .. versionadded:: 0.1

    Parameters
    ----------
    name : str
        Column name (``"s0"``, ``"s1"``, ... for unnamed input).
    kind : {"categorical", "continuous"}
        How the attribute is modelled.
    classes : ndarray or None
        Sorted group labels of a categorical attribute, ``None`` for a
        continuous one. Encoded values index into this array.

    Examples
    --------
    >>> from skfrl.utils import check_sensitive_features
    >>> _, attrs = check_sensitive_features(["a", "b", "a"])
    >>> attrs[0].kind, list(attrs[0].classes)
    ('categorical', ['a', 'b'])
    """

    name: str
    kind: Literal["categorical", "continuous"]
    classes: np.ndarray | None = None

    @property
    def n_classes(self) -> int:
        """Number of groups (0 for a continuous attribute)."""
        return 0 if self.classes is None else len(self.classes)


def _frame(sensitive_features, input_name: str) -> pd.DataFrame:
    """One column per attribute, a fresh RangeIndex, the caller's column names.

    Row positions, not index labels, define alignment with ``X``.
    """
    if isinstance(sensitive_features, pd.DataFrame):
        return sensitive_features.reset_index(drop=True)
    if isinstance(sensitive_features, pd.Series):
        return sensitive_features.reset_index(drop=True).to_frame()
    if isinstance(sensitive_features, str | bytes) or np.isscalar(sensitive_features):
        raise TypeError(
            f"{input_name} must be array-like of shape (n_samples,) or "
            f"(n_samples, n_attributes), got a scalar {sensitive_features!r}."
        )
    try:
        arr = np.asarray(sensitive_features)
    except Exception as exc:  # pragma: no cover - exotic containers
        raise TypeError(
            f"{input_name} must be array-like, got {type(sensitive_features).__name__}."
        ) from exc
    if arr.ndim not in (1, 2):
        raise ValueError(
            f"{input_name} must be 1-D or 2-D, got an array with shape {arr.shape}."
        )
    return pd.DataFrame(arr.reshape(len(arr), -1))


def _as_frame(sensitive_features, input_name: str) -> pd.DataFrame:
    """:func:`_frame` with attributes named by strings (``s0``, ``s1``... unnamed)."""
    frame = _frame(sensitive_features, input_name)
    if isinstance(sensitive_features, pd.DataFrame):
        names = [str(c) for c in frame.columns]
    elif isinstance(sensitive_features, pd.Series):
        name = sensitive_features.name
        names = ["s0" if name is None else str(name)]
    else:
        names = [f"s{j}" for j in range(frame.shape[1])]
    return frame.set_axis(names, axis=1)


def _infer_kind(col: pd.Series) -> str:
    if isinstance(col.dtype, pd.CategoricalDtype) or not (
        pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
    ):
        return "categorical"
    if pd.api.types.is_float_dtype(col) and col.nunique() > MAX_CATEGORIES_AUTO:
        return "continuous"
    return "categorical"


# The data are not declared: their messages name ``input_name``, the
# caller's name for them.
@validate_params(
    {
        "n_samples": [Interval(numbers.Integral, 0, None, closed="left"), None],
        "kinds": [
            ordered_options(["categorical", "continuous"]),
            "array-like",
            Mapping,
            None,
        ],
        "allow_continuous": ["boolean"],
        "input_name": [str],
    },
    prefer_skip_nested_validation=True,
)
def check_sensitive_features(
    sensitive_features,
    *,
    n_samples: int | None = None,
    kinds=None,
    allow_continuous: bool = True,
    input_name: str = "sensitive_features",
) -> tuple[list[np.ndarray], list[SensitiveAttribute]]:
    """Validate and encode sensitive features.

    .. versionadded:: 0.1

    Parameters
    ----------
    sensitive_features : array-like of shape (n_samples,) or (n_samples, n_attributes)
        One attribute (1-D array, list or Series) or several (2-D array or
        DataFrame). Never modified.
    n_samples : int, default=None
        Expected number of rows; a mismatch raises ``ValueError``.
    kinds : str, list of str, dict or None, default=None
        ``"categorical"`` or ``"continuous"`` for every attribute, a list with
        one entry per attribute, or a dict keyed by column name. ``None``
        infers: a float column with more than 10 distinct values is
        continuous, anything else categorical.
    allow_continuous : bool, default=True
        Whether continuous attributes are accepted; if not, a continuous
        attribute raises ``ValueError``.
    input_name : str, default="sensitive_features"
        Name used in error messages.

    Returns
    -------
    values : list of ndarray
        Per attribute, int64 group codes (indices into ``classes``) for a
        categorical attribute, float64 values for a continuous one.
    attributes : list of SensitiveAttribute
        Per attribute, its name, kind and classes.

    Raises
    ------
    ValueError
        On length mismatch, NaN values, a categorical attribute with a single
        group, or a continuous attribute where none is allowed.

    Examples
    --------
    >>> import numpy as np
    >>> from skfrl.utils import check_sensitive_features
    >>> values, attrs = check_sensitive_features(np.array(["m", "f", "f", "m"]))
    >>> values[0]
    array([1, 0, 0, 1])
    >>> attrs[0].name, attrs[0].kind
    ('s0', 'categorical')
    """
    if sensitive_features is None:
        raise ValueError(f"{input_name} is required, got None.")
    frame = _as_frame(sensitive_features, input_name)
    if frame.shape[1] == 0:
        raise ValueError(f"{input_name} has no columns.")
    if n_samples is not None and len(frame) != n_samples:
        raise ValueError(
            f"{input_name} has {len(frame)} rows but X has {n_samples} samples; "
            "they must have the same length."
        )
    if len(frame) == 0:
        raise ValueError(f"{input_name} is empty.")
    names = list(frame.columns)
    if kinds is None or isinstance(kinds, str):
        kinds_list = [kinds] * len(names)
    elif isinstance(kinds, dict):
        unknown = set(kinds) - set(names)
        if unknown:
            raise ValueError(
                f"kinds names unknown sensitive attributes {sorted(unknown)}; "
                f"the attributes are {names}."
            )
        kinds_list = [kinds.get(name) for name in names]
    else:
        kinds_list = list(kinds)
        if len(kinds_list) != len(names):
            raise ValueError(
                f"kinds has {len(kinds_list)} entries but {input_name} has "
                f"{len(names)} attributes."
            )
    values, attributes = [], []
    for name, kind in zip(names, kinds_list, strict=True):
        col = frame[name]
        if col.isna().any():
            raise ValueError(
                f"{input_name} column {name!r} contains NaN or missing values; "
                "impute or drop those rows first."
            )
        if kind is None:
            kind = _infer_kind(col)
        # Entries of a list or dict of kinds: no constraint sees them.
        if kind not in ("categorical", "continuous"):
            raise ValueError(
                f"kinds must be 'categorical' or 'continuous', got {kind!r} for "
                f"attribute {name!r}."
            )
        if kind == "continuous":
            if not allow_continuous:
                raise ValueError(
                    f"{input_name} column {name!r} is continuous, but this "
                    "method supports categorical sensitive attributes only; "
                    "bin it first (e.g. age > 25)."
                )
            try:
                arr = col.to_numpy(dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    f"{input_name} column {name!r} was declared continuous but "
                    "is not numeric."
                ) from exc
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{input_name} column {name!r} contains inf.")
            if np.ptp(arr) == 0:
                raise ValueError(
                    f"{input_name} column {name!r} is constant; a sensitive "
                    "attribute needs variation."
                )
            values.append(arr)
            attributes.append(SensitiveAttribute(str(name), "continuous", None))
            continue
        codes, classes = pd.factorize(col, sort=True)
        classes = np.asarray(classes)
        if len(classes) < 2:
            raise ValueError(
                f"{input_name} column {name!r} has a single group "
                f"({classes[0]!r}); at least two groups are needed."
            )
        values.append(codes.astype(np.int64))
        attributes.append(SensitiveAttribute(str(name), "categorical", classes))
    return values, attributes


class SensitiveEncoder:
    """Encode sensitive features as a model trained on them: fitted once, stored.

    ``fit`` validates the attributes (:func:`check_sensitive_features`) and
    keeps what their encoding needs: the groups of each categorical
    attribute, the mean and scale of each continuous one. ``transform``
    encodes new rows the same way and refuses groups the fit never saw, so
    a model and everything that looks into its training (attacks, the
    gradient sanitiser) read the attributes identically.

    .. versionadded:: 0.1

    Parameters
    ----------
    kinds : str, list, dict or None, default=None
        As in :func:`check_sensitive_features`.
    allow_continuous : bool, default=True
        Whether continuous attributes are accepted.

    Attributes
    ----------
    attributes_ : list of SensitiveAttribute
        Per attribute, its name, kind and groups.
    class_counts_ : list of ndarray
        Per categorical attribute, the rows of each group in the fitted data.
    mean_, scale_ : ndarray of shape (n_continuous,) or None
        Standardisation of the continuous attributes.

    Examples
    --------
    >>> from skfrl.utils import SensitiveEncoder
    >>> enc = SensitiveEncoder().fit(["f", "m", "m"])
    >>> enc.transform(["m", "f"])["s_cat"].ravel().tolist()
    [1, 0]
    """

    def __init__(self, kinds=None, allow_continuous: bool = True):
        self.kinds = kinds
        self.allow_continuous = allow_continuous

    def _encode(self, values, attributes) -> dict:
        cat = [
            v
            for v, a in zip(values, attributes, strict=True)
            if a.kind == "categorical"
        ]
        cont = [
            v for v, a in zip(values, attributes, strict=True) if a.kind == "continuous"
        ]
        out = {}
        if cat:
            out["s_cat"] = np.column_stack(cat).astype(np.int64)
        if cont:
            out["s_cont"] = ((np.column_stack(cont) - self.mean_) / self.scale_).astype(
                np.float32
            )
        return out

    def _fit(self, sensitive_features, n_samples: int | None) -> list[np.ndarray]:
        """Learn the encoding; return the validated values of the fitted rows."""
        values, attrs = check_sensitive_features(
            sensitive_features,
            n_samples=n_samples,
            kinds=self.kinds,
            allow_continuous=self.allow_continuous,
        )
        self.attributes_ = attrs
        self.class_counts_ = [
            np.bincount(v, minlength=a.n_classes)
            for v, a in zip(values, attrs, strict=True)
            if a.kind == "categorical"
        ]
        cont = [v for v, a in zip(values, attrs, strict=True) if a.kind == "continuous"]
        if cont:
            arr = np.column_stack(cont)
            self.mean_, self.scale_ = arr.mean(axis=0), arr.std(axis=0)
        else:
            self.mean_ = self.scale_ = None
        return values

    def fit(self, sensitive_features, *, n_samples: int | None = None):
        """Validate ``sensitive_features`` and learn their encoding.

        Parameters
        ----------
        sensitive_features : array-like of shape (n_samples,) or \
(n_samples, n_attributes)
            One attribute or several (a DataFrame names them).
        n_samples : int or None, default=None
            Expected number of rows; a mismatch raises ``ValueError``.

        Returns
        -------
        self : SensitiveEncoder
            The fitted encoder.
        """
        self._fit(sensitive_features, n_samples)
        return self

    def fit_transform(self, sensitive_features, *, n_samples: int | None = None):
        """``fit``, then the encoding of the same rows.

        Parameters
        ----------
        sensitive_features : array-like of shape (n_samples,) or \
(n_samples, n_attributes)
            One attribute or several (a DataFrame names them).
        n_samples : int or None, default=None
            Expected number of rows; a mismatch raises ``ValueError``.

        Returns
        -------
        dict
            As :meth:`transform` returns it.
        """
        values = self._fit(sensitive_features, n_samples)
        return self._encode(values, self.attributes_)

    def transform(self, sensitive_features, *, input_name="sensitive_features"):
        """Encode rows as the fitted data was encoded.

        Parameters
        ----------
        sensitive_features : array-like of shape (n_samples,) or \
(n_samples, n_attributes)
            The attributes of the fit, in the same order.
        input_name : str, default="sensitive_features"
            Name used in error messages.

        Returns
        -------
        dict
            ``"s_cat"`` (int64 group codes, one column per categorical
            attribute) and/or ``"s_cont"`` (standardised float32 values).

        Raises
        ------
        ValueError
            A different number of attributes, or a group the fit never saw.
        """
        frame = _as_frame(sensitive_features, input_name)
        if frame.shape[1] != len(self.attributes_):
            raise ValueError(
                f"{input_name} has {frame.shape[1]} attribute(s); the encoder was "
                f"fitted on {len(self.attributes_)}."
            )
        values = [
            self._codes(frame.iloc[:, j].to_numpy(), attr, input_name)
            for j, attr in enumerate(self.attributes_)
        ]
        return self._encode(values, self.attributes_)

    @staticmethod
    def _codes(values: np.ndarray, attr: SensitiveAttribute, input_name: str):
        if attr.kind != "categorical":
            return values.astype(np.float64)
        unknown = ~np.isin(values, attr.classes)
        if unknown.any():
            raise ValueError(
                f"{input_name} holds groups the model never saw in attribute "
                f"{attr.name!r}: {pd.unique(values[unknown])[:5].tolist()}."
            )
        return np.searchsorted(attr.classes, values).astype(np.int64)

    def group_codes(self, values, attribute: int = 0, *, input_name: str = "s"):
        """Group codes of one categorical attribute, as the fit encoded it.

        Parameters
        ----------
        values : array-like of shape (n_samples,)
            Values of the attribute.
        attribute : int, default=0
            Position of the attribute among those of the fit.
        input_name : str, default="s"
            Name used in error messages.

        Returns
        -------
        ndarray of int64 of shape (n_samples,)
            Indices into the attribute's sorted groups.

        Raises
        ------
        ValueError
            ``values`` not 1-D, the attribute not categorical, or a group the
            fit never saw.
        """
        attrs = self.attributes_
        if not 0 <= attribute < len(attrs) or attrs[attribute].kind != "categorical":
            raise ValueError(
                f"attribute={attribute} is not a categorical sensitive attribute "
                f"of the model (it was fitted with {len(attrs)} attribute(s))."
            )
        values = np.asarray(values)
        if values.ndim != 1:
            raise ValueError(f"{input_name} must be 1-D, got shape {values.shape}.")
        return self._codes(values, attrs[attribute], input_name)
