import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone, is_classifier
from sklearn.utils import get_tags

from skfrl.datasets import make_biased_classification
from skfrl.metrics import representation_leakage
from skfrl.models import ICVAE

FAST = dict(max_epochs=8, batch_size=64, lr=5e-3, random_state=0)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # Tiny networks: extra threads only contend with other processes.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _data(n=400, seed=0):
    return make_biased_classification(n_samples=n, random_state=seed)


def _independent_task(n=800, seed=0):
    """s planted in two columns; y depends on two other, s-free columns."""
    X1, _, s = make_biased_classification(
        n_samples=n, n_features=4, n_informative=2, bias=2.0, random_state=seed
    )
    X2, y, _ = make_biased_classification(
        n_samples=n, n_features=4, n_informative=2, bias=0.0, random_state=seed + 100
    )
    return np.hstack([X1, X2]), y, s


def _auc(Z, s):
    return representation_leakage(Z, s, cv=3, random_state=0)


@pytest.mark.parametrize("supervised", [True, False])
def test_shapes_dtype_names_and_task_api(supervised):
    X, y, s = _data()
    model = ICVAE(supervised=supervised, n_components=3, **FAST)
    Z = model.fit(X, y, sensitive_features=s).transform(X)
    assert Z.shape == (len(X), 3)
    assert Z.dtype == np.float32
    assert list(model.get_feature_names_out()) == [f"icvae_z{i}" for i in range(3)]
    assert hasattr(model, "predict") is supervised
    assert hasattr(model, "predict_proba") is supervised
    assert hasattr(model, "score") is supervised
    assert hasattr(model, "classes_") is supervised
    assert is_classifier(model) is supervised
    assert get_tags(model).target_tags.required is supervised
    if supervised:
        proba = model.predict_proba(X)
        assert proba.shape == (len(X), 2)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
        assert model.score(X, y) > 0.7
        assert model.module_.classifier is not None
    else:
        assert model.module_.classifier is None


def test_unsupervised_ignores_y_and_refit_drops_classes():
    X, y, s = _data()
    model = ICVAE(**FAST).fit(X, y, sensitive_features=s)
    assert hasattr(model, "classes_")
    model.set_params(supervised=False).fit(X, sensitive_features=s)
    assert not hasattr(model, "classes_")
    Z_with_y = clone(model).fit(X, y, sensitive_features=s).transform(X)
    np.testing.assert_array_equal(Z_with_y, model.transform(X))


def test_supervised_requires_y():
    X, _, s = _data()
    with pytest.raises(ValueError, match="requires y"):
        ICVAE(**FAST).fit(X, sensitive_features=s)


def test_pandas_input_and_set_output():
    X, y, s = make_biased_classification(
        n_samples=300, random_state=0, return_frame=True
    )
    model = ICVAE(n_components=2, **FAST).set_output(transform="pandas")
    Z = model.fit(X, y, sensitive_features=s).transform(X)
    assert isinstance(Z, pd.DataFrame)
    assert list(Z.columns) == list(model.get_feature_names_out())
    np.testing.assert_array_equal(model.feature_names_in_, X.columns)
    Z_np = clone(model).set_output(transform="default")
    Z_np = Z_np.fit(X.to_numpy(), y.to_numpy(), sensitive_features=s.to_numpy())
    np.testing.assert_allclose(Z_np.transform(X.to_numpy()), Z.to_numpy())


def test_determinism_and_caller_rng_untouched():
    X, y, s = _data()
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = ICVAE(**FAST).fit(X, y, sensitive_features=s)
    after = torch.rand(1)
    assert before.item() == after.item()
    b = clone(a).fit(X, y, sensitive_features=s)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    c = clone(a).set_params(random_state=1).fit(X, y, sensitive_features=s)
    assert not np.allclose(a.transform(X), c.transform(X))


@pytest.mark.parametrize("supervised", [True, False])
def test_pickle_round_trip_is_exact(supervised):
    X, y, s = _data()
    model = ICVAE(supervised=supervised, **FAST).fit(X, y, sensitive_features=s)
    loaded = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(model.transform(X), loaded.transform(X))
    if supervised:
        np.testing.assert_array_equal(model.predict_proba(X), loaded.predict_proba(X))


