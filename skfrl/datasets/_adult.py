"""Loader for the UCI Adult (Census Income) data set, bundled with skfrl."""

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

__all__ = ["load_adult"]

ADULT_SENSITIVE = ("sex", "race")
ADULT_SUBSETS = ("all", "train", "test")

_NUMERIC = ["age", "capital-gain", "capital-loss", "hours-per-week"]
_CATEGORICAL = [
    "workclass",
    "education",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "native-country",
]


@cache
def _adult_complete_cases() -> pd.DataFrame:
    raw = _read_bundled_csv("adult.csv.gz")
    frame = raw.dropna().drop(columns="education-num")
    frame[_NUMERIC] = frame[_NUMERIC].astype("int64")
    # Categories come from all complete rows, so that the train and test
    # subsets share one dtype; values only seen in rows with missing data
    # (workclass "Never-worked") would otherwise give empty one-hot columns.
    categories = {col: sorted(frame[col].unique()) for col in _CATEGORICAL}
    return _categorize(frame, categories).reset_index(drop=True)


@validate_params(
    {
        "sensitive": [ordered_options(ADULT_SENSITIVE)],
        "subset": [ordered_options(ADULT_SUBSETS)],
        "return_X_y_s": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_adult(
    *,
    sensitive: Literal["sex", "race"] = "sex",
    subset: Literal["all", "train", "test"] = "all",
    return_X_y_s: bool = False,
) -> Bunch | tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Load the UCI Adult (Census Income) data set with a sensitive attribute.

    The task is to predict whether a person earns more than 50K USD a year
    from 1994 US census data. The data ship with skfrl (see
    ``skfrl/datasets/_build_bundled.py`` for how the bundled file is made
    from the raw UCI files).

    Preprocessing:

    - rows with a missing value (``?`` in ``workclass``, ``occupation`` or
      ``native-country``) are dropped: 45,222 rows remain (30,162 of the
      original training part, 15,060 of the test part), out of 48,842;
    - ``fnlwgt`` (a census sampling weight, not an attribute of the person)
      and ``education-num`` (a one-to-one numeric code of ``education``) are
      dropped;
    - target ``y`` is 1 for income ``>50K`` and 0 for ``<=50K``;
    - the sensitive attribute is removed from ``X`` and returned as ``s``:
      ``"sex"`` gives ``"Female"``/``"Male"``; ``"race"`` gives
      ``"Non-White"``/``"White"`` (the four non-white UCI categories are
      merged, as is usual in the fair representation learning literature).
      The other attribute stays in ``X``. Note that ``relationship``
      (``"Husband"``/``"Wife"``) remains in ``X`` and is a strong proxy for
      sex.

    ``X`` has 11 columns (12 minus the sensitive one): ``age``,
    ``capital-gain``, ``capital-loss`` and ``hours-per-week`` are int64, the
    others have a ``category`` dtype whose categories are the same for every
    subset.

    .. versionadded:: 0.1

    Parameters
    ----------
    sensitive : {"sex", "race"}, default="sex"
        Which attribute is the sensitive attribute ``s``.
    subset : {"all", "train", "test"}, default="all"
        Which part of the original UCI train/test split to return.
    return_X_y_s : bool, default=False
        If True, return ``(X, y, s)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With attributes ``data`` (DataFrame ``X``), ``target`` (int64 Series
        ``y``, named ``"income"``), ``sensitive`` (categorical Series ``s``,
        named after the attribute), ``frame`` (``X``, ``y`` and ``s`` side by
        side), ``feature_names``, ``target_names`` (``["<=50K", ">50K"]``),
        ``sensitive_name`` and ``DESCR``.
    (X, y, s) : tuple of DataFrame, Series, Series
        When ``return_X_y_s=True``.

    Raises
    ------
    ValueError
        If ``sensitive`` or ``subset`` is not one of the allowed values.

    Notes
    -----
    Becker, B. and Kohavi, R. (1996). Adult [Dataset]. UCI Machine Learning
    Repository, https://archive.ics.uci.edu/dataset/2/adult, licensed under
    CC BY 4.0. First used in R. Kohavi, "Scaling Up the Accuracy of
    Naive-Bayes Classifiers: a Decision-Tree Hybrid", KDD 1996.

    Examples
    --------
    >>> from skfrl.datasets import load_adult
    >>> X, y, s = load_adult(sensitive="sex", subset="train", return_X_y_s=True)
    >>> X.shape
    (30162, 11)
    >>> "sex" in X.columns
    False
    >>> s.value_counts().to_dict()
    {'Male': 20380, 'Female': 9782}
    >>> round(float(y.mean()), 3)
    0.249
    """
    frame = _adult_complete_cases()
    if subset != "all":
        frame = frame[frame["split"] == subset]
    y = (frame["income"] == ">50K").astype("int64").rename("income")
    if sensitive == "sex":
        s = frame["sex"].astype(pd.CategoricalDtype(["Female", "Male"]))
    else:
        is_white = frame["race"] == "White"
        s = pd.Series(
            np.where(is_white, "White", "Non-White"),
            index=frame.index,
            dtype=pd.CategoricalDtype(["Non-White", "White"]),
        )
    X = frame.drop(columns=["income", "split", sensitive])
    return _make_bunch(
        X,
        y,
        s.rename(sensitive),
        target_names=["<=50K", ">50K"],
        descr_name="adult",
        return_X_y_s=return_X_y_s,
    )
