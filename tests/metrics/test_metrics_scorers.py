import pickle

import numpy as np
import pytest
import sklearn
from fairlearn.metrics import (
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
)
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.svm import LinearSVC
from sklearn.utils.metadata_routing import get_routing_for_object

from skfrl.metrics import (
    fld_score,
    make_fairness_scorer,
    make_leakage_scorer,
    mutual_information_lower_bound,
    representation_leakage,
)


class FakeFRL(TransformerMixin, BaseEstimator):
    """Stand-in FRL model: drops the first ``drop`` columns."""

    _skfrl_representation = True

    def __init__(self, drop=0):
        self.drop = drop

    def fit(self, X, y=None, *, sensitive_features=None, sample_weight=None):
        X = np.asarray(X)
        self.n_features_in_ = X.shape[1]
        self.fitted_with_s_ = sensitive_features is not None
        return self

    def transform(self, X):
        return np.asarray(X)[:, self.drop :]


class ColumnPredictor(ClassifierMixin, BaseEstimator):
    """Predicts column 0 of X as the label; for hand-made fairness examples."""

    def fit(self, X, y=None):
        self.classes_ = np.array([0, 1])
        return self

    def predict(self, X):
        return np.asarray(X)[:, 0].astype(int)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    n = 600
    s = rng.integers(0, 2, size=n)
    X = rng.normal(size=(n, 4))
    X[:, 0] += 3.0 * s  # s leaks through column 0 only
    y = (X[:, 1] + rng.normal(size=n) > 0).astype(int)
    return X, y, s


@pytest.fixture
def routing():
    with sklearn.config_context(enable_metadata_routing=True):
        yield


def frl_pipeline(drop=0):
    frl = FakeFRL(drop=drop)
    if sklearn.get_config()["enable_metadata_routing"]:
        frl.set_fit_request(sensitive_features=True)
    return make_pipeline(StandardScaler(), frl, LogisticRegression())


# -------------------------------------------------------- sign convention

EXPECTED_SIGNS = {
    "roc_auc": -1,
    "balanced_accuracy": -1,
    "accuracy": -1,
    "r2": -1,
    "fld": -1,
    "mi": -1,
    "ber": 1,
    "log_loss": -1,
    "mae": 1,
}


@pytest.mark.parametrize("metric", sorted(EXPECTED_SIGNS))
def test_leakage_scorer_sign_convention(data, metric):
    X, _, s = data
    if metric in ("mae", "r2"):
        s = X[:, 0] * 10 + 40  # continuous attribute
    frl = FakeFRL().fit(X)
    scorer = make_leakage_scorer(metric, random_state=0)
    if metric == "fld":
        raw = fld_score(X, s)
    elif metric == "mi":
        raw = mutual_information_lower_bound(X, s, random_state=0)
    else:
        raw = representation_leakage(X, s, metric=metric, random_state=0)
    assert scorer.sign == EXPECTED_SIGNS[metric]
    assert scorer(frl, X, sensitive_features=s) == pytest.approx(
        EXPECTED_SIGNS[metric] * raw
    )


def test_leakage_scorer_prefers_less_leakage(data):
    X, _, s = data
    leaky, clean = FakeFRL(drop=0).fit(X), FakeFRL(drop=1).fit(X)
    for metric in ("roc_auc", "ber", "fld", "mi", "accuracy", "log_loss"):
        scorer = make_leakage_scorer(metric, random_state=0)
        assert scorer(clean, X, sensitive_features=s) > scorer(
            leaky, X, sensitive_features=s
        ), metric


# ------------------------------------------------ finding the representation


def test_leakage_scorer_on_pipelines(data):
    X, y, s = data
    scorer = make_leakage_scorer(random_state=0)
    frl = FakeFRL(drop=1).fit(X, y, sensitive_features=s)
    expected = -representation_leakage(X[:, 1:], s, random_state=0)
    assert scorer(frl, X, y, sensitive_features=s) == pytest.approx(expected)

    ending_in_frl = make_pipeline(FakeFRL(drop=1)).fit(X, y)
    assert scorer(ending_in_frl, X, sensitive_features=s) == pytest.approx(expected)

    scaler = StandardScaler().fit(X)
    expected_scaled = -representation_leakage(
        scaler.transform(X)[:, 1:], s, random_state=0
    )
    with_downstream = make_pipeline(
        StandardScaler(), FakeFRL(drop=1), LogisticRegression()
    ).fit(X, y)
    assert scorer(with_downstream, X, y, sensitive_features=s) == pytest.approx(
        expected_scaled
    )

    # Steps before the FRL step are applied: reversing the columns makes
    # drop=1 remove the last column and keep the leaking one.
    reversed_first = make_pipeline(
        FunctionTransformer(np.fliplr), FakeFRL(drop=1), LogisticRegression()
    ).fit(X, y)
    assert scorer(reversed_first, X, y, sensitive_features=s) < -0.9

    # The last FRL step wins, also inside a nested pipeline.
    nested = Pipeline(
        [
            ("first", FakeFRL(drop=0)),
            ("flip", FunctionTransformer(np.fliplr)),
            ("inner", make_pipeline(FunctionTransformer(np.fliplr), FakeFRL(drop=1))),
            ("clf", LogisticRegression()),
        ]
    ).fit(X, y)
    assert scorer(nested, X, y, sensitive_features=s) == pytest.approx(expected_scaled)


