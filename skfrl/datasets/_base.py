"""Helpers shared by the data set loaders."""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cache
from importlib import resources
from pathlib import Path

import pandas as pd
from sklearn.utils import Bunch

from ..utils._sklearn_compat import validate_params

__all__ = ["get_data_home"]

DATA_HOME_ENV = "SKFRL_DATA"
DEFAULT_DATA_HOME = Path("~") / "skfrl_data"

_DATA_PACKAGE = "skfrl.datasets"


@validate_params(
    {"data_home": [str, os.PathLike, None]}, prefer_skip_nested_validation=True
)
def get_data_home(data_home: str | os.PathLike | None = None) -> Path:
    """Return the folder the external data sets are read from.

    The folder is, in order of precedence: ``data_home`` when given, else the
    ``SKFRL_DATA`` environment variable when set and non-empty, else
    ``~/skfrl_data``. ``~`` is expanded; the folder is not created.

    .. versionadded:: 0.1

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder to use instead of the environment variable and the default.

    Returns
    -------
    data_home : Path
        The folder (which may not exist).

    Examples
    --------
    >>> from skfrl.datasets import get_data_home
    >>> get_data_home("/data/fairness").as_posix()
    '/data/fairness'
    """
    if data_home is None:
        data_home = os.environ.get(DATA_HOME_ENV) or DEFAULT_DATA_HOME
    return Path(data_home).expanduser()


def _external_file(data_home, file_name: str, dataset: str) -> Path:
    """Path of an external data file, with a helpful error when it is absent."""
    folder = get_data_home(data_home)
    path = folder / file_name
    if not path.is_file():
        if data_home is not None:
            origin = "the data_home argument"
        elif os.environ.get(DATA_HOME_ENV):
            origin = f"the {DATA_HOME_ENV} environment variable"
        else:
            origin = f"the default, as neither data_home nor {DATA_HOME_ENV} is set"
        raise FileNotFoundError(
            f"The {dataset} data set needs the file {file_name!r}, which was not "
            f"found in {str(folder)!r} (folder taken from {origin}). skfrl "
            "neither ships nor downloads this file: place it in a folder and "
            f"set the {DATA_HOME_ENV} environment variable to that folder "
            f"(for example {DATA_HOME_ENV}=/path/to/data; this is also how "
            "`skfrl audit` finds it), or pass it as data_home=... in Python."
        )
    return path


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], path: Path) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(
            f"{path} lacks the columns {missing}; is it the original, unmodified file?"
        )


@cache
def _read_bundled_csv(file_name: str) -> pd.DataFrame:
    """Parse a bundled file once per process; callers must copy the result."""
    source = resources.files(_DATA_PACKAGE) / "data" / file_name
    with resources.as_file(source) as path:
        return pd.read_csv(path, keep_default_na=False, na_values=[""])


@cache
def _read_descr(name: str) -> str:
    source = resources.files(_DATA_PACKAGE) / "descr" / f"{name}.rst"
    return source.read_text(encoding="utf-8")


def _categorize(frame: pd.DataFrame, categories: dict[str, Sequence]) -> pd.DataFrame:
    """Give the listed columns a categorical dtype with fixed categories.

    Fixed categories keep the dtype (and hence one-hot columns) identical
    across subsets and samples of a data set.
    """
    frame = frame.copy()
    for column, values in categories.items():
        dtype = pd.CategoricalDtype(list(values))
        unknown = set(frame[column].dropna().unique()) - set(values)
        if unknown:
            raise ValueError(
                f"Column {column!r} has unexpected values {sorted(unknown)}."
            )
        frame[column] = frame[column].astype(dtype)
    return frame


def _make_bunch(
    X: pd.DataFrame,
    y: pd.Series,
    s: pd.Series,
    *,
    target_names: list[str],
    descr_name: str,
    return_X_y_s: bool,
) -> Bunch | tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Finish a loader: reset indices and return a Bunch or ``(X, y, s)``."""
    X = X.reset_index(drop=True)
    y = y.reset_index(drop=True).astype("int64")
    s = s.reset_index(drop=True)
    if return_X_y_s:
        return X, y, s
    frame = pd.concat([X, y, s], axis=1)
    return Bunch(
        data=X,
        target=y,
        sensitive=s,
        frame=frame,
        feature_names=list(X.columns),
        target_names=list(target_names),
        sensitive_name=s.name,
        DESCR=_read_descr(descr_name),
    )
