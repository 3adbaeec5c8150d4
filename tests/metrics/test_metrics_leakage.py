import itertools

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier

from skfrl.metrics import (
    balanced_error_rate,
    fld_score,
    mutual_information_lower_bound,
    representation_leakage,
)

N = 2000


@pytest.fixture
def independent():
    rng = np.random.default_rng(0)
    return rng.normal(size=(N, 5)), rng.integers(0, 2, size=N)


@pytest.fixture
def planted():
    rng = np.random.default_rng(1)
    s = rng.integers(0, 2, size=N)
    Z = rng.normal(size=(N, 5))
    Z[:, 2] += 3.0 * s
    return Z, s


def _fld_by_hand(Z, s):
    """Mean over group pairs of (mu_g - mu_h)^T (S_W)^-1 (mu_g - mu_h)."""
    groups = np.unique(s)
    k = len(groups)
    means = [Z[s == g].mean(axis=0) for g in groups]
    covs = [np.cov(Z[s == g], rowvar=False, bias=True) for g in groups]
    S_w = 2.0 / k * np.sum(covs, axis=0)
    values = [
        (means[a] - means[b]) @ np.linalg.inv(S_w) @ (means[a] - means[b])
        for a, b in itertools.combinations(range(k), 2)
    ]
    return np.mean(values)


# ---------------------------------------------------------------- fld_score


def test_fld_near_zero_for_independent_s(independent):
    Z, s = independent
    assert 0 <= fld_score(Z, s) < 0.02


def test_fld_large_for_planted_s(planted, independent):
    Z, s = planted
    # Mean gap 3 over a summed variance of 2: about 9 / 2.
    assert 3.5 < fld_score(Z, s) < 5.5
    assert fld_score(Z, s) > 100 * fld_score(*independent)


def test_fld_matches_binary_formula(planted):
    Z, s = planted
    d = Z[s == 1].mean(axis=0) - Z[s == 0].mean(axis=0)
    S = np.cov(Z[s == 0], rowvar=False, bias=True) + np.cov(
        Z[s == 1], rowvar=False, bias=True
    )
    expected = d @ np.linalg.solve(S, d)
    assert fld_score(Z, s, eps=0) == pytest.approx(expected, rel=1e-10)
    assert fld_score(Z, s) == pytest.approx(expected, rel=1e-5)


def test_fld_multiclass_is_mean_pairwise_separation():
    rng = np.random.default_rng(2)
    s = rng.integers(0, 3, size=900)
    Z = rng.normal(size=(900, 3)) * [1.0, 2.0, 0.5]
    Z[:, 0] += 2.0 * s
    Z[:, 1] += 1.5 * (s == 2)
    assert fld_score(Z, s, eps=0) == pytest.approx(_fld_by_hand(Z, s), rel=1e-10)
    # Two groups only: the k-group formula reduces to the binary one.
    mask = s < 2
    assert fld_score(Z[mask], s[mask], eps=0) == pytest.approx(
        _fld_by_hand(Z[mask], s[mask]), rel=1e-10
    )


def test_fld_invariant_to_row_permutation_and_scale(planted):
    Z, s = planted
    perm = np.random.default_rng(3).permutation(len(s))
    value = fld_score(Z, s)
    assert fld_score(Z[perm], s[perm]) == pytest.approx(value, rel=1e-10)
    assert fld_score(1000.0 * Z + 5.0, s) == pytest.approx(value, rel=1e-8)


def test_fld_accepts_labels_and_frames(planted):
    Z, s = planted
    labels = np.where(s == 1, "female", "male")
    assert fld_score(pd.DataFrame(Z), pd.Series(labels)) == pytest.approx(
        fld_score(Z, 1 - s)
    )


def test_fld_handles_a_degenerate_representation():
    s = np.array([0, 1] * 10)
    assert fld_score(np.zeros((20, 3)), s) == 0.0
    # Collinear columns make the scatter singular; the ridge keeps it finite.
    Z = np.repeat(np.arange(20.0)[:, None], 2, axis=1) + s[:, None]
    assert np.isfinite(fld_score(Z, s))
    assert np.isfinite(fld_score(Z, s, eps=0))