@pytest.mark.parametrize(
    "estimator",
    [LogisticRegression(), make_pipeline(StandardScaler(), LogisticRegression())],
)
def test_leakage_scorer_rejects_non_frl(data, estimator):
    X, y, s = data
    estimator.fit(X, y)
    with pytest.raises(TypeError, match="fair-representation model"):
        make_leakage_scorer()(estimator, X, y, sensitive_features=s)


# --------------------------------------------------------- routing

SCORERS = [make_leakage_scorer, make_fairness_scorer]


@pytest.mark.parametrize("factory", SCORERS)
def test_scorer_requests_sensitive_features_by_default(factory):
    scorer = factory()
    routing = get_routing_for_object(scorer)
    assert routing.score.requests == {"sensitive_features": True}
    assert routing.consumes("score", ["sensitive_features", "sample_weight"]) == {
        "sensitive_features"
    }
    assert scorer.set_score_request(sensitive_features="s_test") is scorer
    assert scorer.get_metadata_routing().score.requests == {
        "sensitive_features": "s_test"
    }
    # UNCHANGED by default: the alias stays.
    scorer.set_score_request()
    assert scorer.get_metadata_routing().score.requests == {
        "sensitive_features": "s_test"
    }
    with pytest.raises(ValueError, match="alias"):
        scorer.set_score_request(sensitive_features="not an identifier")


def test_grid_search_with_leakage_scorers(data, routing):
    X, y, s = data
    scoring = {
        "accuracy": "accuracy",
        "auc_leak": make_leakage_scorer(random_state=0),
        "fld": make_leakage_scorer("fld"),
        "dp": make_fairness_scorer("demographic_parity_difference"),
    }
    search = GridSearchCV(
        frl_pipeline(),
        {"fakefrl__drop": [0, 1]},
        scoring=scoring,
        refit="auc_leak",
        cv=3,
        error_score="raise",
    ).fit(X, y, sensitive_features=s)
    results = search.cv_results_
    # drop=1 removes the leaking column: about -0.5 against about -1.
    assert results["mean_test_auc_leak"][0] < -0.9
    assert -0.6 < results["mean_test_auc_leak"][1] < -0.4
    assert results["mean_test_fld"][1] > results["mean_test_fld"][0]
    assert np.all(results["mean_test_dp"] <= 0)
    assert search.best_params_ == {"fakefrl__drop": 1}
    assert search.best_estimator_[1].fitted_with_s_


def test_grid_search_with_single_leakage_scorer(data, routing):
    X, y, s = data
    search = GridSearchCV(
        frl_pipeline(),
        {"fakefrl__drop": [0, 1]},
        scoring=make_leakage_scorer("ber", random_state=0),
        cv=3,
        error_score="raise",
    ).fit(X, y, sensitive_features=s)
    assert search.best_params_ == {"fakefrl__drop": 1}
    assert search.best_score_ == pytest.approx(0.5, abs=0.08)


def test_cross_validate_passes_test_fold_s(data, routing):
    X, y, s = data
    scoring = {
        "accuracy": "accuracy",
        "leak": make_leakage_scorer("roc_auc", cv=3, random_state=0),
        "eo": make_fairness_scorer("equalized_odds_difference"),
    }
    result = cross_validate(
        frl_pipeline(),
        X,
        y,
        scoring=scoring,
        params={"sensitive_features": s},
        cv=3,
        error_score="raise",
    )
    assert np.all(result["test_leak"] < -0.9)
    assert np.all(result["test_accuracy"] > 0.6)
    assert np.all((result["test_eo"] <= 0) & (result["test_eo"] >= -1))


@pytest.mark.parametrize("metric", ["roc_auc", "ber", "fld", "log_loss"])
def test_leakage_scorer_reports_most_leaking_attribute(data, metric):
    X, _, s = data
    frl = FakeFRL().fit(X)
    scorer = make_leakage_scorer(metric, random_state=0)
    independent = np.random.default_rng(1).integers(0, 3, size=len(s))
    leaking = scorer(frl, X, sensitive_features=s)
    clean = scorer(frl, X, sensitive_features=independent)
    assert leaking < clean
    for both in (np.column_stack([independent, s]), np.column_stack([s, independent])):
        assert scorer(frl, X, sensitive_features=both) == pytest.approx(leaking)


