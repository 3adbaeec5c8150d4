"""Data sets for fair representation learning.

Loaders return a :class:`~sklearn.utils.Bunch` (``data``, ``target``,
``sensitive``, ``frame``, ``DESCR``, ...) or ``(X, y, s)`` with
``return_X_y_s=True``, where the sensitive attribute ``s`` is removed from
``X``. Adult and German Credit ship with skfrl; COMPAS and Drug Consumption
are read from a data folder (``data_home``, else the ``SKFRL_DATA``
environment variable, else ``~/skfrl_data``). :func:`make_preprocessor`
builds a one-hot/scaling transformer for the loaders' mixed-type frames and
:func:`make_biased_classification` generates synthetic data with a
controllable dependence between ``s`` and ``X``;
:func:`make_biased_interactions` generates user x item interactions in which
gender and age shape preferences.
"""

from ._adult import load_adult
from ._base import get_data_home
from ._compas import load_compas
from ._drug import load_drug_consumption
from ._german import load_german
from ._interactions import make_biased_interactions
from ._preprocessing import make_preprocessor, one_hot_groups
from ._synthetic import make_biased_classification

__all__ = [
    "get_data_home",
    "load_adult",
    "load_compas",
    "load_drug_consumption",
    "load_german",
    "make_biased_classification",
    "make_biased_interactions",
    "make_preprocessor",
    "one_hot_groups",
]