def test_without_sensitive_features_is_a_plain_vae():
    X, y, _ = _data()
    model = ICVAE(**FAST).fit(X, y)
    assert model.sensitive_attributes_ == []
    assert model.module_.decoder[0].in_features == model.n_components
    batch = model.history_[-1]["batches"][-1]
    assert "pairwise_kl" not in batch
    assert {"recon_loss", "kl_loss", "task_loss"} <= set(batch)
    assert model.score(X, y) > 0.8


def test_several_categorical_and_continuous_attributes():
    X, y, s = _data()
    rng = np.random.default_rng(0)
    age = 40 + 10 * rng.normal(size=len(X))
    race = rng.choice(["a", "b", "c"], size=len(X))
    S = pd.DataFrame({"sex": np.where(s == 1, "m", "f"), "race": race, "age": age})
    S_before = S.copy()
    model = ICVAE(n_components=4, **FAST).fit(X, y, sensitive_features=S)
    pd.testing.assert_frame_equal(S, S_before)
    kinds = {a.name: a.kind for a in model.sensitive_attributes_}
    assert kinds == {"sex": "categorical", "race": "categorical", "age": "continuous"}
    # z, then one-hot sex (2) and race (3), then standardised age (1).
    assert model.module_.decoder[0].in_features == 4 + 2 + 3 + 1
    assert "pairwise_kl" in model.history_[-1]["batches"][-1]
    assert model.transform(X).shape == (len(X), 4)


def test_categorical_groups_reconstruction():
    X, y, s = _data()
    onehot = np.eye(3)[np.arange(len(X)) % 3]
    Xg = np.hstack([X, onehot])
    model = ICVAE(categorical_groups=[[10, 11, 12]], **FAST)
    model.fit(Xg, y, sensitive_features=s)
    assert model.module_.reconstruction.categorical_groups == [[10, 11, 12]]
    with pytest.raises(ValueError, match="outside"):
        ICVAE(categorical_groups=[[10, 99]], **FAST).fit(Xg, y, sensitive_features=s)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_components": 0}, "n_components"),
        ({"beta": -1.0}, "beta"),
        ({"fairness_weight": -0.5}, "fairness_weight"),
        ({"alpha": -1.0}, "alpha"),
        ({"supervised": "yes"}, "supervised"),
        ({"categorical_groups": "all"}, "categorical_groups"),
    ],
)
def test_bad_parameters(params, match):
    X, y, s = _data(n=100)
    with pytest.raises(ValueError, match=match):
        ICVAE(**params).fit(X, y, sensitive_features=s)


def test_input_not_mutated():
    X, y, s = _data()
    Xc, yc, sc = X.copy(), y.copy(), s.copy()
    ICVAE(**FAST).fit(X, y, sensitive_features=s).transform(X)
    np.testing.assert_array_equal(X, Xc)
    np.testing.assert_array_equal(y, yc)
    np.testing.assert_array_equal(s, sc)


def test_icvae_us_invariance_term_reduces_leakage():
    """fairness_weight=0 keeps s in Z; the pairwise-KL term removes most of it."""
    X, y, s = _data(n=800)
    params = dict(FAST, max_epochs=20, supervised=False)
    Z0 = ICVAE(fairness_weight=0.0, **params).fit(X, sensitive_features=s).transform(X)
    Z1 = ICVAE(**params).fit(X, sensitive_features=s).transform(X)
    auc0, auc1 = _auc(Z0, s), _auc(Z1, s)
    assert auc0 > 0.8
    assert auc1 < auc0 - 0.15


def test_icvae_s_invariance_term_reduces_leakage_and_keeps_task():
    X, y, s = _independent_task()
    params = dict(FAST, max_epochs=20)
    Z0 = (
        ICVAE(fairness_weight=0.0, **params)
        .fit(X, y, sensitive_features=s)
        .transform(X)
    )
    model = ICVAE(**params).fit(X, y, sensitive_features=s)
    auc0, auc1 = _auc(Z0, s), _auc(model.transform(X), s)
    assert auc0 > 0.9
    assert auc1 < auc0 - 0.1
    assert model.score(X, y) > 0.9