@pytest.mark.parametrize("eps", [-1.0, np.nan, "a"])
def test_fld_rejects_bad_eps(planted, eps):
    with pytest.raises(ValueError, match="eps"):
        fld_score(*planted, eps=eps)


def test_fld_rejects_continuous_s(planted):
    Z, _ = planted
    with pytest.raises(ValueError, match="categorical"):
        fld_score(Z, np.random.default_rng(0).normal(size=N))


# ------------------------------------------------------ balanced_error_rate


def test_balanced_error_rate_known_values():
    assert balanced_error_rate([0, 0, 0, 1], [0, 0, 0, 0]) == 0.5
    assert balanced_error_rate([0, 0, 1, 1], [0, 1, 1, 1]) == 0.25
    assert balanced_error_rate(["a", "b", "c"], ["a", "b", "c"]) == 0.0
    assert balanced_error_rate([0, 0, 1, 1], [1, 1, 0, 0]) == 1.0
    # Three groups, one always predicted: chance level 1 - 1/3.
    assert balanced_error_rate([0, 1, 2, 2], [2, 2, 2, 2]) == pytest.approx(2 / 3)


# --------------------------------------------------- representation_leakage


def test_leakage_auc_near_half_for_independent_s(independent):
    assert representation_leakage(*independent, random_state=0) == pytest.approx(
        0.5, abs=0.06
    )


def test_leakage_auc_high_for_planted_s(planted):
    assert representation_leakage(*planted, random_state=0) > 0.9


@pytest.mark.parametrize(
    ("metric", "chance", "planted_side"),
    [
        ("balanced_accuracy", 0.5, "above"),
        ("accuracy", 0.5, "above"),
        ("ber", 0.5, "below"),
    ],
)
def test_leakage_label_metrics(independent, planted, metric, chance, planted_side):
    low = representation_leakage(*independent, metric=metric, random_state=0)
    high = representation_leakage(*planted, metric=metric, random_state=0)
    assert low == pytest.approx(chance, abs=0.06)
    assert (high > 0.85) if planted_side == "above" else (high < 0.15)


def test_leakage_ber_is_one_minus_balanced_accuracy(planted):
    ber = representation_leakage(*planted, metric="ber", random_state=0)
    bacc = representation_leakage(*planted, metric="balanced_accuracy", random_state=0)
    assert ber == pytest.approx(1 - bacc)


def test_leakage_multiclass_auc():
    rng = np.random.default_rng(4)
    s = rng.choice(["a", "b", "c"], size=900)
    Z = rng.normal(size=(900, 3))
    assert representation_leakage(Z, s, random_state=0) == pytest.approx(0.5, abs=0.07)
    Z[:, 0] += 3.0 * (s == "a")
    Z[:, 1] += 3.0 * (s == "b")
    assert representation_leakage(Z, s, random_state=0) > 0.9


def test_leakage_continuous_s():
    rng = np.random.default_rng(5)
    Z = rng.normal(size=(600, 3))
    age = 40 + 10 * Z[:, 0] + rng.normal(size=600)
    assert representation_leakage(Z, age, metric="r2", random_state=0) > 0.9
    assert representation_leakage(Z, age, metric="mae", random_state=0) < 2.0
    noise = rng.normal(40, 10, size=600)
    assert representation_leakage(Z, noise, metric="r2", random_state=0) < 0.05
    assert representation_leakage(Z, noise, metric="mae", random_state=0) > 6.0
    # An integer attribute is taken as continuous when the metric asks for it.
    ages = np.round(age).astype(int)
    r2 = representation_leakage(Z, ages, metric="r2", probe=LinearRegression())
    assert r2 > 0.9


def test_leakage_invariant_to_row_permutation(planted, independent):
    perm = np.random.default_rng(6).permutation(N)
    for Z, s in (planted, independent):
        # The folds change with the order, so equality is approximate.
        assert representation_leakage(
            Z[perm], s[perm], random_state=0
        ) == pytest.approx(representation_leakage(Z, s, random_state=0), abs=0.02)


