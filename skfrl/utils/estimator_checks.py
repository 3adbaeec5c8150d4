"""Domain common checks for skfrl attacks (like imbalanced-learn's).

``parametrize_with_attack_checks(attacks)`` turns every check into a pytest
case; ``check_attack(attack)`` runs them all at once.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
from sklearn.base import clone

__all__ = ["check_attack", "parametrize_with_attack_checks", "yield_attack_checks"]


def _data(kind: str, n: int = 120, seed: int = 0):
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 2, n)
    X = rng.normal(size=(n, 4)) + s[:, None]
    y = (X[:, 1] + 0.5 * rng.normal(size=n) > 0.5).astype(int)
    if kind == "numpy":
        return X, y, s
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 70, n),
            "hours": np.round(X[:, 0] * 10 + 40, 1),
            "job": pd.Categorical(rng.choice(["a", "b", "c"], n)),
            "x3": X[:, 3],
        },
        index=np.arange(100, 100 + n),
    )
    return (
        frame,
        pd.Series(y, name="label", index=frame.index),
        pd.Series(np.where(s == 1, "m", "f"), name="sex", index=frame.index).astype(
            "category"
        ),
    )


def check_originals_first_and_unchanged(name, attack):
    """The first n rows are the caller's rows, byte for byte."""
    for kind in ("numpy", "pandas"):
        X, y, s = _data(kind)
        X_aug, y_aug, s_aug = clone(attack).fit_resample(X, y, sensitive_features=s)
        n = len(X)
        if kind == "numpy":
            np.testing.assert_array_equal(X_aug[:n], X)
            np.testing.assert_array_equal(y_aug[:n], y)
            np.testing.assert_array_equal(s_aug[:n], s)
        else:
            pd.testing.assert_frame_equal(X_aug.iloc[:n], X)
            pd.testing.assert_series_equal(y_aug.iloc[:n], y)
            pd.testing.assert_series_equal(s_aug.iloc[:n], s)


def check_inputs_not_mutated(name, attack):
    """The caller's arrays and frames are left untouched."""
    for kind in ("numpy", "pandas"):
        X, y, s = _data(kind)
        copies = [v.copy() for v in (X, y, s)]
        clone(attack).fit_resample(X, y, sensitive_features=s)
        for before, after in zip(copies, (X, y, s), strict=True):
            if isinstance(before, pd.DataFrame):
                pd.testing.assert_frame_equal(before, after)
            elif isinstance(before, pd.Series):
                pd.testing.assert_series_equal(before, after)
            else:
                np.testing.assert_array_equal(before, after)


def check_containers_and_dtypes(name, attack):
    """Containers, columns, dtypes and categories are preserved."""
    X, y, s = _data("pandas")
    X_aug, y_aug, s_aug = clone(attack).fit_resample(X, y, sensitive_features=s)
    assert isinstance(X_aug, pd.DataFrame) and list(X_aug.columns) == list(X.columns)
    assert (X_aug.dtypes == X.dtypes).all(), (X_aug.dtypes, X.dtypes)
    assert isinstance(y_aug, pd.Series) and y_aug.dtype == y.dtype
    assert isinstance(s_aug, pd.Series) and s_aug.dtype == s.dtype
    assert X_aug.index.is_unique
    X, y, s = _data("numpy")
    X_aug, y_aug, s_aug = clone(attack).fit_resample(X, y, sensitive_features=s)
    assert isinstance(X_aug, np.ndarray) and X_aug.dtype == X.dtype
    assert y_aug.dtype == y.dtype and s_aug.dtype == s.dtype


def check_poisons_are_valid(name, attack):
    """Poisons are realistic rows: known categories, observed ranges, integers."""
    X, y, s = _data("pandas")
    X_aug, y_aug, s_aug = clone(attack).fit_resample(X, y, sensitive_features=s)
    poisons = X_aug.iloc[len(X) :]
    assert set(poisons["job"].dropna()) <= set(X["job"])
    assert poisons["job"].notna().all()
    for col in ("age", "hours", "x3"):
        assert poisons[col].between(X[col].min(), X[col].max()).all(), col
    assert set(y_aug.iloc[len(X) :]) <= set(y)
    assert set(s_aug.iloc[len(X) :]) <= set(s)


