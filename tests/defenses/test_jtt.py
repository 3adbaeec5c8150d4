"""JTTReweighter: the error set, its weights, the up-sampled data."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier

from skfrl.attacks import LabelFlipping
from skfrl.datasets import make_biased_classification
from skfrl.defenses import JTTReweighter
from skfrl.metrics import poison_amplification
from skfrl.utils.estimator_checks import (
    check_containers_and_dtypes,
    check_deterministic,
    check_inputs_not_mutated,
    check_sample_indices,
)


@pytest.fixture(scope="module")
def data():
    return make_biased_classification(n_samples=300, flip_y=0.1, random_state=0)


def test_upweights_exactly_the_error_set(data):
    X, y, _ = data
    jtt = JTTReweighter(upweight=4.0).fit(X, y)
    errors = jtt.estimator_.predict(X) != y
    assert errors.any() and not errors.all()
    np.testing.assert_array_equal(jtt.error_mask_, errors)
    np.testing.assert_array_equal(jtt.sample_weight_, np.where(errors, 4.0, 1.0))
    assert jtt.n_errors_ == errors.sum()


def test_confidence_threshold(data):
    X, y, _ = data
    jtt = JTTReweighter(threshold=0.7).fit(X, y)
    p_own = jtt.estimator_.predict_proba(X)[np.arange(len(y)), y]
    np.testing.assert_array_equal(jtt.error_mask_, p_own < 0.7)
    # A stricter threshold catches at least the misclassified rows.
    errors = JTTReweighter().fit(X, y).error_mask_
    assert np.all(jtt.error_mask_[errors])


def test_custom_estimator_is_cloned_and_seeded(data):
    X, y, _ = data
    tree = DecisionTreeClassifier(max_depth=2)
    a = JTTReweighter(tree, random_state=0).fit(X, y)
    b = JTTReweighter(tree, random_state=0).fit(X, y)
    assert not hasattr(tree, "tree_")
    np.testing.assert_array_equal(a.error_mask_, b.error_mask_)
    np.testing.assert_array_equal(a.error_mask_, a.estimator_.predict(X) != y)


def test_resample_numpy(data):
    X, y, s = data
    before = X.copy()
    jtt = JTTReweighter(upweight=3.4, output="resample")
    X_up, y_up, s_up = jtt.fit_resample(X, y, sensitive_features=s)
    np.testing.assert_array_equal(X, before)
    n, errs = len(X), np.flatnonzero(jtt.error_mask_)
    # round(3.4) = 3 copies in all: the row plus two extra.
    assert len(X_up) == len(y_up) == len(s_up) == n + 2 * len(errs)
    np.testing.assert_array_equal(X_up[:n], X)
    np.testing.assert_array_equal(jtt.sample_indices_[:n], np.arange(n))
    np.testing.assert_array_equal(np.sort(jtt.sample_indices_[n:]), np.repeat(errs, 2))
    np.testing.assert_array_equal(X_up, X[jtt.sample_indices_])
    np.testing.assert_array_equal(y_up, y[jtt.sample_indices_])
    np.testing.assert_array_equal(s_up, s[jtt.sample_indices_])
    counts = np.bincount(jtt.sample_indices_, minlength=n)
    np.testing.assert_array_equal(counts, np.where(jtt.error_mask_, 3, 1))


def test_resample_pandas_keeps_containers(data):
    X, y, s = data
    Xf = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    Xf["job"] = pd.Categorical(np.where(X[:, 0] > 0, "a", "b"))
    Xf.index = np.arange(1000, 1000 + len(Xf))
    yf = pd.Series(y, index=Xf.index, name="label")
    sf = pd.Series(s, index=Xf.index, name="sex").astype("category")
    copies = [Xf.copy(), yf.copy(), sf.copy()]
    jtt = JTTReweighter(output="resample")
    X_up, y_up, s_up = jtt.fit_resample(Xf, yf, sensitive_features=sf)
    pd.testing.assert_frame_equal(Xf, copies[0])
    assert (X_up.dtypes == Xf.dtypes).all() and X_up.index.is_unique
    assert y_up.dtype == yf.dtype and s_up.dtype == sf.dtype
    pd.testing.assert_frame_equal(X_up.iloc[: len(Xf)], Xf)
    np.testing.assert_array_equal(
        X_up["x0"].to_numpy(), Xf["x0"].to_numpy()[jtt.sample_indices_]
    )
    assert s_up is not None and len(s_up) == len(X_up)
    _, _, none = clone(jtt).fit_resample(Xf, yf)
    assert none is None


def test_bad_parameters(data):
    X, y, _ = data
    with pytest.raises(ValueError, match="upweight"):
        JTTReweighter(upweight=0.5).fit(X, y)
    with pytest.raises(ValueError, match="threshold"):
        JTTReweighter(threshold=1.5).fit(X, y)
    with pytest.raises(ValueError, match="output"):
        JTTReweighter().fit_resample(X, y)
    with pytest.raises(TypeError, match="predict_proba"):
        JTTReweighter(LinearSVC(), threshold=0.6).fit(X, y)
    with pytest.raises(ValueError, match="y must be 1-D"):
        JTTReweighter().fit(X, y[:-1])
    X_nan = X.copy()
    X_nan[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        JTTReweighter().fit(X_nan, y)


def test_jtt_amplifies_label_flipped_poisons():
    # The tension of Panaitescu-Liess et al.: poisons land in the error set.
    X, y, s = make_biased_classification(n_samples=300, random_state=0)
    attack = LabelFlipping(budget=0.05, random_state=0)
    X_p, y_p, s_p = attack.fit_resample(X, y, sensitive_features=s)
    jtt = JTTReweighter(upweight=5.0).fit(X_p, y_p)
    res = poison_amplification(jtt.sample_weight_, attack.poison_mask_)
    assert res.amplification > 2.0
    assert res.upweighted_poison_share > 3 * res.row_share


@pytest.mark.parametrize(
    "check",
    [
        check_sample_indices,
        check_inputs_not_mutated,
        check_containers_and_dtypes,
        check_deterministic,
    ],
)
def test_resample_follows_the_defense_contract(check):
    # The domain checks every resampling defense shares with the sanitisers:
    # X_res is X[sample_indices_], with repeated rows relabelled.
    check("JTTReweighter", JTTReweighter(upweight=3, output="resample"))
