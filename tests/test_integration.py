"""What a user writes: preprocessing + FRL + downstream model, tuned and
cross-validated with routed sensitive features, on real Adult data."""

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline

from skfrl.datasets import load_adult, make_preprocessor
from skfrl.metrics import make_fairness_scorer, make_leakage_scorer
from skfrl.models import AdversarialFairRepresentation


@pytest.fixture
def routing():
    with sklearn.config_context(enable_metadata_routing=True):
        yield


@pytest.fixture(scope="module")
def adult_sample():
    X, y, s = load_adult(sensitive="sex", subset="train", return_X_y_s=True)
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(len(X), size=1500, replace=False))
    return X.iloc[idx], y.iloc[idx], s.iloc[idx]


def _pipeline(**params):
    frl = AdversarialFairRepresentation(
        n_components=4, max_epochs=30, batch_size=64, lr=3e-3, random_state=0, **params
    ).set_fit_request(sensitive_features=True)
    return make_pipeline(frl, LogisticRegression(max_iter=500))


def _full_pipeline(X):
    pipe = _pipeline()
    return make_pipeline(make_preprocessor(X), *[step for _, step in pipe.steps])


SCORING = {
    "accuracy": "accuracy",
    "leakage": make_leakage_scorer("roc_auc", cv=3, random_state=0),
    "dp": make_fairness_scorer("demographic_parity_difference"),
}


def test_grid_search_over_reversal_scale(routing, adult_sample):
    X, y, s = adult_sample
    X_before, s_before = X.copy(), s.copy()
    pipe = _full_pipeline(X)
    search = GridSearchCV(
        pipe,
        {"adversarialfairrepresentation__fairness_weight": [0.0, 2.0]},
        scoring=SCORING,
        refit="leakage",
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
    )
    search.fit(X, y, sensitive_features=s)
    results = pd.DataFrame(search.cv_results_)
    leak = -results["mean_test_leakage"].to_numpy()  # probe AUC per setting
    # The adversary lowers leakage on held-out folds and the search sees it
    # (short training can do the opposite: the adversarial game needs a few
    # hundred steps to settle, hence 30 epochs on this small sample).
    assert leak[1] < leak[0] - 0.05
    assert search.best_params_ == {
        "adversarialfairrepresentation__fairness_weight": 2.0
    }
    assert results["mean_test_accuracy"].min() > 0.7
    assert (results["mean_test_dp"] <= 0).all()
    pd.testing.assert_frame_equal(X, X_before)
    pd.testing.assert_series_equal(s, s_before)
    # The refitted model is a plain fitted pipeline.
    assert search.predict(X.iloc[:5]).shape == (5,)


def test_cross_validate_with_params(routing, adult_sample):
    X, y, s = adult_sample
    result = cross_validate(
        _full_pipeline(X),
        X,
        y,
        params={"sensitive_features": s},
        scoring=SCORING,
        cv=3,
    )
    assert set(result) >= {"test_accuracy", "test_leakage", "test_dp"}
    assert np.all((result["test_leakage"] <= -0.3) & (result["test_leakage"] >= -1))


def test_routing_error_without_request(routing, adult_sample):
    X, y, s = adult_sample
    frl = AdversarialFairRepresentation(max_epochs=1)
    pipe = make_pipeline(make_preprocessor(X), frl)
    with pytest.raises(Exception, match="sensitive_features"):
        pipe.fit(X, y, sensitive_features=s)


def test_multi_attribute_model_and_scorer(routing, adult_sample):
    X, y, s = adult_sample
    S = pd.DataFrame({"sex": s.to_numpy(), "age": X["age"].to_numpy(float)})
    X_no_age = X.drop(columns="age")
    pipe = make_pipeline(
        make_preprocessor(X_no_age),
        AdversarialFairRepresentation(max_epochs=3, random_state=0).set_fit_request(
            sensitive_features=True
        ),
    )
    pipe.fit(X_no_age, y, sensitive_features=S)
    kinds = [a.kind for a in pipe[-1].sensitive_attributes_]
    assert kinds == ["categorical", "continuous"]
    sex_only = make_leakage_scorer(cv=3, random_state=0, attribute="sex")
    score = sex_only(pipe, X_no_age, y, sensitive_features=S)
    assert -1 <= score <= -0.5
    mae = make_leakage_scorer("mae", cv=3, random_state=0, attribute="age")
    assert mae(pipe, X_no_age, y, sensitive_features=S) > 0
    with pytest.raises(ValueError, match="not a column"):
        make_leakage_scorer(attribute="race")(pipe, X_no_age, sensitive_features=S)