def test_leakage_is_reproducible_with_random_state(planted, independent):
    Z, s = planted
    a = representation_leakage(Z, s, metric="accuracy", random_state=3)
    assert a == representation_leakage(Z, s, metric="accuracy", random_state=3)
    # random_state shuffles the folds, so another seed gives other folds.
    assert representation_leakage(*independent, random_state=0) != (
        representation_leakage(*independent, random_state=1)
    )
    age = independent[0][:, 0] + 0.1 * independent[0][:, 1]
    assert representation_leakage(
        independent[0], age, metric="mae", random_state=0
    ) != representation_leakage(independent[0], age, metric="mae", random_state=1)


def test_leakage_custom_probes_and_cv(planted):
    Z, s = planted
    tree = DecisionTreeClassifier(max_depth=3, random_state=0)
    assert representation_leakage(Z, s, probe=tree, random_state=0) > 0.85
    # No predict_proba: the decision function ranks samples for a binary s.
    svc = LinearSVC()
    assert representation_leakage(Z, s, probe=svc, random_state=0) > 0.9
    cv = KFold(3, shuffle=True, random_state=0)
    assert representation_leakage(Z, s, cv=cv) > 0.9


def test_leakage_does_not_mutate_inputs(planted):
    Z, s = planted
    Z32 = Z.astype(np.float32)
    Z_before, Z32_before, s_before = Z.copy(), Z32.copy(), s.copy()
    representation_leakage(Z, s, random_state=0)
    representation_leakage(Z32, s, random_state=0)
    fld_score(Z32, s)
    mutual_information_lower_bound(Z, s, random_state=0)
    np.testing.assert_array_equal(Z, Z_before)
    np.testing.assert_array_equal(Z32, Z32_before)
    np.testing.assert_array_equal(s, s_before)


# ------------------------------------------------------------------- errors

ALL_FUNCS = [
    fld_score,
    representation_leakage,
    mutual_information_lower_bound,
]


@pytest.mark.parametrize("func", ALL_FUNCS)
def test_error_single_group(func):
    Z = np.random.default_rng(0).normal(size=(50, 2))
    with pytest.raises(ValueError, match="single group"):
        func(Z, np.zeros(50, dtype=int))


@pytest.mark.parametrize("func", ALL_FUNCS)
def test_error_nan_in_Z(func, planted):
    Z, s = planted
    Z = Z.copy()
    Z[3, 1] = np.nan
    with pytest.raises(ValueError, match="Z contains NaN"):
        func(Z, s)


@pytest.mark.parametrize("func", ALL_FUNCS)
def test_error_nan_in_s(func, planted):
    Z, s = planted
    s = s.astype(float)
    s[7] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        func(Z, s)


@pytest.mark.parametrize("func", ALL_FUNCS)
def test_error_length_mismatch(func, planted):
    Z, s = planted
    with pytest.raises(ValueError, match="same length"):
        func(Z, s[:-1])


@pytest.mark.parametrize("func", ALL_FUNCS)
def test_error_wrong_shapes(func, planted):
    Z, s = planted
    with pytest.raises(ValueError, match="2D"):
        func(Z[:, 0], s)
    with pytest.raises(ValueError, match="single sensitive attribute"):
        func(Z, np.column_stack([s, 1 - s]))


def test_error_unknown_metric(planted):
    with pytest.raises(
        ValueError,
        match=r"'metric' parameter of representation_leakage must be a str among "
        r"\{'roc_auc'.*'mae'.*\}\. Got 'auc' instead",
    ):
        representation_leakage(*planted, metric="auc")


