"""Loader for ProPublica's COMPAS two-year recidivism data, read from data_home."""

from __future__ import annotations

import os
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ..utils._sklearn_compat import ordered_options, validate_params
from ._base import (
    _categorize,
    _external_file,
    _make_bunch,
    _require_columns,
)

__all__ = ["load_compas"]

COMPAS_FILE = "compas-scores-two-years.csv"
COMPAS_SENSITIVE = ("race", "sex")

_COUNTS = ["juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count"]
_COLUMNS = [
    "sex",
    "age",
    "race",
    *_COUNTS,
    "c_charge_degree",
    "c_jail_in",
    "c_jail_out",
    "days_b_screening_arrest",
    "is_recid",
    "score_text",
    "two_year_recid",
]
_CATEGORIES = {
    "sex": ["Female", "Male"],
    "race": [
        "African-American",
        "Asian",
        "Caucasian",
        "Hispanic",
        "Native American",
        "Other",
    ],
    "c_charge_degree": ["F", "M"],
}


@validate_params(
    {
        "sensitive": [ordered_options(COMPAS_SENSITIVE)],
        "data_home": [str, os.PathLike, None],
        "return_X_y_s": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_compas(
    *,
    sensitive: Literal["race", "sex"] = "race",
    data_home: str | os.PathLike | None = None,
    return_X_y_s: bool = False,
) -> Bunch | tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Load ProPublica's COMPAS two-year recidivism data with a sensitive attribute.

    The task is to predict whether a defendant from Broward County, Florida,
    reoffended within two years of the COMPAS screening. skfrl does not ship
    this file: the loader reads ``compas-scores-two-years.csv`` (from
    ProPublica's compas-analysis repository, unchanged) from ``data_home``.
    Downloading it is not available: without the file the loader raises a
    :class:`FileNotFoundError`.

    Preprocessing:

    - ProPublica's filter keeps the rows with ``days_b_screening_arrest``
      within +-30 days, ``is_recid != -1``, ``c_charge_degree != "O"`` and a
      ``score_text`` other than ``"N/A"``: 6,172 of the 7,214 rows remain;
    - ``X`` holds ``sex``, ``age`` (years), ``race`` (its six original
      values), the juvenile felony, misdemeanour and other counts, the
      number of prior offences ``priors_count``, the charge degree
      ``c_charge_degree`` (``"F"`` felony, ``"M"`` misdemeanour) and
      ``length_of_stay``, the days between jail entry and release for the
      screened charge (calendar dates, as in ProPublica's analysis).
      ``age_cat`` (a binning of ``age``) and the COMPAS scores themselves
      (``decile_score``, ``score_text``, ...) are left out;
    - target ``y`` is ``two_year_recid`` (1 = reoffended within two years);
    - the sensitive attribute is removed from ``X``: ``"race"`` gives
      ``"African-American"``/``"Non-African-American"`` (the group ProPublica
      found disadvantaged against all others; 3,175 rows are
      African-American); ``"sex"`` gives ``"Female"``/``"Male"``.

    Numeric columns are int64, ``sex``, ``race`` and ``c_charge_degree`` have
    a ``category`` dtype.

    .. versionadded:: 0.1

    Parameters
    ----------
    sensitive : {"race", "sex"}, default="race"
        Which attribute is the sensitive attribute ``s``.
    data_home : str or path-like, default=None
        Folder holding ``compas-scores-two-years.csv``. When None, the
        ``SKFRL_DATA`` environment variable is used, else ``~/skfrl_data``
        (see :func:`get_data_home`).
    return_X_y_s : bool, default=False
        If True, return ``(X, y, s)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With attributes ``data`` (DataFrame ``X``), ``target`` (int64 Series
        ``y``, named ``"two_year_recid"``), ``sensitive`` (categorical Series
        ``s``, named after the attribute), ``frame`` (``X``, ``y`` and ``s``
        side by side), ``feature_names``, ``target_names``
        (``["no recidivism", "recidivism"]``), ``sensitive_name`` and
        ``DESCR``.
    (X, y, s) : tuple of DataFrame, Series, Series
        When ``return_X_y_s=True``.

    Raises
    ------
    ValueError
        If ``sensitive`` is not one of the allowed values, or the file lacks
        a needed column.
    FileNotFoundError
        If ``compas-scores-two-years.csv`` is not in the data folder; the
        message names the ``SKFRL_DATA`` environment variable and the
        ``data_home`` argument.

    Notes
    -----
    J. Angwin, J. Larson, S. Mattu and L. Kirchner, "Machine Bias",
    ProPublica, 2016; J. Larson, S. Mattu, L. Kirchner and J. Angwin, "How We
    Analyzed the COMPAS Recidivism Algorithm", ProPublica, 2016. Data:
    https://github.com/propublica/compas-analysis, used as published by
    ProPublica.

    Examples
    --------
    Without the file, the error says where the loader looked and how to point
    it at the data:

    >>> from skfrl.datasets import load_compas
    >>> load_compas(data_home="/nonexistent")
    Traceback (most recent call last):
    ...
    FileNotFoundError: The COMPAS data set needs the file ...

    With ``SKFRL_DATA`` pointing at a folder holding the file:

    >>> X, y, s = load_compas(return_X_y_s=True)  # doctest: +SKIP
    >>> X.shape, s.value_counts().to_dict()  # doctest: +SKIP
    ((6172, 8), {'African-American': 3175, 'Non-African-American': 2997})
    """
    path = _external_file(data_home, COMPAS_FILE, "COMPAS")

    raw = pd.read_csv(path, usecols=lambda c: c in _COLUMNS)
    _require_columns(raw, _COLUMNS, path)
    keep = (
        raw["days_b_screening_arrest"].between(-30, 30)
        & (raw["is_recid"] != -1)
        & (raw["c_charge_degree"] != "O")
        # read_csv turns "N/A" into NaN, so both spellings are dropped.
        & raw["score_text"].notna()
        & (raw["score_text"] != "N/A")
    )
    frame = raw[keep]
    jail_in = pd.to_datetime(frame["c_jail_in"]).dt.normalize()
    jail_out = pd.to_datetime(frame["c_jail_out"]).dt.normalize()
    length_of_stay = (jail_out - jail_in).dt.days
    if length_of_stay.isna().any():
        raise ValueError(
            f"{path} has rows without jail dates after ProPublica's filter; "
            "it is not the published compas-scores-two-years.csv."
        )
    X = frame[["sex", "age", "race", *_COUNTS, "c_charge_degree"]].assign(
        length_of_stay=length_of_stay.astype("int64")
    )
    X = _categorize(X, _CATEGORIES)
    X[["age", *_COUNTS]] = X[["age", *_COUNTS]].astype("int64")
    y = frame["two_year_recid"].astype("int64")
    if sensitive == "race":
        is_black = frame["race"] == "African-American"
        s = pd.Series(
            np.where(is_black, "African-American", "Non-African-American"),
            index=frame.index,
            dtype=pd.CategoricalDtype(["African-American", "Non-African-American"]),
        )
    else:
        s = X["sex"].astype(pd.CategoricalDtype(_CATEGORIES["sex"]))
    return _make_bunch(
        X.drop(columns=sensitive),
        y,
        s.rename(sensitive),
        target_names=["no recidivism", "recidivism"],
        descr_name="compas",
        return_X_y_s=return_X_y_s,
    )