def check_budget(name, attack):
    """Fractions round to a count, counts are exact, masks agree."""
    X, y, s = _data("numpy")
    for budget, expected in ((0.1, 12), (5, 5)):
        fitted = clone(attack).set_params(budget=budget)
        X_aug, _, _ = fitted.fit_resample(X, y, sensitive_features=s)
        assert fitted.n_poison_ == expected == len(X_aug) - len(X)
        assert fitted.poison_mask_.sum() == expected
        np.testing.assert_array_equal(
            np.flatnonzero(fitted.poison_mask_), fitted.poison_indices_
        )


def check_deterministic(name, attack):
    """Same random_state, same poisons."""
    X, y, s = _data("numpy")
    a = (
        clone(attack)
        .set_params(random_state=3)
        .fit_resample(X, y, sensitive_features=s)
    )
    b = (
        clone(attack)
        .set_params(random_state=3)
        .fit_resample(X, y, sensitive_features=s)
    )
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)


def check_bad_input(name, attack):
    """Clear errors for bad budgets, one group, NaN and length mismatch."""
    import pytest

    X, y, s = _data("numpy")
    for budget in (0, 1.5, -1, len(X) + 1):
        with pytest.raises(ValueError, match="budget"):
            clone(attack).set_params(budget=budget).fit_resample(
                X, y, sensitive_features=s
            )
    with pytest.raises(ValueError, match="single group"):
        clone(attack).fit_resample(X, y, sensitive_features=np.zeros(len(X)))
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        clone(attack).fit_resample(X_nan, y, sensitive_features=s)
    with pytest.raises(ValueError, match="NaN"):
        clone(attack).fit_resample(X, y, sensitive_features=np.r_[np.nan, s[1:]])
    with pytest.raises(ValueError):
        clone(attack).fit_resample(X, y[:-1], sensitive_features=s)


_CHECKS = (
    check_originals_first_and_unchanged,
    check_inputs_not_mutated,
    check_containers_and_dtypes,
    check_poisons_are_valid,
    check_budget,
    check_deterministic,
    check_bad_input,
)


def yield_attack_checks(attack):
    """Yield the domain checks that apply to ``attack``.

    Parameters
    ----------
    attack : BaseAttack
        An attack instance (cloned by every check).

    Yields
    ------
    check : callable
        ``check(name, attack)``.

    Examples
    --------
    >>> from skfrl.attacks import RandomPoisoning
    >>> from skfrl.utils.estimator_checks import yield_attack_checks
    >>> len(list(yield_attack_checks(RandomPoisoning())))
    7
    """
    yield from _CHECKS


def check_attack(attack) -> None:
    """Run every domain check on ``attack``; raise on the first failure.

    Parameters
    ----------
    attack : BaseAttack
        An attack instance.

    Examples
    --------
    >>> from skfrl.attacks import LabelFlipping
    >>> from skfrl.utils.estimator_checks import check_attack
    >>> check_attack(LabelFlipping(random_state=0))
    """
    for check in yield_attack_checks(attack):
        check(type(attack).__name__, attack)


def parametrize_with_attack_checks(attacks):
    """Pytest parametrisation of every (attack, check) pair.

    Parameters
    ----------
    attacks : list of BaseAttack
        Attack instances.

    Returns
    -------
    decorator
        ``pytest.mark.parametrize("attack, check", ...)``.

    Examples
    --------
    >>> from skfrl.attacks import RandomPoisoning
    >>> from skfrl.utils.estimator_checks import parametrize_with_attack_checks
    >>> mark = parametrize_with_attack_checks([RandomPoisoning()])
    """
    import pytest

    cases, ids = [], []
    for attack in attacks:
        for check in yield_attack_checks(attack):
            cases.append((attack, functools.partial(check, type(attack).__name__)))
            ids.append(f"{attack!r}-{check.__name__}")
    return pytest.mark.parametrize("attack, check", cases, ids=ids)
