import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer

from skfrl.datasets import load_adult, load_german, make_preprocessor


def test_make_preprocessor_on_german():
    X = load_german().data
    X_before = X.copy()
    preprocessor = make_preprocessor(X)
    assert isinstance(preprocessor, ColumnTransformer)
    assert not hasattr(preprocessor, "transformers_")  # unfitted

    Xt = preprocessor.fit_transform(X)
    pd.testing.assert_frame_equal(X, X_before)
    assert isinstance(Xt, pd.DataFrame)
    assert len(Xt) == len(X)
    assert not Xt.isna().any().any()
    assert (Xt.dtypes == "float64").all()

    categorical = X.select_dtypes("category").columns
    numeric = X.select_dtypes("number").columns
    n_one_hot = sum(X[c].cat.categories.size for c in categorical)
    assert Xt.shape[1] == n_one_hot + len(numeric)
    for column in categorical:
        group = [f"{column}_{value}" for value in X[column].cat.categories]
        # Exactly one 1 per row in each one-hot group.
        assert (Xt[group].sum(axis=1) == 1).all(), column
    np.testing.assert_allclose(Xt[numeric].mean(), 0, atol=1e-9)
    np.testing.assert_allclose(Xt[numeric].std(ddof=0), 1, atol=1e-9)


def test_one_hot_columns_fixed_by_dtype_categories():
    X = load_adult(subset="train").data
    preprocessor = make_preprocessor(X)
    # A small sample misses rare categories; the output columns must not.
    small = preprocessor.fit(X.iloc[:50]).get_feature_names_out()
    full = make_preprocessor(X).fit(X).get_feature_names_out()
    assert list(small) == list(full)
    assert "native-country_Holand-Netherlands" in full


def test_scale_numeric_false_passes_numbers_through():
    X = pd.DataFrame({"n": [1, 2, 3], "c": ["a", "b", "a"], "b": [True, False, True]})
    Xt = make_preprocessor(X, scale_numeric=False).fit_transform(X)
    assert list(Xt.columns) == ["c_a", "c_b", "b_False", "b_True", "n"]
    assert Xt["n"].tolist() == [1, 2, 3]


def test_unknown_category_encodes_as_zeros():
    X = pd.DataFrame({"c": ["a", "b"], "n": [0.0, 1.0]})
    preprocessor = make_preprocessor(X).fit(X)
    Xt = preprocessor.transform(pd.DataFrame({"c": ["z"], "n": [0.5]}))
    assert Xt[["c_a", "c_b"]].to_numpy().tolist() == [[0.0, 0.0]]


def test_make_preprocessor_needs_a_dataframe():
    with pytest.raises(TypeError, match="DataFrame"):
        make_preprocessor(np.zeros((3, 2)))


def test_make_preprocessor_rejects_unsupported_dtypes():
    X = pd.DataFrame({"when": pd.to_datetime(["2020-01-01", "2021-01-01"])})
    with pytest.raises(ValueError, match="when"):
        make_preprocessor(X)
