import numpy as np
import pandas as pd
import pytest

from skfrl.utils import check_sensitive_features, is_fair_representation


def test_series_dataframe_and_arrays():
    values, attrs = check_sensitive_features(pd.Series(["b", "a", "b"], name="sex"))
    assert attrs[0].name == "sex" and list(values[0]) == [1, 0, 1]
    values, attrs = check_sensitive_features(
        np.array([[0, 1.5], [1, 2.5], [0, 3.5]]), kinds=["categorical", "continuous"]
    )
    assert [a.kind for a in attrs] == ["categorical", "continuous"]
    np.testing.assert_allclose(values[1], [1.5, 2.5, 3.5])


def test_inference_of_continuous():
    age = np.linspace(18, 80, 50)
    _, attrs = check_sensitive_features(age)
    assert attrs[0].kind == "continuous"
    _, attrs = check_sensitive_features(np.r_[np.zeros(25), np.ones(25)])
    assert attrs[0].kind == "categorical"


def test_index_is_ignored_and_input_not_mutated():
    s = pd.Series(["x", "y", "x"], index=[10, 5, 7])
    copy = s.copy()
    values, _ = check_sensitive_features(s, n_samples=3)
    assert list(values[0]) == [0, 1, 0]
    pd.testing.assert_series_equal(s, copy)


@pytest.mark.parametrize(
    "s, kwargs, error, match",
    [
        (np.ones(4), {}, ValueError, "single group"),
        (np.array([0.0, np.nan, 1.0]), {}, ValueError, "NaN"),
        (np.array([0, 1, 0]), {"n_samples": 4}, ValueError, "same length"),
        (5, {}, TypeError, "scalar"),
        (np.zeros((2, 2, 2)), {}, ValueError, "1-D or 2-D"),
        (np.linspace(0, 1, 30), {"allow_continuous": False}, ValueError, "bin it"),
        (
            np.array([0, 1]),
            {"kinds": "ordinal"},
            ValueError,
            r"'kinds' parameter .* \{'categorical', 'continuous'\}.* Got 'ordinal'",
        ),
        (None, {}, ValueError, "required"),
    ],
)
def test_errors(s, kwargs, error, match):
    with pytest.raises(error, match=match):
        check_sensitive_features(s, **kwargs)


def test_is_fair_representation():
    from sklearn.decomposition import PCA

    from skfrl.models import AdversarialFairRepresentation

    assert is_fair_representation(AdversarialFairRepresentation())
    assert not is_fair_representation(PCA())
