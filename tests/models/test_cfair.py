import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from torch.nn import functional as F

from skfrl.datasets import make_biased_classification
from skfrl.models import CFair


def _data(n=400, seed=0, **kwargs):
    return make_biased_classification(n_samples=n, random_state=seed, **kwargs)


def _probe_auc(Z, s):
    return cross_val_score(
        LogisticRegression(max_iter=1000), Z, s, cv=3, scoring="roc_auc"
    ).mean()


def _conditional_probe_auc(Z, s, y):
    """Mean over the classes of y of the probe AUC for s: what CFair removes."""
    return np.mean([_probe_auc(Z[y == k], s[y == k]) for k in np.unique(y)])


FAST = dict(max_epochs=10, batch_size=64, lr=5e-3, random_state=0)


def test_transform_predict_shapes_and_feature_names():
    X, y, s = _data()
    frl = CFair(n_components=3, **FAST).fit(X, y, sensitive_features=s)
    Z = frl.transform(X)
    assert Z.shape == (len(X), 3)
    assert Z.dtype == np.float32
    assert list(frl.get_feature_names_out()) == [f"cfair_z{i}" for i in range(3)]
    proba = frl.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert set(frl.predict(X)) <= {0, 1}


def test_pandas_input_and_set_output():
    X, y, s = _data(return_frame=True)
    y = y.map({0: "no", 1: "yes"})
    s = s.map({0: "f", 1: "m"})
    frl = CFair(n_components=2, **FAST).set_output(transform="pandas")
    Z = frl.fit(X, y, sensitive_features=s).transform(X)
    assert isinstance(Z, pd.DataFrame)
    assert list(Z.columns) == list(frl.get_feature_names_out())
    assert list(frl.feature_names_in_) == list(X.columns)
    assert set(frl.predict(X)) <= {"no", "yes"}


def test_conditional_adversaries_remove_s_given_y_and_can_fail():
    """No fairness weight leaves s in Z within each class of y; the default removes
    most of it.

    CFair targets equalized odds (Z independent of s given y), so the
    conditional probe is the quantity to test; the unconditional one falls
    too, but stays above what y alone reveals about s.
    """
    X, y, s = _data(n=1000)
    params = dict(FAST, max_epochs=20)
    Z0 = (
        CFair(fairness_weight=0.0, **params)
        .fit(X, y, sensitive_features=s)
        .transform(X)
    )
    frl = CFair(**params).fit(X, y, sensitive_features=s)
    Z1 = frl.transform(X)
    cond0, cond1 = _conditional_probe_auc(Z0, s, y), _conditional_probe_auc(Z1, s, y)
    assert cond0 > 0.75
    assert cond1 < cond0 - 0.1
    assert _probe_auc(Z1, s) < _probe_auc(Z0, s) - 0.03
    assert frl.score(X, y) > 0.8


def test_modes_set_the_task_weights_and_share_adversary_weights():
    # P(y=1) = 1/4; within y=0 the groups are 2:1, within y=1 1:1.
    y = np.r_[np.zeros(6, int), np.ones(2, int)]
    s = np.array([0, 0, 0, 0, 1, 1, 0, 1])
    X = np.random.default_rng(0).normal(size=(8, 3))
    small = dict(max_epochs=1, random_state=0)
    bal = CFair(mode="balanced", **small).fit(X, y, sensitive_features=s)
    eo = CFair(mode="eo", **small).fit(X, y, sensitive_features=s)
    # 1 / P(y), normalised to mean 1: (4/3, 4) / (8/3).
    np.testing.assert_allclose(bal.class_weights_, [0.5, 1.5])
    np.testing.assert_allclose(eo.class_weights_, [1.0, 1.0])
    # 1 / P(s | y = k), normalised to mean 1 per row.
    expected = np.array([[6 / 4, 6 / 2], [2 / 1, 2 / 1]])
    expected /= expected.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(bal.adversary_weights_, expected)
    np.testing.assert_allclose(eo.adversary_weights_, expected)


def test_vectorised_adversary_loss_matches_per_class_formula():
    X, y, s = _data(n=120, n_sensitive_classes=3)
    frl = CFair(**dict(FAST, max_epochs=1)).fit(X, y, sensitive_features=s)
    torch.manual_seed(0)
    out = torch.randn(2, 120, 3)
    yt, st = torch.as_tensor(y), torch.as_tensor(s)
    w = torch.as_tensor(frl.adversary_weights_, dtype=torch.float32)
    expected = torch.stack(
        [F.cross_entropy(out[k][yt == k], st[yt == k], weight=w[k]) for k in range(2)]
    ).mean()
    torch.testing.assert_close(frl._adversary_loss(out, yt, st), expected)


def test_multiclass_s_and_y():
    X, _, s = _data(n=300, n_sensitive_classes=3)
    y = np.digitize(X[:, 0] + X[:, 1], [-1.0, 1.0])
    frl = CFair(**FAST).fit(X, y, sensitive_features=s)
    assert frl.module_.adversaries.n_heads == 3
    assert frl.adversary_weights_.shape == (3, 3)
    assert frl.predict_proba(X).shape == (300, 3)


