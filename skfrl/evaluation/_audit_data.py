"""The data of an audit: a bundled data set or a CSV, subsampled and checked.

Everything here runs before any model is fitted, so that bad options or
data fail at once with a message naming the option (``--data``,
``--sensitive``, ...) of ``skfrl audit``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from ._registry import BINARY_ATTACKS, DATASETS

__all__ = [
    "check_groups",
    "joint_groups",
    "load_csv",
    "load_dataset",
    "sensitive_names",
    "split_list",
    "subsample",
]


def split_list(value: str, option: str) -> list[str]:
    """The non-empty items of a comma-separated ``option``."""
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items:
        raise ValueError(f"{option} is empty")
    return items


def sensitive_names(sensitive) -> list[str]:
    """The attributes of ``--sensitive``: none, one, or several comma-separated.

    >>> sensitive_names("sex, race")
    ['sex', 'race']
    >>> sensitive_names(None)
    []
    """
    if not sensitive:
        return []
    if isinstance(sensitive, str):
        names = split_list(sensitive, "--sensitive")
    else:
        names = [str(name) for name in sensitive]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"--sensitive: {', '.join(map(repr, repeated))} given twice")
    return names


def joint_groups(s) -> np.ndarray:
    """Group of each row as text; several attributes cross into "a & b" cells."""
    if isinstance(s, pd.DataFrame):
        columns = [s[c].astype(str).to_numpy(dtype=object) for c in s.columns]
        cells = columns[0]
        for column in columns[1:]:
            cells = cells + " & " + column
        return cells
    return pd.Series(s).astype(str).to_numpy(dtype=object)


def load_dataset(dataset: str, sensitive):
    """``X, y, s, info`` of a data set of :mod:`skfrl.datasets`."""
    from .. import datasets

    if dataset not in DATASETS:
        raise ValueError(
            f"--dataset must be one of {', '.join(DATASETS)}; got {dataset!r}"
        )
    options = DATASETS[dataset].sensitive
    names = sensitive_names(sensitive) or [options[0]]
    unknown = [name for name in names if name not in options]
    if unknown:
        raise ValueError(
            f"--sensitive for {dataset} must be one of {', '.join(options)} (or "
            f"several, comma-separated); got {unknown[0]!r}"
        )
    loader = getattr(datasets, DATASETS[dataset].loader)
    # One load per attribute (same rows, same order); each drops its attribute
    # (or the column it derives from) from X, so X keeps the common columns.
    bunches = [loader(sensitive=name) for name in names]
    first = bunches[0]
    columns = [c for c in first.data.columns if all(c in b.data for b in bunches)]
    X = first.data[columns]
    if len(names) == 1:
        s = first.sensitive
    else:
        s = pd.concat(
            [b.sensitive.rename(n) for b, n in zip(bunches, names, strict=True)], axis=1
        )
    info = {
        "source": dataset,
        "sensitive": ", ".join(names),
        "sensitive_attributes": names,
        "target": "target",
        "positive_label": str(first.target_names[1]),
        "n_rows_read": int(len(X)),
        "rows_dropped": {},
        "rows_dropped_missing": 0,
    }
    return X, first.target, s, info


def load_csv(path: str, target: str | None, sensitive):
    """``X, y, s, info`` of a CSV: complete rows, a 0/1 target, typed features."""
    names = sensitive_names(sensitive)
    if not target or not names:
        raise ValueError("--data needs --target COLUMN and --sensitive COLUMN")
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"--data: no such file {path!r}")
    try:
        frame = pd.read_csv(file)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"--data: cannot read {path!r} as CSV ({exc})") from None
    for option, column in (("--target", target), *(("--sensitive", n) for n in names)):
        if column not in frame.columns:
            shown = ", ".join(map(str, frame.columns[:12]))
            more = ", ..." if frame.shape[1] > 12 else ""
            raise ValueError(
                f"{option}: column {column!r} is not in {file.name} (columns: "
                f"{shown}{more})"
            )
    if target in names:
        raise ValueError("--target and --sensitive must be different columns")
    features = [c for c in frame.columns if c != target and c not in names]
    if not features:
        raise ValueError("--data: no feature columns besides target and sensitive")
    # Complete cases only; each dropped row is counted under its first reason.
    n_read = len(frame)
    no_target = frame[target].isna()
    no_sensitive = ~no_target & frame[names].isna().any(axis=1)
    no_feature = ~no_target & ~no_sensitive & frame[features].isna().any(axis=1)
    rows_dropped = {
        "missing target": int(no_target.sum()),
        "missing sensitive": int(no_sensitive.sum()),
        "missing features": int(no_feature.sum()),
    }
    n_dropped = sum(rows_dropped.values())
    why = ", ".join(
        f"{n} with {what}"
        for n, what in zip(
            rows_dropped.values(),
            (
                f"a missing target {target!r}",
                "a missing sensitive value",
                "a missing feature value",
            ),
            strict=True,
        )
        if n
    )
    if n_dropped == n_read:
        raise ValueError(
            f"--data: every row of {file.name} has a missing value ({why})"
        )
    if n_dropped:
        warnings.warn(
            f"--data: dropped {n_dropped} of {n_read} rows of {file.name}: {why}",
            UserWarning,
            stacklevel=3,
        )
    frame = frame[~(no_target | no_sensitive | no_feature)]
    values = frame[target]
    if pd.api.types.is_float_dtype(values) and (values % 1 == 0).all():
        values = values.astype("int64")  # 1.0/0.0 from a column that had NaN
    labels = np.sort(values.unique().astype(str))
    if len(labels) != 2:
        raise ValueError(
            f"--target: column {target!r} must have exactly 2 values for the "
            f"fairness metrics; it has {len(labels)}"
        )
    # fairlearn's rates need 0/1 labels: the greater value (sorted as text,
    # e.g. "yes" over "no", 1 over 0) is the positive class.
    y = (values.astype(str) == labels[1]).astype(int).rename(target)
    s = frame[names[0]] if len(names) == 1 else frame[names]
    X = frame[features].copy()
    # Text columns are one-hot encoded; category dtype fixes their columns.
    for column in X.columns:
        if not pd.api.types.is_numeric_dtype(X[column]):
            X[column] = X[column].astype(str).astype("category")
    info = {
        "source": str(file),
        "sensitive": ", ".join(names),
        "sensitive_attributes": names,
        "target": target,
        "positive_label": str(labels[1]),
        "n_rows_read": int(n_read),
        "rows_dropped": rows_dropped,
        "rows_dropped_missing": int(n_dropped),
    }
    return (
        X.reset_index(drop=True),
        y.reset_index(drop=True),
        s.reset_index(drop=True),
        info,
    )


def subsample(X, y, s, n: int | None, seed: int):
    """At most ``n`` rows, stratified by the joint (y, s) cells.

    ``s`` is a Series, or a DataFrame of several attributes.
    """
    if not n or n >= len(X):
        return (
            X.reset_index(drop=True),
            y.reset_index(drop=True),
            s.reset_index(drop=True),
        )
    # Several attributes: their intersectional cells, else the first's.
    strata = None
    candidates = [s] if isinstance(s, pd.Series) else [s, s.iloc[:, 0]]
    for groups in candidates:
        cells = y.astype(str).to_numpy() + "|" + joint_groups(groups)
        if pd.Series(cells).value_counts().min() >= 2:
            strata = cells
            break
    idx, _ = train_test_split(
        np.arange(len(X)), train_size=n, stratify=strata, random_state=seed
    )
    idx = np.sort(idx)
    return (
        X.iloc[idx].reset_index(drop=True),
        y.iloc[idx].reset_index(drop=True),
        s.iloc[idx].reset_index(drop=True),
    )


def check_groups(y, s, *, cv: int, attacks: list[str]) -> None:
    """Refuse, before any fitting, data the metrics and attacks cannot use.

    ``s`` is a Series, or a DataFrame of several attributes: each attribute
    and (for several) each intersectional cell needs ``2 * cv`` rows, and
    eng, nraa and raa need a binary (first) attribute.
    """
    n_labels = pd.Series(y).nunique()
    if n_labels != 2:
        raise ValueError(
            f"the target must have exactly 2 values for the fairness metrics; "
            f"it has {n_labels}"
        )
    frame = s if isinstance(s, pd.DataFrame) else pd.Series(s).to_frame()
    several = frame.shape[1] > 1
    for name in frame.columns:
        column = f"column {name!r}" if several else "column"
        groups = frame[name].value_counts()
        if len(groups) < 2:
            raise ValueError(f"--sensitive: the {column} has a single value")
        if len(groups) > 20:
            raise ValueError(
                f"--sensitive: the {column} has {len(groups)} values; audits need "
                "a categorical attribute (bin a continuous one first)"
            )
        if groups.min() < 2 * cv:
            raise ValueError(
                f"--sensitive: group {groups.idxmin()!r} has {groups.min()} rows, "
                f"too few for --cv {cv}"
            )
    binary = [name for name in attacks if name in BINARY_ATTACKS]
    n_first = frame.iloc[:, 0].nunique()
    if binary and n_first != 2:
        first = f" (the first of --sensitive, {frame.columns[0]!r})" if several else ""
        raise ValueError(
            f"--attacks {','.join(binary)} target{'s' if len(binary) == 1 else ''} "
            f"a binary sensitive attribute{first}; it has {n_first} values (drop "
            f"{','.join(binary)} or merge groups)"
        )
    if several:
        # The fairness metrics compare the intersectional groups.
        cells = pd.Series(joint_groups(frame)).value_counts()
        if cells.min() < 2 * cv:
            raise ValueError(
                f"--sensitive: the intersectional group {cells.idxmin()!r} of "
                f"{', '.join(map(str, frame.columns))} has {cells.min()} rows, too "
                f"few for --cv {cv} (raise --max-samples or audit fewer attributes)"
            )
