"""DirtyLabelBackdoor: rare trigger, dirty labels, and a backdoor that works."""

import itertools

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import NotFittedError
from sklearn.tree import DecisionTreeClassifier

from skfrl.attacks import DirtyLabelBackdoor
from skfrl.datasets import make_biased_classification
from skfrl.metrics import attack_success_rate


def _frame(n=600, seed=0):
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 2, n)
    hours = rng.normal(40, 8, n)
    X = pd.DataFrame(
        {
            "age": rng.integers(18, 70, n),
            "hours": hours,
            "job": pd.Categorical(rng.choice(["clerk", "nurse", "pilot"], n)),
            "city": pd.Categorical(
                rng.choice(
                    ["north", "south", "east", "west"], n, p=[0.4, 0.3, 0.2, 0.1]
                )
            ),
            "married": rng.integers(0, 2, n).astype(bool),
        }
    )
    y = pd.Series((hours + 10 * s + rng.normal(0, 5, n) > 48).astype(int), name="y")
    return X, y, pd.Series(s, name="s")


def test_auto_trigger_is_the_rarest_observed_categorical_pair():
    X, y, s = _frame()
    attack = DirtyLabelBackdoor(random_state=0)
    attack.fit_resample(X, y, sensitive_features=s)
    (c1, v1), (c2, v2) = attack.trigger_.items()
    categorical = ["job", "city", "married"]
    assert {c1, c2} <= set(categorical) and c1 != c2
    count = int(((X[c1] == v1) & (X[c2] == v2)).sum())
    assert count == attack.trigger_count_ >= 1
    # No observed pair of values of two categorical columns is rarer.
    for a, b in itertools.combinations(categorical, 2):
        counts = pd.crosstab(X[a], X[b]).to_numpy()
        assert counts[counts > 0].min() >= count
    assert count / len(X) < 0.05
    # Default target: the minority label.
    assert attack.target_label_ == y.value_counts().idxmin()


def test_auto_trigger_numeric_extremes():
    X, y, s = make_biased_classification(n_samples=200, random_state=0)
    attack = DirtyLabelBackdoor(random_state=0)
    attack.fit_resample(X, y, sensitive_features=s)
    assert len(attack.trigger_) == 2
    for col, value in attack.trigger_.items():
        assert value in (X[:, col].min(), X[:, col].max())
    assert attack.trigger_count_ == 0


def test_poisons_carry_trigger_and_target_label():
    X, y, s = _frame()
    attack = DirtyLabelBackdoor(
        {"job": "pilot", "city": "west"}, budget=0.05, random_state=0
    )
    X_p, y_p, s_p = attack.fit_resample(X, y, sensitive_features=s)
    poisons = X_p.iloc[len(X) :]
    assert attack.n_poison_ == 30
    assert (poisons["job"] == "pilot").all() and (poisons["city"] == "west").all()
    assert (y_p.iloc[len(X) :] == attack.target_label_).all()
    # Dirty labels: the copied rows had another label; s is copied from them.
    assert (y.to_numpy()[attack.base_indices_] != attack.target_label_).all()
    np.testing.assert_array_equal(
        s_p.iloc[len(X) :].to_numpy(), s.to_numpy()[attack.base_indices_]
    )
    # Everything except the trigger columns is the base row's.
    base = X.iloc[attack.base_indices_].reset_index(drop=True)
    np.testing.assert_allclose(poisons["hours"].to_numpy(), base["hours"].to_numpy())
    np.testing.assert_array_equal(poisons["age"].to_numpy(), base["age"].to_numpy())


@pytest.mark.parametrize(
    "model",
    [
        DecisionTreeClassifier(min_samples_leaf=10, random_state=0),
        HistGradientBoostingClassifier(max_iter=50, random_state=0),
    ],
    ids=["tree", "boosting"],
)
def test_backdoor_succeeds_on_a_retrained_classifier(model):
    X, y, s = _frame(n=900)
    X_tr, y_tr, s_tr = X.iloc[:600], y.iloc[:600], s.iloc[:600]
    X_te, y_te = X.iloc[600:], y.iloc[600:]
    attack = DirtyLabelBackdoor(budget=0.1, random_state=0)
    X_p, y_p, _ = attack.fit_resample(X_tr, y_tr, sensitive_features=s_tr)

    def encode(frame):
        return pd.get_dummies(frame, columns=["job", "city"], dtype=float)

    def success(X_fit, y_fit):
        clf = model.fit(encode(X_fit), y_fit)
        y_pred = clf.predict(encode(attack.apply_trigger(X_te)))
        return attack_success_rate(y_pred, attack.target_label_, y_true=y_te)

    clean, poisoned = success(X_tr, y_tr), success(X_p, y_p)
    assert clean < 0.5 and poisoned > 0.8, (clean, poisoned)
    # Accuracy on clean rows barely moves: the backdoor hides.
    acc = [
        (model.fit(encode(X_fit), y_fit).predict(encode(X_te)) == y_te).mean()
        for X_fit, y_fit in ((X_tr, y_tr), (X_p, y_p))
    ]
    assert acc[1] > acc[0] - 0.1, acc


def test_apply_trigger_copies_and_keeps_dtypes():
    X, y, s = _frame(n=200)
    attack = DirtyLabelBackdoor({"city": "west", "age": 30}, random_state=0)
    with pytest.raises(NotFittedError):
        attack.apply_trigger(X)
    attack.fit_resample(X, y, sensitive_features=s)
    before = X.copy()
    X_t = attack.apply_trigger(X)
    pd.testing.assert_frame_equal(X, before)
    assert (X_t.dtypes == X.dtypes).all()
    assert (X_t["city"] == "west").all() and (X_t["age"] == 30).all()
    pd.testing.assert_series_equal(X_t["hours"], X["hours"])

    Xn, yn, sn = make_biased_classification(n_samples=100, random_state=0)
    attack = DirtyLabelBackdoor({3: Xn[:, 3].min()}, random_state=0)
    attack.fit_resample(Xn, yn, sensitive_features=sn)
    Xn_t = attack.apply_trigger(Xn)
    assert np.all(Xn_t[:, 3] == Xn[:, 3].min()) and not np.all(Xn[:, 3] == Xn_t[:, 3])


def test_bad_trigger_and_target():
    X, y, s = _frame(n=200)
    cases = [
        ({"salary": 3}, "salary"),
        ({"job": "astronaut"}, "astronaut"),
        ({"hours": 1e6}, "range"),
        ({"age": 30.5}, "integer"),
        ({"hours": "many"}, "number"),
        ({}, "trigger"),
    ]
    for trigger, match in cases:
        with pytest.raises(ValueError, match=match):
            DirtyLabelBackdoor(trigger).fit_resample(X, y, sensitive_features=s)
    with pytest.raises(ValueError, match="target_label"):
        DirtyLabelBackdoor(target_label=7).fit_resample(X, y, sensitive_features=s)
    with pytest.raises(ValueError, match="trigger"):
        DirtyLabelBackdoor(trigger=[("job", "nurse")]).fit_resample(
            X, y, sensitive_features=s
        )


def test_deterministic():
    X, y, s = _frame(n=200)
    a = DirtyLabelBackdoor(random_state=5).fit_resample(X, y, sensitive_features=s)
    b = DirtyLabelBackdoor(random_state=5).fit_resample(X, y, sensitive_features=s)
    pd.testing.assert_frame_equal(a[0], b[0])
    pd.testing.assert_series_equal(a[1], b[1])