def test_error_metric_incompatible_with_s(planted):
    Z, _ = planted
    age = np.random.default_rng(0).normal(40, 10, size=N)
    with pytest.raises(ValueError, match="looks continuous"):
        representation_leakage(Z, age, metric="roc_auc")
    with pytest.raises(ValueError, match="not numeric"):
        representation_leakage(Z, np.array(["a", "b"] * (N // 2)), metric="r2")


def test_error_probe_kind(planted):
    Z, s = planted
    with pytest.raises(ValueError, match="must be a classifier"):
        representation_leakage(Z, s, probe=LinearRegression())
    with pytest.raises(ValueError, match="predict_proba"):
        mutual_information_lower_bound(Z, s, probe=LinearSVC())


def test_error_too_few_samples_per_group(planted):
    Z, s = planted
    s = s.copy()
    s[:3] = 2
    s[3:] = np.where(s[3:] == 2, 0, s[3:])
    with pytest.raises(ValueError, match=r"Too few samples.*2 \(3 samples\)"):
        representation_leakage(Z, s, cv=5)
    with pytest.raises(ValueError, match="Too few samples"):
        mutual_information_lower_bound(Z, s, cv=5)
    assert 0.5 <= representation_leakage(Z, s, cv=3, random_state=0) <= 1


@pytest.mark.parametrize("cv", [1, "five"])
def test_error_bad_cv(planted, cv):
    with pytest.raises(ValueError, match="cv"):
        representation_leakage(*planted, cv=cv)


# ------------------------------------------------ mutual_information_lower_bound


def test_mi_near_zero_for_independent_s(independent):
    assert 0 <= mutual_information_lower_bound(*independent, random_state=0) < 0.02
    # An overfitting probe has a cross-entropy far above H(s): clipped to 0.
    tree = DecisionTreeClassifier(random_state=0)
    assert mutual_information_lower_bound(*independent, probe=tree) == 0.0


def test_mi_large_for_planted_s():
    rng = np.random.default_rng(7)
    s = rng.integers(0, 2, size=N)
    Z = rng.normal(size=(N, 3))
    Z[:, 0] += 4.0 * s
    mi = mutual_information_lower_bound(Z, s, random_state=0)
    assert 0.3 < mi <= np.log(2)


def test_mi_bounded_by_entropy_for_deterministic_s():
    rng = np.random.default_rng(8)
    s = rng.integers(0, 3, size=900)
    Z = np.eye(3)[s] * 10 + rng.normal(scale=0.1, size=(900, 3))
    shares = np.bincount(s) / s.size
    entropy = -np.sum(shares * np.log(shares))
    mi = mutual_information_lower_bound(Z, s, random_state=0)
    assert entropy - 0.05 < mi <= entropy


def test_leakage_multiclass_auc_is_one_vs_rest_macro():
    rng = np.random.default_rng(9)
    s = rng.integers(0, 3, size=300)
    Z = rng.normal(size=(300, 2)) + np.eye(3)[s][:, :2]
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    proba = cross_val_predict(LogisticRegression(), Z, s, cv=cv, method="predict_proba")
    expected = roc_auc_score(s, proba, multi_class="ovr", average="macro")
    assert representation_leakage(
        Z, s, probe=LogisticRegression(), cv=cv
    ) == pytest.approx(expected)


# ----------------------------------------------- representation_leakage log_loss


def _entropy(s):
    _, counts = np.unique(s, return_counts=True)
    shares = counts / counts.sum()
    return -np.sum(shares * np.log(shares))


def test_leakage_log_loss_near_entropy_for_strong_signal():
    rng = np.random.default_rng(10)
    s = rng.integers(0, 2, size=N)
    Z = rng.normal(size=(N, 3))
    Z[:, 0] += 5.0 * s
    leak = representation_leakage(Z, s, metric="log_loss", random_state=0)
    assert 0.8 * _entropy(s) < leak <= _entropy(s)
    # Three unbalanced groups: the ceiling is H(s) < log 3, not log 3.
    s3 = rng.choice(3, size=N, p=[0.6, 0.3, 0.1])
    Z3 = 5.0 * np.eye(3)[s3] + rng.normal(size=(N, 3))
    leak3 = representation_leakage(Z3, s3, metric="log_loss", random_state=0)
    assert 0.8 * _entropy(s3) < leak3 <= _entropy(s3) < np.log(3)


def test_leakage_log_loss_near_zero_for_independent_s(independent):
    assert (
        abs(representation_leakage(*independent, metric="log_loss", random_state=0))
        < 0.05
    )
    rng = np.random.default_rng(11)
    s3 = rng.choice(["a", "b", "c"], size=N, p=[0.5, 0.3, 0.2])
    Z = rng.normal(size=(N, 4))
    assert abs(representation_leakage(Z, s3, metric="log_loss", random_state=0)) < (
        0.05
    )


def test_leakage_log_loss_increases_with_signal():
    rng = np.random.default_rng(12)
    s = rng.integers(0, 2, size=N)
    noise = rng.normal(size=(N, 3))
    values = []
    for strength in (0.5, 1.5, 3.0):
        Z = noise.copy()
        Z[:, 0] += strength * s
        values.append(representation_leakage(Z, s, metric="log_loss", random_state=0))
    assert 0 < values[0] < values[1] < values[2] < np.log(2)


@pytest.mark.parametrize("labels", [np.array([0, 1, 2]), np.array(["x", "y", "z"])])
def test_leakage_log_loss_is_entropy_minus_oof_log_loss(labels):
    rng = np.random.default_rng(13)
    codes = rng.choice(3, size=600, p=[0.6, 0.3, 0.1])
    s = labels[codes]
    Z = rng.normal(size=(600, 2)) + 1.5 * np.eye(3)[codes][:, :2]
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    probe = LogisticRegression()
    proba = cross_val_predict(probe, Z, s, cv=cv, method="predict_proba")
    expected = _entropy(s) - log_loss(s, proba)
    # Neither the sign nor the entropy may be off: H(s) is not log 3 here.
    assert abs(_entropy(s) - np.log(3)) > 0.1
    assert expected > 0.1
    leak = representation_leakage(
        Z, s, probe=probe, metric="log_loss", cv=5, random_state=0
    )
    assert leak == pytest.approx(expected, rel=1e-10)
    # The same with the splitter passed explicitly.
    assert representation_leakage(
        Z, s, probe=probe, metric="log_loss", cv=cv
    ) == pytest.approx(expected, rel=1e-10)
    # It is the MI lower bound before that is clipped at 0.
    assert mutual_information_lower_bound(Z, s, probe=probe, cv=cv) == pytest.approx(
        leak, rel=1e-10
    )


def test_leakage_log_loss_finite_for_confident_probes():
    rng = np.random.default_rng(14)
    s = rng.integers(0, 2, size=400)
    tree = DecisionTreeClassifier(random_state=0)
    # Perfectly separable: every out-of-fold probability is exactly 1.
    Z = np.column_stack([10.0 * s + rng.uniform(size=400), rng.normal(size=400)])
    leak = representation_leakage(Z, s, probe=tree, metric="log_loss", random_state=0)
    assert np.isfinite(leak)
    assert leak == pytest.approx(_entropy(s), abs=1e-12)
    # A logistic probe with almost no regularisation is nearly as sure.
    lr = LogisticRegression(C=1e8, max_iter=10_000)
    leak = representation_leakage(Z, s, probe=lr, metric="log_loss", random_state=0)
    assert leak == pytest.approx(_entropy(s), abs=1e-3)
    # Independent Z: the fully grown tree is confidently wrong on about half
    # the samples (probability 0 for the true group), each clipped to 1e-15.
    Z = rng.normal(size=(400, 2))
    leak = representation_leakage(Z, s, probe=tree, metric="log_loss", random_state=0)
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    wrong = cross_val_predict(tree, Z, s, cv=cv) != s
    expected = _entropy(s) - np.mean(np.where(wrong, -np.log(1e-15), -np.log1p(-1e-15)))
    assert np.isfinite(leak)
    assert leak == pytest.approx(expected, rel=1e-10)
    assert leak < -10  # an overfitting probe makes the value negative


def test_leakage_log_loss_errors(planted):
    Z, _ = planted
    age = np.random.default_rng(0).normal(40, 10, size=N)
    with pytest.raises(ValueError, match=r"metric='log_loss' needs a categorical s"):
        representation_leakage(Z, age, metric="log_loss")
    with pytest.raises(ValueError, match=r"'mae' or 'r2'"):
        representation_leakage(Z, age, metric="log_loss")
    with pytest.raises(ValueError, match=r"metric='log_loss' needs a probe with"):
        representation_leakage(*planted, probe=LinearSVC(), metric="log_loss")
    with pytest.raises(
        ValueError,
        match=r"'metric' parameter .* among \{.*'log_loss'.*\}\. Got 'logloss'",
    ):
        representation_leakage(*planted, metric="logloss")