def test_same_random_state_same_result_and_rng_untouched():
    X, y, s = _data()
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = CFair(**FAST).fit(X, y, sensitive_features=s)
    after = torch.rand(1)
    b = clone(a).fit(X, y, sensitive_features=s)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    assert before.item() == after.item()
    c = clone(a).set_params(random_state=1).fit(X, y, sensitive_features=s)
    assert not np.allclose(a.transform(X), c.transform(X))


def test_pickle_round_trip_is_exact():
    X, y, s = _data()
    frl = CFair(**FAST).fit(X, y, sensitive_features=s)
    loaded = pickle.loads(pickle.dumps(frl))
    np.testing.assert_array_equal(frl.transform(X), loaded.transform(X))
    np.testing.assert_array_equal(frl.predict_proba(X), loaded.predict_proba(X))


def test_without_sensitive_features_trains_plain_classifier():
    X, y, _ = _data()
    frl = CFair(**FAST).fit(X, y)
    assert frl.sensitive_attributes_ == []
    assert frl.module_.adversaries is None
    assert frl.adversary_weights_ is None
    assert "optimizer_adv" not in frl._optimizers
    assert "adv_loss" not in frl.history_[-1]["batches"][-1]
    assert frl.score(X, y) > 0.8


@pytest.mark.parametrize(
    "sensitive, match",
    [
        (lambda s: np.column_stack([s, 1 - s]), "single sensitive attribute"),
        (lambda s: s + np.linspace(0, 0.5, len(s)), "continuous"),
    ],
)
def test_one_categorical_attribute_only(sensitive, match):
    X, y, s = _data()
    with pytest.raises(ValueError, match=match):
        CFair(**FAST).fit(X, y, sensitive_features=sensitive(s))


def test_optimizer_adv_params_are_routed_the_skorch_way():
    X, y, s = _data()
    frl = CFair(optimizer_adv__lr=0.05, **FAST).fit(X, y, sensitive_features=s)
    assert frl.optimizer_adv_.param_groups[0]["lr"] == 0.05
    assert frl.optimizer_.param_groups[0]["lr"] == FAST["lr"]
    assert clone(frl).get_params()["optimizer_adv__lr"] == 0.05


def test_adversary_lr_sets_the_adversaries_rate_unless_routed():
    X, y, s = _data(n=128)
    fast = dict(FAST, max_epochs=1)
    frl = CFair(**fast).fit(X, y, sensitive_features=s)
    assert frl.optimizer_adv_.param_groups[0]["lr"] == 1e-2
    frl = CFair(adversary_lr=None, **fast).fit(X, y, sensitive_features=s)
    assert frl.optimizer_adv_.param_groups[0]["lr"] == fast["lr"]
    frl = CFair(adversary_lr=0.2, optimizer_adv__lr=0.05, **fast)
    frl.fit(X, y, sensitive_features=s)
    assert frl.optimizer_adv_.param_groups[0]["lr"] == 0.05
    assert frl.optimizer_.param_groups[0]["lr"] == fast["lr"]


@pytest.mark.parametrize("steps", [1, 3])
def test_adversary_steps_counts_adversary_updates(steps):
    X, y, s = _data(n=256)
    frl = CFair(adversary_steps=steps, **dict(FAST, max_epochs=2)).fit(
        X, y, sensitive_features=s
    )
    adv_param = next(iter(frl.optimizer_adv_.state))
    enc_param = next(iter(frl.optimizer_.state))
    n_batches = 2 * (256 // 64)
    assert frl.optimizer_adv_.state[adv_param]["step"].item() == steps * n_batches
    assert frl.optimizer_.state[enc_param]["step"].item() == n_batches


def test_history_records_loss_components():
    X, y, s = _data()
    frl = CFair(**dict(FAST, max_epochs=2)).fit(X, y, sensitive_features=s)
    assert {"task_loss", "adv_loss", "train_loss"} <= set(
        frl.history_[-1]["batches"][-1]
    )


@pytest.mark.parametrize(
    "params, match",
    [
        ({"mode": "dp"}, "mode='dp'"),
        ({"mode": "cfair-dp"}, "'mode' parameter"),
        ({"fairness_weight": -1.0}, "'fairness_weight' parameter"),
        ({"adversary_steps": 0}, "'adversary_steps' parameter"),
        ({"adversary_lr": 0.0}, "'adversary_lr' parameter"),
        ({"n_components": 0}, "'n_components' parameter"),
        ({"max_grad_norm": 0.0}, "'max_grad_norm' parameter"),
    ],
)
def test_bad_parameters(params, match):
    X, y, s = _data()
    with pytest.raises(ValueError, match=match):
        CFair(**params).fit(X, y, sensitive_features=s)


def test_inputs_not_mutated():
    X, y, s = _data()
    Xc, yc, sc = X.copy(), y.copy(), s.copy()
    frl = CFair(**FAST).fit(X, y, sensitive_features=s)
    frl.transform(X)
    np.testing.assert_array_equal(X, Xc)
    np.testing.assert_array_equal(y, yc)
    np.testing.assert_array_equal(s, sc)
