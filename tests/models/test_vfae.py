import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone

from skfrl.datasets import make_biased_classification
from skfrl.metrics import representation_leakage
from skfrl.models import VFAE

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


@pytest.mark.parametrize("encoder_sensitive", [False, True])
def test_shapes_dtype_names_and_predictions(encoder_sensitive):
    X, y, s = _independent_task(n=400)
    params = dict(FAST, max_epochs=20)
    model = VFAE(n_components=3, encoder_sensitive=encoder_sensitive, **params)
    Z = model.fit(X, y, sensitive_features=s).transform(X)
    assert Z.shape == (len(X), 3)
    assert Z.dtype == np.float32
    assert list(model.get_feature_names_out()) == [f"vfae_z{i}" for i in range(3)]
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    # The marginalised encoder is an approximation of the training one.
    assert model.score(X, y) > (0.6 if encoder_sensitive else 0.75)
    n_in = model.module_.encoder.net[0].in_features
    assert n_in == X.shape[1] + (2 if encoder_sensitive else 0)
    assert model.module_.decoder[0].in_features == 3 + 2


def test_encoder_sensitive_transform_marginalises_s():
    X, y, s = _data()
    model = VFAE(encoder_sensitive=True, **FAST).fit(X, y, sensitive_features=s)
    module = model.module_
    x = torch.as_tensor(X, dtype=torch.float32)
    with torch.no_grad():
        mus = [
            module.encoder(torch.cat([x, torch.eye(2)[[g] * len(x)]], dim=1))[0]
            for g in (0, 1)
        ]
    p1 = s.mean()
    expected = (1 - p1) * mus[0] + p1 * mus[1]
    np.testing.assert_allclose(model.transform(X), expected.numpy(), atol=1e-5)


def test_pandas_input_and_set_output():
    X, y, s = make_biased_classification(
        n_samples=300, random_state=0, return_frame=True
    )
    model = VFAE(n_components=2, **FAST).set_output(transform="pandas")
    Z = model.fit(X, y, sensitive_features=s).transform(X)
    assert isinstance(Z, pd.DataFrame)
    assert list(Z.columns) == list(model.get_feature_names_out())
    Z_np = clone(model).set_output(transform="default")
    Z_np = Z_np.fit(X.to_numpy(), y.to_numpy(), sensitive_features=s.to_numpy())
    np.testing.assert_allclose(Z_np.transform(X.to_numpy()), Z.to_numpy())


def test_determinism_and_caller_rng_untouched():
    X, y, s = _data()
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = VFAE(**FAST).fit(X, y, sensitive_features=s)
    after = torch.rand(1)
    assert before.item() == after.item()
    b = clone(a).fit(X, y, sensitive_features=s)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    torch.testing.assert_close(a.module_.mmd.weight, b.module_.mmd.weight)
    c = clone(a).set_params(random_state=1).fit(X, y, sensitive_features=s)
    assert not np.allclose(a.transform(X), c.transform(X))


@pytest.mark.parametrize("encoder_sensitive", [False, True])
def test_pickle_round_trip_is_exact(encoder_sensitive):
    X, y, s = _data()
    model = VFAE(encoder_sensitive=encoder_sensitive, **FAST)
    model.fit(X, y, sensitive_features=s)
    loaded = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(model.transform(X), loaded.transform(X))
    np.testing.assert_array_equal(model.predict_proba(X), loaded.predict_proba(X))


def test_without_sensitive_features_trains_without_mmd():
    X, y, _ = _data()
    model = VFAE(encoder_sensitive=True, **FAST).fit(X, y)
    assert model.sensitive_attributes_ == []
    assert model.module_.encoder.net[0].in_features == X.shape[1]
    assert model.module_.decoder[0].in_features == model.n_components
    batch = model.history_[-1]["batches"][-1]
    assert "mmd_loss" not in batch
    assert {"recon_loss", "kl_loss", "task_loss"} <= set(batch)
    assert model.score(X, y) > 0.8


def test_several_categorical_attributes():
    X, y, s = _data()
    race = np.random.default_rng(0).choice(["a", "b", "c"], size=len(X))
    S = pd.DataFrame({"sex": np.where(s == 1, "m", "f"), "race": race})
    S_before = S.copy()
    model = VFAE(n_components=4, encoder_sensitive=True, **FAST)
    model.fit(X, y, sensitive_features=S)
    pd.testing.assert_frame_equal(S, S_before)
    assert [a.name for a in model.sensitive_attributes_] == ["sex", "race"]
    assert model.module_.decoder[0].in_features == 4 + 2 + 3
    # Six joint groups, weighted by their training frequencies.
    assert model.module_.s_combos.shape == (6, 2)
    assert model.module_.s_weights.sum().item() == pytest.approx(1.0)
    assert "mmd_loss" in model.history_[-1]["batches"][-1]
    assert model.transform(X).shape == (len(X), 4)


def test_continuous_sensitive_attribute_is_rejected():
    X, y, _ = _data()
    age = np.random.default_rng(0).normal(40, 10, size=len(X))
    with pytest.raises(ValueError, match="continuous"):
        VFAE(**FAST).fit(X, y, sensitive_features=age)
    # Only the models that accept continuous attributes take sensitive_kinds.
    assert "sensitive_kinds" not in VFAE().get_params()
    with pytest.raises(ValueError, match="sensitive_kinds"):
        VFAE(sensitive_kinds="continuous", **FAST).fit(
            X, y, sensitive_features=np.arange(len(X)) % 2
        )


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_components": 0}, "n_components"),
        ({"beta": -1.0}, "beta"),
        ({"fairness_weight": -1.0}, "fairness_weight"),
        ({"alpha": -1.0}, "alpha"),
        ({"mmd_features": 0}, "mmd_features"),
        ({"mmd_bandwidth": 0.0}, "mmd_bandwidth"),
        ({"encoder_sensitive": "yes"}, "encoder_sensitive"),
    ],
)
def test_bad_parameters(params, match):
    X, y, s = _data(n=100)
    with pytest.raises(ValueError, match=match):
        VFAE(**params).fit(X, y, sensitive_features=s)


def test_requires_y():
    X, _, s = _data()
    with pytest.raises(ValueError, match="requires y"):
        VFAE(**FAST).fit(X, sensitive_features=s)


def test_input_not_mutated():
    X, y, s = _data()
    Xc, yc, sc = X.copy(), y.copy(), s.copy()
    VFAE(**FAST).fit(X, y, sensitive_features=s).transform(X)
    np.testing.assert_array_equal(X, Xc)
    np.testing.assert_array_equal(y, yc)
    np.testing.assert_array_equal(s, sc)


def test_mmd_penalty_reduces_leakage_and_keeps_task():
    """fairness_weight=0 leaves s in Z; the MMD penalty removes much of it."""
    X, y, s = _independent_task()
    params = dict(FAST, max_epochs=20)
    Z0 = (
        VFAE(fairness_weight=0.0, **params).fit(X, y, sensitive_features=s).transform(X)
    )
    model = VFAE(**params).fit(X, y, sensitive_features=s)
    auc0, auc1 = _auc(Z0, s), _auc(model.transform(X), s)
    assert auc0 > 0.75
    assert auc1 < auc0 - 0.1
    assert model.score(X, y) > 0.9
