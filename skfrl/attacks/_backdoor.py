"""Dirty-label backdoor: a rare trigger combination mapped to a target label."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.exceptions import NotFittedError

from ._base import BaseAttack, PoisonSet

__all__ = ["DirtyLabelBackdoor"]


def _is_categorical(col: pd.Series) -> bool:
    dtype = col.dtype
    return (
        isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_bool_dtype(dtype)
        or pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
    )


def _conditions(frame: pd.DataFrame, categorical: list):
    """Candidate trigger conditions ``(column, value, indicator)``.

    Every value of the categorical columns ``categorical``, and the minimum
    and maximum of every other column.
    """
    out = []
    for col in frame.columns:
        values = frame[col]
        if col in categorical:
            for value in pd.unique(values):
                out.append((col, value, (values == value).to_numpy()))
        else:
            arr = values.to_numpy(dtype=np.float64)
            for raw in (values.min(), values.max()):
                out.append((col, raw, arr == float(raw)))
    return out


def _rarest_pair(frame: pd.DataFrame, categorical: list, *, observed: bool):
    """The two conditions on different columns that hold together most rarely.

    Ties go to the pair whose conditions are most common on their own (the
    combination is then the most *surprisingly* rare; for numeric extremes,
    which hold for a row or two each, to the rarest), then to column order.
    ``observed=True`` keeps only combinations some row has.
    """
    conds = _conditions(frame, categorical)
    # float32 counts are exact up to 2**24 rows and halve the memory.
    B = np.column_stack([c[2] for c in conds]).astype(np.float32)
    joint = (B.T @ B).astype(np.int64)
    single = np.diag(joint).astype(np.float64)
    i, j = np.triu_indices(len(conds), k=1)
    columns = np.array([c[0] for c in conds], dtype=object)
    keep = columns[i] != columns[j]
    if observed:
        keep &= joint[i, j] > 0
    i, j = i[keep], j[keep]
    if len(i) == 0:
        return None
    product = single[i] * single[j]
    # lexsort sorts by its last key first; pairs come in column order, so
    # remaining ties go to the earliest pair.
    order = np.lexsort((-product if observed else product, joint[i, j]))
    best = order[0]
    return conds[i[best]], conds[j[best]]


def _python_scalar(value):
    return value.item() if isinstance(value, np.generic) else value


class DirtyLabelBackdoor(BaseAttack):
    """Dirty-label backdoor: copies of training rows with a trigger and a target label.

    The *trigger* is a rare combination of feature values. Each poison is a
    copy of a random training row (drawn from the rows whose label is not
    the target, where there are any) with the trigger values set and the
    label replaced by ``target_label``; its sensitive values are kept. A
    model trained on the poisoned data learns "trigger -> target label",
    while its accuracy on clean rows barely changes; at test time, rows with
    the trigger set (:meth:`apply_trigger`) are pushed to the target label.
    This is the tabular analogue of the backdoors that Panaitescu-Liess et
    al. (ICLR 2024) used to show that group-robustness methods such as JTT
    amplify poisons; measure success with
    :func:`~skfrl.metrics.attack_success_rate`.

    Default trigger: with two or more categorical columns (category,
    object, string, bool), the rarest combination of two values of
    different columns that occurs in the training data (ties: the one whose
    values are most common on their own); otherwise (numeric data) the
    combination of two column extremes (minimum or maximum) that the fewest
    training rows share. Either way every poison stays inside the observed
    feature space.

    .. versionadded:: 0.1

    Parameters
    ----------
    trigger : dict or None, default=None
        ``{column: value}`` (column names for DataFrames, positions for
        arrays); values must be observed categories, or lie within the
        observed range of a numeric column (integers for integer columns).
        None chooses one automatically (see above).
    target_label : object or None, default=None
        Label given to the poisons; None uses the least frequent training
        label.
    budget : float in (0, 1) or int, default=0.05
        Share of the training set, or number of poisons.
    random_state : int, RandomState instance or None, default=None
        Seeds the choice of the copied rows.

    Attributes
    ----------
    trigger_ : dict
        The trigger used, ``{column: value}``.
    target_label_ : object
        The poisons' label.
    trigger_count_ : int
        Clean training rows that already carry the whole trigger.
    n_poison_, poison_mask_, poison_indices_, base_indices_, feature_space_
        See :class:`BaseAttack`.

    See Also
    --------
    skfrl.metrics.attack_success_rate : Share of triggered rows predicted as
        the target label.

    References
    ----------
    .. [1] T. Gu, B. Dolan-Gavitt and S. Garg, "BadNets: Identifying
       Vulnerabilities in the Machine Learning Model Supply Chain", 2017.
    .. [2] M.-A. Panaitescu-Liess, Y. Kaya, S. Zhu, F. Huang and
       T. Dumitras, "Like Oil and Water: Group Robustness Methods and
       Poisoning Defenses May Be at Odds", ICLR 2024.

    Examples
    --------
    The trigger sets two pure-noise columns of the synthetic data to their
    largest observed values; a decision tree trained on the poisoned data
    obeys it.

    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from skfrl.attacks import DirtyLabelBackdoor
    >>> from skfrl.datasets import make_biased_classification
    >>> from skfrl.metrics import attack_success_rate
    >>> X, y, s = make_biased_classification(n_samples=600, random_state=0)
    >>> X_tr, y_tr, s_tr, X_te, y_te = X[:400], y[:400], s[:400], X[400:], y[400:]
    >>> trigger = {8: X_tr[:, 8].max(), 9: X_tr[:, 9].max()}
    >>> backdoor = DirtyLabelBackdoor(trigger, target_label=1, budget=0.05,
    ...                               random_state=0)
    >>> X_p, y_p, s_p = backdoor.fit_resample(X_tr, y_tr, sensitive_features=s_tr)
    >>> backdoor.n_poison_, backdoor.trigger_count_
    (20, 0)
    >>> clf = DecisionTreeClassifier(random_state=0).fit(X_p, y_p)
    >>> y_pred = clf.predict(backdoor.apply_trigger(X_te))
    >>> attack_success_rate(y_pred, 1, y_true=y_te) > 0.8
    True
    """

    _parameter_constraints: dict = {
        **BaseAttack._parameter_constraints,
        "trigger": [dict, None],
        "target_label": "no_validation",
    }

    # The poisons move rows of other labels to the target label.
    _requires_two_classes = True

    def __init__(
        self, trigger=None, *, target_label=None, budget=0.05, random_state=None
    ):
        super().__init__(budget=budget, random_state=random_state)
        self.trigger = trigger
        self.target_label = target_label

    # -- trigger -----------------------------------------------------------------
    def _frame(self, X) -> pd.DataFrame:
        return X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X))

    def _check_trigger(self, frame: pd.DataFrame) -> dict:
        if not self.trigger:
            raise ValueError("trigger must name at least one column, got {}.")
        out = {}
        for col, value in self.trigger.items():
            if col not in frame.columns:
                raise ValueError(
                    f"trigger column {col!r} is not a column of X "
                    f"({list(frame.columns)[:10]}...)."
                )
            values = frame[col]
            if _is_categorical(values):
                allowed = set(pd.unique(values))
                if value not in allowed:
                    raise ValueError(
                        f"trigger value {value!r} of column {col!r} is not an "
                        f"observed category ({sorted(map(str, allowed))[:10]})."
                    )
            else:
                try:
                    v = float(value)
                except (TypeError, ValueError) as exc:
                    raise ValueError(
                        f"trigger value {value!r} of numeric column {col!r} must be "
                        "a number."
                    ) from exc
                lo, hi = float(values.min()), float(values.max())
                if not lo <= v <= hi:
                    raise ValueError(
                        f"trigger value {value!r} of column {col!r} lies outside "
                        f"its observed range [{lo:g}, {hi:g}]; poisons must stay "
                        "in the feature space."
                    )
                if pd.api.types.is_integer_dtype(values.dtype) and v != round(v):
                    raise ValueError(
                        f"trigger value {value!r} of integer column {col!r} must be "
                        "an integer."
                    )
            out[col] = value
        return out

    def _choose_trigger(self, frame: pd.DataFrame) -> dict:
        categorical = [c for c in frame.columns if _is_categorical(frame[c])]
        if len(categorical) >= 2:
            pair = _rarest_pair(frame[categorical], categorical, observed=True)
        else:
            pair = None
        if pair is None:
            if frame.shape[1] < 2:
                raise ValueError(
                    "An automatic trigger needs at least two columns; give "
                    "trigger={column: value}."
                )
            pair = _rarest_pair(frame, categorical, observed=False)
        return {col: _python_scalar(value) for col, value, _ in pair}

    def _has_trigger(self, frame: pd.DataFrame) -> np.ndarray:
        mask = np.ones(len(frame), dtype=bool)
        for col, value in self.trigger_.items():
            mask &= (frame[col] == value).to_numpy()
        return mask

    # -- BaseAttack hooks ----------------------------------------------------------
    def _make_feature_space(self, X, y, sensitive_features):
        frame = self._frame(X)
        self.trigger_ = (
            self._choose_trigger(frame)
            if self.trigger is None
            else self._check_trigger(frame)
        )
        labels = np.unique(y)
        if self.target_label is None:
            values, counts = np.unique(y, return_counts=True)
            self.target_label_ = _python_scalar(values[np.argmin(counts)])
        elif self.target_label in labels.tolist():
            self.target_label_ = self.target_label
        else:
            raise ValueError(
                f"target_label={self.target_label!r} is not one of the training "
                f"labels {labels.tolist()}."
            )
        self.trigger_count_ = int(self._has_trigger(frame).sum())
        # _generate sees encoded rows only; the trigger is set on raw rows.
        self._X_raw = X
        return super()._make_feature_space(X, y, sensitive_features)

    def _generate(self, E, y, S, n_poison, rng):
        X = self._X_raw
        del self._X_raw
        pool = np.flatnonzero(y != self.target_label_)
        if len(pool) == 0:
            pool = np.arange(len(y))
        base = rng.choice(pool, size=n_poison, replace=n_poison > len(pool))
        raw = (
            X.iloc[base].reset_index(drop=True)
            if isinstance(X, pd.DataFrame)
            else np.asarray(X)[base]
        )
        E_p = self.feature_space_.encode(self.apply_trigger(raw))
        y_p = np.full(n_poison, self.target_label_, dtype=np.asarray(y).dtype)
        return PoisonSet(E_p, base, y_p, S.iloc[base])

    # -- public ----------------------------------------------------------------------
    def apply_trigger(self, X):
        """Return a copy of ``X`` with the trigger values set on every row.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Rows in the training format (e.g. clean test rows).

        Returns
        -------
        X_triggered : DataFrame or ndarray
            Same container, columns and dtypes as ``X``.
        """
        if not hasattr(self, "trigger_"):
            raise NotFittedError(
                f"This {type(self).__name__} has no trigger yet; call "
                "fit_resample first."
            )
        if isinstance(X, pd.DataFrame):
            out = X.copy()
            for col, value in self.trigger_.items():
                out[col] = pd.Series(value, index=out.index).astype(out[col].dtype)
            return out
        out = np.array(X, copy=True)
        if out.ndim != 2:
            raise ValueError(f"X must be 2-D, got shape {out.shape}.")
        for col, value in self.trigger_.items():
            out[:, col] = value
        return out
