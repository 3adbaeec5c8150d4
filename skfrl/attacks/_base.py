"""BaseAttack: the ``fit_resample`` template every poisoning attack follows."""

from __future__ import annotations

import numbers
import time
from abc import ABCMeta, abstractmethod

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state

from ..utils import check_X_y_s
from ..utils._sklearn_compat import Interval, check_params
from ._feature_space import FeatureSpace

__all__ = ["BaseAttack", "PoisonSet"]


class PoisonSet:
    """Poisons produced by an attack, in the encoded space.

    Parameters
    ----------
    E : ndarray of shape (n_poison, n_features_out)
        Encoded poison rows (snapped and decoded by the base class).
    base_indices : ndarray of int
        Training row each poison was derived from (supplies columns the
        victim ignores, and default labels).
    y : ndarray of shape (n_poison,)
        Poison labels, in the training labels' values.
    s : DataFrame of shape (n_poison, n_attributes)
        Poison sensitive values, in the training values.

    Notes
    -----
    What a new attack returns from ``_generate(E, y, S, n_poison, rng)``,
    the one method a :class:`BaseAttack` subclass implements; the base
    class validates the data before, and snaps, decodes and appends the
    poisons after.

    .. versionadded:: 0.1

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from skfrl.attacks import PoisonSet
    >>> p = PoisonSet(np.zeros((2, 3)), [0, 4], [1, 0], pd.DataFrame({"s": [0, 1]}))
    >>> p.E.shape, p.base_indices.tolist()
    ((2, 3), [0, 4])
    """

    def __init__(self, E, base_indices, y, s):
        self.E = np.asarray(E, dtype=np.float64)
        self.base_indices = np.asarray(base_indices, dtype=np.intp)
        self.y = np.asarray(y)
        self.s = s


class _NoBoolInterval(Interval):
    """An :class:`Interval` that refuses booleans.

    ``True`` is an ``numbers.Integral`` equal to 1, which a plain
    ``Interval(numbers.Integral, 1, None)`` accepts; for ``budget`` it would
    silently mean one poison (or, before, 100 % of the training set).
    """

    def is_satisfied_by(self, val):
        return not isinstance(val, bool | np.bool_) and super().is_satisfied_by(val)

    def __str__(self):
        return f"{super().__str__()} (not a bool)"


def _concat_like(original, extra_values, *, n_poison: int):
    """Append rows to ``original`` keeping its container, dtypes and index."""
    if isinstance(original, pd.DataFrame | pd.Series):
        index = original.index
        if pd.api.types.is_integer_dtype(index) and len(index):
            new_index = pd.RangeIndex(index.max() + 1, index.max() + 1 + n_poison)
        else:
            new_index = pd.Index([f"poison_{i}" for i in range(n_poison)])
        if isinstance(original, pd.Series):
            extra = pd.Series(
                np.asarray(extra_values), index=new_index, name=original.name
            ).astype(original.dtype)
        else:
            extra = extra_values.set_axis(new_index, axis=0)
            extra = extra.astype(original.dtypes.to_dict())
        return pd.concat([original, extra], axis=0)
    original = np.asarray(original)
    extra = np.asarray(extra_values, dtype=original.dtype).reshape(
        (n_poison, *original.shape[1:])
    )
    return np.concatenate([original, extra], axis=0)