def test_log_loss_leakage_scorer(data):
    X, _, s = data
    scorer = make_leakage_scorer("log_loss", random_state=0)
    assert scorer.sign == -1
    assert repr(scorer) == "make_leakage_scorer(metric='log_loss', random_state=0)"
    leaky, clean = FakeFRL(drop=0).fit(X), FakeFRL(drop=1).fit(X)
    raw = representation_leakage(X, s, metric="log_loss", random_state=0)
    assert raw > 0.3
    assert scorer(leaky, X, sensitive_features=s) == pytest.approx(-raw)
    assert abs(scorer(clean, X, sensitive_features=s)) < 0.05
    # Two attributes: the score is that of the more leaking one.
    other = np.random.default_rng(1).integers(0, 3, size=len(s))
    both = np.column_stack([other, s])
    assert scorer(leaky, X, sensitive_features=both) == pytest.approx(-raw)
    with pytest.raises(ValueError, match="metric='log_loss' needs a probe with"):
        make_leakage_scorer("log_loss", probe=LinearSVC())


def test_log_loss_scorer_in_cross_validate_and_grid_search(data, routing):
    X, y, s = data
    scorer = make_leakage_scorer("log_loss", cv=3, random_state=0)
    result = cross_validate(
        frl_pipeline(),
        X,
        y,
        scoring={"accuracy": "accuracy", "leak": scorer},
        params={"sensitive_features": s},
        cv=3,
        error_score="raise",
    )
    # Each test fold's s and representation, scored by hand (an int cv
    # splits a classifier's data with StratifiedKFold on y).
    folds = StratifiedKFold(3).split(X, y)
    for (_, test), score in zip(folds, result["test_leak"], strict=True):
        Z = StandardScaler().fit(X[np.setdiff1d(np.arange(len(s)), test)])
        expected = -representation_leakage(
            Z.transform(X[test]), s[test], metric="log_loss", cv=3, random_state=0
        )
        assert score == pytest.approx(expected)
    assert np.all(result["test_leak"] < -0.3)

    search = GridSearchCV(
        frl_pipeline(),
        {"fakefrl__drop": [0, 1]},
        scoring={"leak": scorer, "accuracy": "accuracy"},
        refit="leak",
        cv=3,
        error_score="raise",
    ).fit(X, y, sensitive_features=s)
    results = search.cv_results_
    assert results["mean_test_leak"][0] < -0.3
    assert abs(results["mean_test_leak"][1]) < 0.05
    assert search.best_params_ == {"fakefrl__drop": 1}
    assert search.best_estimator_[1].fitted_with_s_


def test_cross_validate_with_alias(data, routing):
    X, y, s = data
    scorer = make_leakage_scorer("fld").set_score_request(sensitive_features="s_eval")
    result = cross_validate(
        FakeFRL().set_fit_request(sensitive_features=True),
        X,
        y,
        scoring=scorer,
        params={"sensitive_features": s, "s_eval": s},
        cv=2,
        error_score="raise",
    )
    assert np.all(result["test_score"] < -1)


def test_scorer_not_requesting_gets_no_s(data, routing):
    X, y, s = data
    scorer = make_leakage_scorer("fld").set_score_request(sensitive_features=False)
    with pytest.raises(ValueError, match="needs sensitive_features"):
        cross_validate(
            frl_pipeline(),
            X,
            y,
            scoring={"fld": scorer},
            params={"sensitive_features": s},
            cv=2,
            error_score="raise",
        )


def test_without_routing_direct_call_works_and_search_explains(data):
    X, y, s = data
    with sklearn.config_context(enable_metadata_routing=False):
        pipe = make_pipeline(StandardScaler(), FakeFRL(), LogisticRegression())
        pipe.fit(X, y)
        assert make_leakage_scorer("fld")(pipe, X, y, sensitive_features=s) < -1
        search = GridSearchCV(
            pipe,
            {"fakefrl__drop": [0, 1]},
            scoring=make_leakage_scorer("fld"),
            cv=2,
            error_score="raise",
        )
        with pytest.raises(ValueError, match="enable_metadata_routing=True"):
            search.fit(X, y)
        # sample_weight without routing: sklearn asks each scorer of a dict
        # whether it takes weights; ours says no, and sklearn warns.
        search = GridSearchCV(
            FakeFRL(),
            {"drop": [0, 1]},
            scoring={"fld": make_leakage_scorer("fld"), "dp": make_fairness_scorer()},
            refit=False,
            cv=2,
            error_score="raise",
        )
        with pytest.warns(UserWarning, match="does not support sample_weight"):
            with pytest.raises(ValueError, match="needs sensitive_features"):
                search.fit(X, y, sample_weight=np.ones(len(y)))


