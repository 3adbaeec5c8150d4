import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame
from sklearn.decomposition import PCA
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

from skfrl.evaluation import group_metric_frame


@pytest.fixture
def toy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    s = pd.Series(np.where(rng.random(200) < 0.4, "F", "M"), name="sex")
    y = (X[:, 0] + (s == "M") > 0.5).astype(int)
    return X, y, s


def test_single_model_has_default_binary_metrics(toy):
    X, y, s = toy
    clf = LogisticRegression().fit(X, y)
    frame = group_metric_frame(clf, X, y, sensitive_features=s)
    assert isinstance(frame, MetricFrame)
    assert list(frame.by_group.columns) == [
        "accuracy",
        "balanced_accuracy",
        "selection_rate",
        "true_positive_rate",
        "false_positive_rate",
        "count",
    ]
    assert list(frame.by_group.index) == ["F", "M"]
    assert frame.by_group["count"].sum() == 200
    assert frame.overall["accuracy"] == pytest.approx(clf.score(X, y))


def test_clean_and_poisoned_models_side_by_side(toy):
    X, y, s = toy
    models = {
        "clean": LogisticRegression().fit(X, y),
        "poisoned": DummyClassifier(strategy="constant", constant=1).fit(X, y),
    }
    frame = group_metric_frame(models, X, y, sensitive_features=s)
    assert frame.by_group.index.names == ["model", "sex"]
    assert list(frame.overall.index) == ["clean", "poisoned"]
    rates = frame.by_group["selection_rate"]
    assert (rates.loc["poisoned"] == 1).all()
    assert frame.difference().loc["poisoned", "selection_rate"] == 0
    assert frame.overall.loc["clean", "accuracy"] == pytest.approx(
        models["clean"].score(X, y)
    )


def test_custom_metrics_and_errors(toy):
    X, y, s = toy
    clf = LogisticRegression().fit(X, y)
    frame = group_metric_frame(
        {"m": clf}, X, y, sensitive_features=s, metrics={"n": lambda t, p: len(t)}
    )
    assert list(frame.by_group.columns) == ["n"]
    with pytest.raises(TypeError, match="predict"):
        group_metric_frame({"pca": PCA().fit(X)}, X, y, sensitive_features=s)
    with pytest.raises(ValueError, match="sensitive_features"):
        group_metric_frame(clf, X, y, sensitive_features=None)
    with pytest.raises(TypeError, match="metrics"):
        group_metric_frame(clf, X, y, sensitive_features=s, metrics=3)
    with pytest.raises(ValueError, match="at least one"):
        group_metric_frame({}, X, y, sensitive_features=s)
