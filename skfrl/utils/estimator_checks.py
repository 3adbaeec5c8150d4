"""Domain common checks for skfrl attacks and sanitisers (like imbalanced-learn's).

``parametrize_with_attack_checks(attacks)`` turns every check into a pytest
case; ``check_attack(attack)`` runs them all at once.
``parametrize_with_sanitizer_checks(sanitizers)`` and
``check_sanitizer(sanitizer)`` do the same for the sanitisers of
:mod:`skfrl.defenses`. Checks that hold for both families (inputs left
alone, containers and dtypes, determinism) are written once and appear in both suites.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
from sklearn.base import clone

__all__ = [
    "check_attack",
    "check_sanitizer",
    "parametrize_with_attack_checks",
    "parametrize_with_sanitizer_checks",
    "yield_attack_checks",
    "yield_sanitizer_checks",
]


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


def _assert_same(a, b) -> None:
    """``a`` and ``b`` are equal, as the same kind of container."""
    if isinstance(b, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b)
    elif isinstance(b, pd.Series):
        pd.testing.assert_series_equal(a, b)
    else:
        assert isinstance(a, np.ndarray), type(a)
        np.testing.assert_array_equal(a, b)


def check_inputs_not_mutated(name, estimator):
    """The caller's arrays, frames and Series are left untouched."""
    for kind in ("numpy", "pandas"):
        X, y, s = _data(kind)
        copies = [v.copy() for v in (X, y, s)]
        clone(estimator).fit_resample(X, y, sensitive_features=s)
        for before, after in zip(copies, (X, y, s), strict=True):
            _assert_same(after, before)


def check_containers_and_dtypes(name, estimator):
    """Containers, columns, dtypes, names, index and categories are preserved."""
    X, y, s = _data("pandas")
    X_r, y_r, s_r = clone(estimator).fit_resample(X, y, sensitive_features=s)
    assert isinstance(X_r, pd.DataFrame) and list(X_r.columns) == list(X.columns)
    pd.testing.assert_series_equal(X_r.dtypes, X.dtypes)
    assert isinstance(y_r, pd.Series) and y_r.dtype == y.dtype
    assert y_r.name == y.name
    assert isinstance(s_r, pd.Series) and s_r.dtype == s.dtype
    assert s_r.name == s.name
    assert X_r.index.is_unique
    pd.testing.assert_index_equal(X_r.index, y_r.index)
    pd.testing.assert_index_equal(X_r.index, s_r.index)
    X, y, s = _data("numpy")
    X_r, y_r, s_r = clone(estimator).fit_resample(X, y, sensitive_features=s)
    assert isinstance(X_r, np.ndarray) and X_r.dtype == X.dtype
    assert isinstance(y_r, np.ndarray) and y_r.dtype == y.dtype
    assert isinstance(s_r, np.ndarray) and s_r.dtype == s.dtype


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


def check_deterministic(name, estimator):
    """Same random_state, same rows (and, for a sanitiser, same scores)."""
    for kind in ("numpy", "pandas"):
        X, y, s = _data(kind)
        a, b = (clone(estimator).set_params(random_state=3) for _ in range(2))
        out_a = a.fit_resample(X, y, sensitive_features=s)
        out_b = b.fit_resample(X, y, sensitive_features=s)
        for u, v in zip(out_a, out_b, strict=True):
            _assert_same(u, v)
        for attr in ("removed_mask_", "scores_"):
            if hasattr(a, attr):
                np.testing.assert_array_equal(getattr(a, attr), getattr(b, attr))


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


def _check_all(estimator, yield_checks) -> None:
    for check in yield_checks(estimator):
        check(type(estimator).__name__, estimator)


def _parametrize(estimators, yield_checks, argname: str):
    import pytest

    cases, ids = [], []
    for estimator in estimators:
        for check in yield_checks(estimator):
            cases.append(
                (estimator, functools.partial(check, type(estimator).__name__))
            )
            # One line: reprs of nested estimators wrap.
            ids.append(f"{' '.join(repr(estimator).split())}-{check.__name__}")
    return pytest.mark.parametrize(f"{argname}, check", cases, ids=ids)


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
    _check_all(attack, yield_attack_checks)


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
    return _parametrize(attacks, yield_attack_checks, "attack")


# -- sanitisers ------------------------------------------------------------------
def _routing(enabled: bool):
    from sklearn import config_context

    return config_context(enable_metadata_routing=enabled)


