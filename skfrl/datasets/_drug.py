"""Loader for the UCI Drug Consumption (quantified) data set, read from data_home."""

from __future__ import annotations

import os
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ..utils._sklearn_compat import ordered_options, validate_params
from ._base import (
    _external_file,
    _make_bunch,
    _require_columns,
)

__all__ = ["load_drug_consumption"]

DRUG_FILE = "drug_consumption.csv"
DRUG_SENSITIVE = ("gender", "age", "ethnicity")
DRUGS = (
    "Alcohol",
    "Amphet",
    "Amyl",
    "Benzos",
    "Caff",
    "Cannabis",
    "Chocolate",
    "Coke",
    "Crack",
    "Ecstacy",
    "Heroin",
    "Ketamine",
    "LegalHigh",
    "LSD",
    "Meth",
    "Mushrooms",
    "Nicotine",
    "Semer",
    "VSA",
)

# The UCI file stores each demographic category as a real number (its
# "quantified" value); these tables are the decoding given on the UCI page.
# Each dict is in the natural order of the categories, which becomes the
# order of the categorical dtype.
_DECODE = {
    "age": {
        -0.95197: "18-24",
        -0.07854: "25-34",
        0.49788: "35-44",
        1.09449: "45-54",
        1.82213: "55-64",
        2.59171: "65+",
    },
    "gender": {0.48246: "Female", -0.48246: "Male"},
    "education": {
        -2.43591: "Left school before 16 years",
        -1.73790: "Left school at 16 years",
        -1.43719: "Left school at 17 years",
        -1.22751: "Left school at 18 years",
        -0.61113: "Some college or university, no certificate or degree",
        -0.05921: "Professional certificate/ diploma",
        0.45468: "University degree",
        1.16365: "Masters degree",
        1.98437: "Doctorate degree",
    },
    "country": {
        -0.09765: "Australia",
        0.24923: "Canada",
        -0.46841: "New Zealand",
        -0.28519: "Other",
        0.21128: "Republic of Ireland",
        0.96082: "UK",
        -0.57009: "USA",
    },
    "ethnicity": {
        -0.50212: "Asian",
        -1.10702: "Black",
        1.90725: "Mixed-Black/Asian",
        0.12600: "Mixed-White/Asian",
        -0.22166: "Mixed-White/Black",
        0.11440: "Other",
        -0.31685: "White",
    },
}
_RAW_NAMES = {
    "Age": "age",
    "Gender": "gender",
    "Education": "education",
    "Country": "country",
    "Ethinicity": "ethnicity",
    "Nscore": "neuroticism",
    "Escore": "extraversion",
    "Oscore": "openness",
    "Ascore": "agreeableness",
    "Cscore": "conscientiousness",
    "Impulsiveness": "impulsiveness",
    "SensationSeeking": "sensation_seeking",
}
_USED_IN_LAST_YEAR = ("CL3", "CL4", "CL5", "CL6")
_ALL_USAGE_CLASSES = {f"CL{i}" for i in range(7)}


def _decode(column: pd.Series, name: str, path) -> pd.Series:
    table = _DECODE[name]
    # The file prints five decimals; rounding makes float equality exact.
    codes = column.round(5)
    unknown = sorted(set(codes.unique()) - set(table))
    if unknown:
        raise ValueError(f"{path}: unexpected coded values {unknown} in {name!r}.")
    values = codes.map(table)
    return values.astype(pd.CategoricalDtype(list(table.values())))


