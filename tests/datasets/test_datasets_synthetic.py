import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_predict

from skfrl.datasets import make_biased_classification


def probe_auc(X, s):
    """Cross-validated ROC AUC of a logistic probe predicting s from X."""
    proba = cross_val_predict(LogisticRegression(), X, s, cv=3, method="predict_proba")[
        :, 1
    ]
    return roc_auc_score(s, proba)


def test_shapes_and_dtypes():
    X, y, s = make_biased_classification(
        n_samples=300, n_features=7, n_informative=3, random_state=0
    )
    assert X.shape == (300, 7) and X.dtype == np.float64
    assert y.shape == (300,) and y.dtype == np.int64
    assert s.shape == (300,) and s.dtype == np.int64
    assert set(np.unique(y)) == {0, 1}
    assert set(np.unique(s)) == {0, 1}


def test_deterministic_with_random_state():
    first = make_biased_classification(n_samples=200, flip_y=0.1, random_state=3)
    second = make_biased_classification(n_samples=200, flip_y=0.1, random_state=3)
    other = make_biased_classification(n_samples=200, flip_y=0.1, random_state=4)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])


def test_bias_zero_makes_s_independent():
    X, y, s = make_biased_classification(n_samples=2000, bias=0.0, random_state=0)
    assert probe_auc(X, s) < 0.6
    # y does not depend on s either.
    assert abs(y[s == 1].mean() - y[s == 0].mean()) < 0.06


def test_bias_plants_s_in_X_and_y():
    X, y, s = make_biased_classification(n_samples=2000, bias=2.0, random_state=0)
    assert probe_auc(X, s) > 0.8
    assert y[s == 1].mean() - y[s == 0].mean() > 0.3
    # Only the informative features carry s.
    assert probe_auc(X[:, 5:], s) < 0.6


def test_bias_increases_leakage_monotonically():
    aucs = [
        probe_auc(*make_biased_classification(1000, bias=b, random_state=1)[::2])
        for b in (0.0, 0.5, 1.0)
    ]
    assert aucs[0] < aucs[1] < aucs[2]


def test_multiclass_and_continuous_sensitive():
    _, _, s = make_biased_classification(
        n_samples=600, n_sensitive_classes=4, random_state=0
    )
    assert set(np.unique(s)) == {0, 1, 2, 3}
    X, _, s = make_biased_classification(
        n_samples=600, continuous_sensitive=True, bias=2.0, random_state=0
    )
    assert s.dtype == np.float64
    assert np.corrcoef(X[:, 0], s)[0, 1] > 0.5


def test_flip_y_adds_label_noise():
    X, y_clean, _ = make_biased_classification(n_samples=2000, random_state=0)
    _, y_noisy, _ = make_biased_classification(
        n_samples=2000, flip_y=0.4, random_state=0
    )
    changed = (y_clean != y_noisy).mean()
    assert 0.1 < changed < 0.3  # about half the flipped labels change


def test_return_frame():
    X, y, s = make_biased_classification(
        n_samples=50, n_features=3, n_informative=2, random_state=0, return_frame=True
    )
    assert isinstance(X, pd.DataFrame)
    assert list(X.columns) == ["x0", "x1", "x2"]
    assert y.name == "y" and s.name == "s"
    X_arr, _, _ = make_biased_classification(
        n_samples=50, n_features=3, n_informative=2, random_state=0
    )
    np.testing.assert_array_equal(X.to_numpy(), X_arr)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"n_samples": 0}, ValueError, "n_samples"),
        ({"n_informative": 11}, ValueError, "n_informative"),
        ({"bias": -1.0}, ValueError, "bias"),
        ({"bias": float("nan")}, ValueError, "bias"),
        ({"n_sensitive_classes": 1}, ValueError, "n_sensitive_classes"),
        ({"flip_y": 1.5}, ValueError, "flip_y"),
        ({"n_features": 2.5}, TypeError, "n_features"),
        ({"return_frame": 1}, TypeError, "return_frame"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_biased_classification(**kwargs)