def check_sample_indices(name, estimator):
    """The rows returned are the input rows ``sample_indices_``, in that order.

    The one contract of the defenses that return rows: ``X_res`` equals
    ``X[sample_indices_]`` (and so do ``y_res`` and ``s_res``), whatever the
    defense removes or repeats.
    """
    for kind in ("numpy", "pandas"):
        X, y, s = _data(kind)
        fitted = clone(estimator)
        out = fitted.fit_resample(X, y, sensitive_features=s)
        idx = np.asarray(fitted.sample_indices_)
        assert idx.ndim == 1 and idx.dtype.kind in "iu", idx.dtype
        assert len(idx) == len(out[0]), (len(idx), len(out[0]))
        assert len(idx) == 0 or 0 <= idx.min() <= idx.max() < len(X)
        for res, original in zip(out, (X, y, s), strict=True):
            if kind == "numpy":
                np.testing.assert_array_equal(res, original[idx])
            else:
                # Values and dtypes; repeated rows may carry fresh labels.
                _assert_same(
                    res.reset_index(drop=True),
                    original.iloc[idx].reset_index(drop=True),
                )


def check_sanitizer_removes_a_subset(name, sanitizer):
    """The kept rows are the caller's rows, in order; the masks agree."""
    for kind in ("numpy", "pandas"):
        X, y, s = _data(kind)
        n = len(X)
        fitted = clone(sanitizer)
        X_k, y_k, s_k = fitted.fit_resample(X, y, sensitive_features=s)
        removed = np.asarray(fitted.removed_mask_)
        assert removed.dtype == bool and removed.shape == (n,), removed.shape
        kept = np.flatnonzero(~removed)
        np.testing.assert_array_equal(fitted.sample_indices_, kept)
        assert fitted.n_removed_ == removed.sum() == n - len(X_k)
        assert 0 <= fitted.n_removed_ < n
        assert np.asarray(fitted.scores_).shape == (n,)
        if kind == "numpy":
            for out, original in ((X_k, X), (y_k, y), (s_k, s)):
                np.testing.assert_array_equal(out, original[kept])
        else:
            for out, original in ((X_k, X), (y_k, y), (s_k, s)):
                _assert_same(out, original.iloc[kept])


def check_sanitizer_contamination(name, sanitizer):
    """A fraction removes that share of the rows, the highest-scoring ones."""
    if isinstance(sanitizer.get_params().get("contamination"), str):
        return  # a rule ("auto") decides the count
    X, y, s = _data("numpy")
    for contamination, expected in ((0.1, 12), (0.25, 30)):
        fitted = clone(sanitizer).set_params(contamination=contamination)
        fitted.fit_resample(X, y, sensitive_features=s)
        assert fitted.n_removed_ == expected, (contamination, fitted.n_removed_)
        scores, removed = fitted.scores_, fitted.removed_mask_
        assert scores[removed].min() >= scores[~removed].max()


def _estimator_params(sanitizer) -> dict:
    from sklearn.base import BaseEstimator

    return {
        key: value
        for key, value in sanitizer.get_params(deep=False).items()
        if isinstance(value, BaseEstimator)
    }


def check_sanitizer_metadata_routing(name, sanitizer):
    """Routing on or off: the same rows are removed; no request is changed.

    With scikit-learn's metadata routing enabled, the models a sanitiser
    fits must still get the sensitive features (and a model that does not
    take them must not), without the caller having to set requests on the
    sanitiser's estimator, whose requests stay as they were.
    """
    from sklearn.utils.metadata_routing import get_routing_for_object

    for kind in ("numpy", "pandas"):
        X, y, s = _data(kind)
        results = {}
        for enabled in (False, True):
            with _routing(enabled):
                fitted = clone(sanitizer).set_params(random_state=0)
                inner = _estimator_params(fitted)
                before = {k: str(get_routing_for_object(v)) for k, v in inner.items()}
                fitted.fit_resample(X, y, sensitive_features=s)
                after = {k: str(get_routing_for_object(v)) for k, v in inner.items()}
                assert before == after, (before, after)
            results[enabled] = fitted
        off, on = results[False], results[True]
        np.testing.assert_array_equal(off.removed_mask_, on.removed_mask_)
        np.testing.assert_allclose(off.scores_, on.scores_, rtol=1e-6, atol=1e-9)