@validate_params(
    {
        "sensitive": [ordered_options(DRUG_SENSITIVE)],
        "drug": [ordered_options(DRUGS)],
        "data_home": [str, os.PathLike, None],
        "return_X_y_s": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_drug_consumption(
    *,
    sensitive: Literal["gender", "age", "ethnicity"] = "gender",
    drug: str = "Cannabis",
    data_home: str | os.PathLike | None = None,
    return_X_y_s: bool = False,
) -> Bunch | tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Load the UCI Drug Consumption (quantified) data set with a sensitive attribute.

    The task is to predict whether a respondent used a given drug in the last
    year from demographics and personality scores. skfrl does not ship this
    file: the loader reads ``drug_consumption.csv`` (the UCI file with a
    header row added) from ``data_home``. Downloading it is not available:
    without the file the loader raises a :class:`FileNotFoundError`.

    Preprocessing (all 1,885 rows are kept):

    - the five demographic columns, stored by UCI as "quantified" real
      numbers, are decoded into categories: ``age`` (bands ``"18-24"`` ...
      ``"65+"``), ``gender``, ``education`` (nine levels), ``country`` and
      ``ethnicity`` (seven values);
    - the seven personality scores (``neuroticism``, ``extraversion``,
      ``openness``, ``agreeableness``, ``conscientiousness``,
      ``impulsiveness``, ``sensation_seeking``) stay float64, as published;
    - the usage columns of all drugs are left out of ``X``;
    - target ``y`` is 1 if the respondent used ``drug`` in the last year,
      last month, last week or last day (classes CL3 to CL6), and 0 if never
      or more than a year ago (CL0 to CL2);
    - the sensitive attribute is removed from ``X``: ``"gender"`` gives
      ``"Female"``/``"Male"``; ``"age"`` gives ``"<35"``/``">=35"`` (bands
      18-24 and 25-34 against the older ones; 1,124 and 761 rows);
      ``"ethnicity"`` gives ``"Non-White"``/``"White"`` (165 and 1,720
      rows: very unbalanced). The other demographic columns stay in ``X``.

    ``ID`` is dropped. ``X`` has 11 columns.

    .. versionadded:: 0.1

    Parameters
    ----------
    sensitive : {"gender", "age", "ethnicity"}, default="gender"
        Which attribute is the sensitive attribute ``s``.
    drug : str, default="Cannabis"
        The drug whose use in the last year is the target. One of
        ``"Alcohol"``, ``"Amphet"``, ``"Amyl"``, ``"Benzos"``, ``"Caff"``,
        ``"Cannabis"``, ``"Chocolate"``, ``"Coke"``, ``"Crack"``,
        ``"Ecstacy"``, ``"Heroin"``, ``"Ketamine"``, ``"LegalHigh"``,
        ``"LSD"``, ``"Meth"``, ``"Mushrooms"``, ``"Nicotine"``, ``"Semer"``
        (a fictitious drug, included to spot over-claimers) and ``"VSA"``
        (volatile substances), spelt as in the file's header.
    data_home : str or path-like, default=None
        Folder holding ``drug_consumption.csv``. When None, the
        ``SKFRL_DATA`` environment variable is used, else ``~/skfrl_data``
        (see :func:`get_data_home`).
    return_X_y_s : bool, default=False
        If True, return ``(X, y, s)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With attributes ``data`` (DataFrame ``X``), ``target`` (int64 Series
        ``y``, named after the drug), ``sensitive`` (categorical Series
        ``s``, named after the attribute), ``frame`` (``X``, ``y`` and ``s``
        side by side), ``feature_names``, ``target_names``
        (``["not in last year", "in last year"]``), ``sensitive_name`` and
        ``DESCR``.
    (X, y, s) : tuple of DataFrame, Series, Series
        When ``return_X_y_s=True``.

    Raises
    ------
    ValueError
        If ``sensitive`` or ``drug`` is not one of the allowed values, or the
        file holds unexpected columns or codes.
    FileNotFoundError
        If ``drug_consumption.csv`` is not in the data folder; the message
        names the ``SKFRL_DATA`` environment variable and the ``data_home``
        argument.

    Notes
    -----
    Fehrman, E., Egan, V. and Mirkes, E. (2015). Drug Consumption
    (Quantified) [Dataset]. UCI Machine Learning Repository,
    https://archive.ics.uci.edu/dataset/373/drug+consumption+quantified,
    licensed under CC BY 4.0. E. Fehrman, A. K. Muhammad, E. M. Mirkes,
    V. Egan and A. N. Gorban, "The Five Factor Model of personality and
    evaluation of drug consumption risk", arXiv:1506.06297, 2015.

    Examples
    --------
    Without the file, the error says where the loader looked and how to point
    it at the data:

    >>> from skfrl.datasets import load_drug_consumption
    >>> load_drug_consumption(data_home="/nonexistent")
    Traceback (most recent call last):
    ...
    FileNotFoundError: The Drug Consumption data set needs the file ...

    With ``SKFRL_DATA`` pointing at a folder holding the file:

    >>> X, y, s = load_drug_consumption(
    ...     sensitive="age", return_X_y_s=True
    ... )  # doctest: +SKIP
    >>> X.shape, s.value_counts().to_dict()  # doctest: +SKIP
    ((1885, 11), {'<35': 1124, '>=35': 761})
    """
    path = _external_file(data_home, DRUG_FILE, "Drug Consumption")

    raw = pd.read_csv(path)
    _require_columns(raw, [*_RAW_NAMES, drug], path)
    frame = raw[list(_RAW_NAMES)].rename(columns=_RAW_NAMES)
    for name in _DECODE:
        frame[name] = _decode(frame[name], name, path)
    scores = [name for name in _RAW_NAMES.values() if name not in _DECODE]
    frame[scores] = frame[scores].astype("float64")

    usage = raw[drug]
    unknown = sorted(set(usage.unique()) - _ALL_USAGE_CLASSES)
    if unknown:
        raise ValueError(f"{path}: unexpected usage classes {unknown} in {drug!r}.")
    y = usage.isin(_USED_IN_LAST_YEAR).astype("int64").rename(drug)

    if sensitive == "gender":
        s = frame["gender"]
    elif sensitive == "age":
        is_young = frame["age"].isin(["18-24", "25-34"])
        s = pd.Series(
            np.where(is_young, "<35", ">=35"),
            dtype=pd.CategoricalDtype(["<35", ">=35"]),
        )
    else:
        is_white = frame["ethnicity"] == "White"
        s = pd.Series(
            np.where(is_white, "White", "Non-White"),
            dtype=pd.CategoricalDtype(["Non-White", "White"]),
        )
    return _make_bunch(
        frame.drop(columns=sensitive),
        y,
        s.rename(sensitive),
        target_names=["not in last year", "in last year"],
        descr_name="drug_consumption",
        return_X_y_s=return_X_y_s,
    )