class BaseAttack(BaseEstimator, metaclass=ABCMeta):
    """Base class of poisoning attacks (template method ``fit_resample``).

    ``fit_resample(X, y, *, sensitive_features)`` validates the data, fits a
    :class:`FeatureSpace`, asks the subclass for poisons through
    ``_generate(E, y, S, n_poison, random_state)`` (encoded training rows,
    labels, sensitive values as a DataFrame) and returns the augmented
    ``(X, y, s)`` in the caller's container types: the first ``n_samples``
    rows are the caller's rows, unchanged; the appended rows are the
    poisons, decoded into valid raw records.

    Subclasses may override ``_make_feature_space(X, y, sensitive_features)``
    (e.g. to fit the victim and read its preprocessing).

    .. versionadded:: 0.1

    Parameters
    ----------
    budget : float in (0, 1) or int >= 1
        Share of the training set (rounded, at least one poison) or number
        of poisons; booleans are refused.
    random_state : int, RandomState instance or None
        Seed.

    Attributes
    ----------
    n_poison_ : int
        Number of poisons appended.
    poison_mask_ : ndarray of bool of shape (n_samples + n_poison,)
        True for the appended rows.
    poison_indices_ : ndarray of int
        Positions of the poisons in the augmented data.
    base_indices_ : ndarray of int
        Training row each poison was derived from.
    feature_space_ : FeatureSpace
        The space poisons were crafted in.
    timings_ : dict of str to float
        Seconds per phase of the last ``fit_resample``: at least
        ``"decoding"`` and ``"total"``; attacks that train or match add
        their own phases.

    Examples
    --------
    >>> from skfrl.attacks import BaseAttack, RandomPoisoning
    >>> issubclass(RandomPoisoning, BaseAttack)
    True
    """

    _parameter_constraints: dict = {
        # Booleans are refused: budget=True used to mean 100 %.
        "budget": [
            Interval(numbers.Real, 0, 1, closed="neither"),
            _NoBoolInterval(numbers.Integral, 1, None, closed="left"),
        ],
        "random_state": ["random_state"],
    }

    #: Whether ``y`` must hold at least two classes (attacks that relabel).
    _requires_two_classes = False

    def __init__(self, *, budget=0.05, random_state=None):
        self.budget = budget
        self.random_state = random_state

    def _check_params(self) -> None:
        check_params(self)

    def _n_poison(self, n_samples: int) -> int:
        if isinstance(self.budget, numbers.Integral) and not isinstance(
            self.budget, bool
        ):
            if self.budget > n_samples:
                raise ValueError(
                    f"budget={self.budget} poisons exceeds the {n_samples} "
                    "training samples; use a fraction in (0, 1) or a smaller "
                    "count."
                )
            return int(self.budget)
        return max(1, int(round(self.budget * n_samples)))

    def _make_feature_space(self, X, y, sensitive_features) -> FeatureSpace:
        return FeatureSpace().fit(X)

    def _validate(self, X, y, sensitive_features):
        """``(X, y, S)`` checked before any work (see :func:`check_X_y_s`)."""
        name = type(self).__name__
        X, y_arr, S = check_X_y_s(
            X,
            y,
            sensitive_features,
            require_sensitive=True,
            min_classes=2 if self._requires_two_classes else 1,
            estimator_name=name,
        )
        return X, y_arr, S

    def fit_resample(self, X, y, *, sensitive_features):
        """Craft poisons and return the augmented training data.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Clean training rows (never modified).
        y : array-like of shape (n_samples,)
            Labels.
        sensitive_features : array-like of shape (n_samples,) or \
(n_samples, n_attributes)
            Protected attribute(s).

        Returns
        -------
        X_aug, y_aug, s_aug
            Clean rows followed by ``n_poison_`` poisons, in the containers of
            ``X``, ``y`` and ``sensitive_features``.
        """
        self._check_params()
        start = time.perf_counter()
        self.timings_ = {}
        X_checked, y_arr, S = self._validate(X, y, sensitive_features)
        n = len(X_checked)
        n_poison = self._n_poison(n)
        rng = check_random_state(self.random_state)
        self.feature_space_ = self._make_feature_space(
            X_checked, y_arr, sensitive_features
        )
        E = self.feature_space_.encode(X_checked)
        poisons = self._generate(E, y_arr, S, n_poison, rng)
        if len(poisons.E) != n_poison:  # pragma: no cover - subclass bug guard
            raise RuntimeError(
                f"{type(self).__name__} produced {len(poisons.E)} poisons, "
                f"expected {n_poison}."
            )
        base_rows = (
            X_checked.iloc[poisons.base_indices].reset_index(drop=True)
            if isinstance(X_checked, pd.DataFrame)
            else X_checked[poisons.base_indices]
        )
        tick = time.perf_counter()
        X_poison = self.feature_space_.decode(poisons.E, base=base_rows)
        self.poison_E_ = self.feature_space_.snap(poisons.E)
        self.timings_["decoding"] = time.perf_counter() - tick
        self.base_indices_ = poisons.base_indices
        self.n_poison_ = n_poison
        self.poison_mask_ = np.r_[np.zeros(n, bool), np.ones(n_poison, bool)]
        self.poison_indices_ = np.arange(n, n + n_poison)
        X_aug = _concat_like(
            X if isinstance(X, pd.DataFrame) else X_checked,
            X_poison,
            n_poison=n_poison,
        )
        y_aug = _concat_like(
            y if isinstance(y, pd.Series) else y_arr, poisons.y, n_poison=n_poison
        )
        if isinstance(sensitive_features, pd.DataFrame | pd.Series):
            s_poison = poisons.s
            if isinstance(sensitive_features, pd.Series):
                s_poison = s_poison.iloc[:, 0]
            else:
                s_poison = s_poison.set_axis(sensitive_features.columns, axis=1)
            s_aug = _concat_like(sensitive_features, s_poison, n_poison=n_poison)
        else:
            s_arr = np.asarray(sensitive_features)
            s_vals = poisons.s.to_numpy().reshape((n_poison, *s_arr.shape[1:]))
            s_aug = _concat_like(s_arr, s_vals, n_poison=n_poison)
        self.timings_["total"] = time.perf_counter() - start
        return X_aug, y_aug, s_aug

    @abstractmethod
    def _generate(self, E, y, S, n_poison, rng) -> PoisonSet:
        """Return ``n_poison`` poisons crafted from encoded training rows."""
