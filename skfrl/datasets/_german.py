"""Loader for the UCI Statlog German Credit data set, bundled with skfrl."""

from __future__ import annotations

from functools import cache
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ..utils._sklearn_compat import ordered_options, validate_params
from ._base import (
    _categorize,
    _make_bunch,
    _read_bundled_csv,
)

__all__ = ["load_german"]

GERMAN_SENSITIVE = ("sex", "age")

_NUMERIC = [
    "duration",
    "credit_amount",
    "installment_rate",
    "residence_since",
    "age",
    "existing_credits",
    "num_dependents",
]


@cache
def _german_frame() -> pd.DataFrame:
    frame = _read_bundled_csv("german.csv.gz").copy()
    frame[_NUMERIC] = frame[_NUMERIC].astype("int64")
    categorical = [c for c in frame.columns if c not in _NUMERIC and c != "credit"]
    categories = {col: sorted(frame[col].unique()) for col in categorical}
    return _categorize(frame, categories)


@validate_params(
    {
        "sensitive": [ordered_options(GERMAN_SENSITIVE)],
        "return_X_y_s": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_german(
    *,
    sensitive: Literal["sex", "age"] = "sex",
    return_X_y_s: bool = False,
) -> Bunch | tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Load the UCI Statlog German Credit data set with a sensitive attribute.

    The task is to predict whether a loan applicant is a good or a bad credit
    risk. The 1,000 rows ship with skfrl, with the ``A..`` codes of the UCI
    file decoded into readable categories (see
    ``skfrl/datasets/_build_bundled.py``).

    Preprocessing:

    - target ``y`` is 1 for a good credit risk (UCI label 1) and 0 for a bad
      one (UCI label 2); 700 rows are good;
    - ``sensitive="sex"``: ``s`` is ``"Female"``/``"Male"``, read from the
      personal-status column (UCI codes A92 and A95 are female; A95 does not
      occur in the data). That column, ``personal_status_sex``, is dropped
      from ``X`` altogether: its marital-status part is coded differently for
      women (``"divorced/separated/married"``) and men, so keeping any part
      of it would give sex away;
    - ``sensitive="age"``: ``s`` is ``"<=25"``/``">25"`` (age in years above
      25, the usual split for this data set) and ``age`` is dropped from
      ``X``; ``personal_status_sex`` stays in ``X``.

    ``X`` has 19 columns; the numeric ones (``duration``, ``credit_amount``,
    ``installment_rate``, ``residence_since``, ``age``, ``existing_credits``,
    ``num_dependents``) are int64, the others have a ``category`` dtype
    (``telephone`` and ``foreign_worker`` with values ``"no"``/``"yes"``).

    .. versionadded:: 0.1

    Parameters
    ----------
    sensitive : {"sex", "age"}, default="sex"
        Which attribute is the sensitive attribute ``s``.
    return_X_y_s : bool, default=False
        If True, return ``(X, y, s)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With attributes ``data`` (DataFrame ``X``), ``target`` (int64 Series
        ``y``, named ``"credit"``), ``sensitive`` (categorical Series ``s``,
        named after the attribute), ``frame`` (``X``, ``y`` and ``s`` side by
        side), ``feature_names``, ``target_names`` (``["bad", "good"]``),
        ``sensitive_name`` and ``DESCR``.
    (X, y, s) : tuple of DataFrame, Series, Series
        When ``return_X_y_s=True``.

    Raises
    ------
    ValueError
        If ``sensitive`` is not one of the allowed values.

    Notes
    -----
    Hofmann, H. (1994). Statlog (German Credit Data) [Dataset]. UCI Machine
    Learning Repository,
    https://archive.ics.uci.edu/dataset/144/statlog+german+credit+data,
    licensed under CC BY 4.0.

    Examples
    --------
    >>> from skfrl.datasets import load_german
    >>> bunch = load_german(sensitive="age")
    >>> bunch.data.shape
    (1000, 19)
    >>> bunch.sensitive.value_counts().to_dict()
    {'>25': 810, '<=25': 190}
    >>> bunch.target_names
    ['bad', 'good']
    >>> int(bunch.target.sum())
    700
    """
    frame = _german_frame()
    y = (frame["credit"] == "good").astype("int64")
    if sensitive == "sex":
        is_female = frame["personal_status_sex"].str.startswith("female")
        s = pd.Series(
            np.where(is_female, "Female", "Male"),
            dtype=pd.CategoricalDtype(["Female", "Male"]),
        )
        X = frame.drop(columns=["credit", "personal_status_sex"])
    else:
        s = pd.Series(
            np.where(frame["age"] > 25, ">25", "<=25"),
            dtype=pd.CategoricalDtype(["<=25", ">25"]),
        )
        X = frame.drop(columns=["credit", "age"])
    return _make_bunch(
        X,
        y,
        s.rename(sensitive),
        target_names=["bad", "good"],
        descr_name="german",
        return_X_y_s=return_X_y_s,
    )