@pytest.mark.parametrize("factory", SCORERS)
def test_scorer_requires_sensitive_features(data, factory):
    X, y, _ = data
    model = frl_pipeline().fit(X, y)
    with pytest.raises(ValueError, match="needs sensitive_features"):
        factory()(model, X, y)


# ------------------------------------------------ fairness scorers


def _hand_example():
    # Column 0 is the prediction. Group a: 3 of 4 predicted positive; group b: 1 of 4.
    y_pred = np.array([1, 1, 1, 0, 1, 0, 0, 0])
    y_true = np.array([1, 1, 0, 0, 1, 1, 0, 0])
    groups = np.array(["a"] * 4 + ["b"] * 4)
    X = np.column_stack([y_pred, np.arange(8)])
    return ColumnPredictor().fit(X, y_true), X, y_true, y_pred, groups


@pytest.mark.parametrize(
    ("metric", "func", "sign"),
    [
        ("demographic_parity_difference", demographic_parity_difference, -1),
        ("equalized_odds_difference", equalized_odds_difference, -1),
        ("demographic_parity_ratio", demographic_parity_ratio, 1),
        ("equalized_odds_ratio", equalized_odds_ratio, 1),
    ],
)
def test_fairness_scorer_matches_fairlearn(metric, func, sign):
    model, X, y_true, y_pred, groups = _hand_example()
    expected = func(y_true, y_pred, sensitive_features=groups)
    scorer = make_fairness_scorer(metric)
    assert scorer.sign == sign
    assert scorer(model, X, y_true, sensitive_features=groups) == pytest.approx(
        sign * expected
    )


def test_fairness_scorer_hand_values():
    model, X, y_true, _, groups = _hand_example()
    dp = make_fairness_scorer("demographic_parity_difference")
    assert dp(model, X, y_true, sensitive_features=groups) == pytest.approx(-0.5)
    assert dp(model, X, sensitive_features=groups) == pytest.approx(-0.5)
    ratio = make_fairness_scorer("demographic_parity_ratio")
    assert ratio(model, X, y_true, sensitive_features=groups) == pytest.approx(1 / 3)
    # TPR a = 1, b = 1/2; FPR a = 1/2, b = 0: worst case 1/2, mean 1/2.
    eo = make_fairness_scorer("equalized_odds_difference", agg="mean")
    assert eo(model, X, y_true, sensitive_features=groups) == pytest.approx(-0.5)
    with pytest.raises(ValueError, match="needs y"):
        eo(model, X, sensitive_features=groups)


def test_fairness_scorer_errors(data):
    X, y, s = data
    with pytest.raises(
        ValueError,
        match=r"'metric' parameter of make_fairness_scorer must be a str among "
        r"\{.*\}\. Got 'dpd' instead",
    ):
        make_fairness_scorer("dpd")
    with pytest.raises(TypeError, match="needs an estimator with predict"):
        make_fairness_scorer()(FakeFRL().fit(X), X, y, sensitive_features=s)
    model = frl_pipeline().fit(X, y)
    with pytest.raises(ValueError, match="same length"):
        make_fairness_scorer()(model, X, y, sensitive_features=s[:-1])


# ------------------------------------------------------------- misc


def test_leakage_scorer_validates_arguments():
    with pytest.raises(
        ValueError,
        match=r"'metric' parameter of make_leakage_scorer must be a str among "
        r"\{.*'log_loss'.*'mi'\}\. Got 'auc' instead",
    ):
        make_leakage_scorer("auc")
    with pytest.raises(ValueError, match="no probe"):
        make_leakage_scorer("fld", probe=LogisticRegression())


def test_repr():
    assert repr(make_leakage_scorer()) == "make_leakage_scorer(metric='roc_auc')"
    assert (
        repr(make_leakage_scorer("ber", probe=LogisticRegression(), cv=3))
        == "make_leakage_scorer(metric='ber', probe=LogisticRegression(), cv=3)"
    )
    assert (
        repr(make_fairness_scorer("equalized_odds_ratio", agg="mean"))
        == "make_fairness_scorer(metric='equalized_odds_ratio', agg='mean')"
    )


@pytest.mark.parametrize("factory", SCORERS)
def test_scorer_survives_pickle_and_clone_of_search(data, factory):
    scorer = factory().set_score_request(sensitive_features="s2")
    restored = pickle.loads(pickle.dumps(scorer))
    assert restored.get_metadata_routing().score.requests == {
        "sensitive_features": "s2"
    }
    search = clone(GridSearchCV(frl_pipeline(), {}, scoring=scorer))
    assert search.scoring.get_metadata_routing().score.requests == {
        "sensitive_features": "s2"
    }