def check_sanitizer_bad_input(name, sanitizer):
    """Clear errors for sparse X, NaN, a missing y and length mismatches."""
    import pytest
    import scipy.sparse as sp

    X, y, s = _data("numpy")
    with pytest.raises(TypeError, match=r"X is a sparse .*not supported.*toarray"):
        clone(sanitizer).fit_resample(sp.csr_matrix(X), y, sensitive_features=s)
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        clone(sanitizer).fit_resample(X_nan, y, sensitive_features=s)
    with pytest.raises(ValueError, match="NaN"):
        clone(sanitizer).fit_resample(X, np.r_[np.nan, y[1:]], sensitive_features=s)
    with pytest.raises(ValueError, match="requires y"):
        clone(sanitizer).fit_resample(X, None, sensitive_features=s)
    with pytest.raises(ValueError, match="y must be 1-D"):
        clone(sanitizer).fit_resample(X, y[:-1], sensitive_features=s)
    with pytest.raises(ValueError, match="sensitive_features"):
        clone(sanitizer).fit_resample(X, y, sensitive_features=s[:-1])


_SANITIZER_CHECKS = (
    check_inputs_not_mutated,
    check_sample_indices,
    check_sanitizer_removes_a_subset,
    check_containers_and_dtypes,
    check_sanitizer_contamination,
    check_deterministic,
    check_sanitizer_metadata_routing,
    check_sanitizer_bad_input,
)


def yield_sanitizer_checks(sanitizer):
    """Yield the domain checks that apply to ``sanitizer``.

    The checks fit clones of ``sanitizer`` on small numeric arrays and on a
    mixed-type DataFrame (an integer, a float and a categorical column, a
    named Series of labels and a categorical sensitive attribute, with a
    non-default index) and check that the inputs stay untouched, that the
    rows returned are the input rows ``sample_indices_``, that the kept rows
    are the caller's rows with their containers, dtypes and index labels,
    that ``contamination`` is respected, that a fixed
    ``random_state`` gives the same result, that scikit-learn's metadata
    routing (enabled or not) does not change the result, and that bad input
    raises clear errors.

    .. versionadded:: 0.1

    Parameters
    ----------
    sanitizer : BaseSanitizer
        A sanitiser instance (cloned by every check); it must accept a
        DataFrame with a categorical column and a categorical sensitive
        attribute.

    Yields
    ------
    check : callable
        ``check(name, sanitizer)``.

    See Also
    --------
    check_sanitizer : Run them all.
    parametrize_with_sanitizer_checks : One pytest case per check.

    Examples
    --------
    >>> from skfrl.defenses import KNNConsistencyFilter
    >>> from skfrl.utils.estimator_checks import yield_sanitizer_checks
    >>> len(list(yield_sanitizer_checks(KNNConsistencyFilter())))
    8
    """
    yield from _SANITIZER_CHECKS


def check_sanitizer(sanitizer) -> None:
    """Run every sanitiser domain check on ``sanitizer``; raise on the first failure.

    .. versionadded:: 0.1

    Parameters
    ----------
    sanitizer : BaseSanitizer
        A sanitiser instance (not modified).

    Raises
    ------
    AssertionError
        Describing the first check that fails.

    See Also
    --------
    yield_sanitizer_checks : The checks.

    Examples
    --------
    >>> from skfrl.defenses import KNNConsistencyFilter
    >>> from skfrl.utils.estimator_checks import check_sanitizer
    >>> check_sanitizer(KNNConsistencyFilter(random_state=0))
    """
    _check_all(sanitizer, yield_sanitizer_checks)


def parametrize_with_sanitizer_checks(sanitizers):
    """Pytest parametrisation of every (sanitiser, check) pair.

    .. versionadded:: 0.1

    Parameters
    ----------
    sanitizers : list of BaseSanitizer
        Sanitiser instances.

    Returns
    -------
    decorator
        ``pytest.mark.parametrize("sanitizer, check", ...)``; each case
        calls ``check(sanitizer)``.

    See Also
    --------
    yield_sanitizer_checks : The checks.

    Examples
    --------
    >>> from skfrl.defenses import KNNConsistencyFilter
    >>> from skfrl.utils.estimator_checks import parametrize_with_sanitizer_checks
    >>> mark = parametrize_with_sanitizer_checks([KNNConsistencyFilter()])
    >>> len(mark.args[1])
    8
    """
    return _parametrize(sanitizers, yield_sanitizer_checks, "sanitizer")
