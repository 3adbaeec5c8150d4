import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from fairlearn.metrics import demographic_parity_difference
from fairlearn.preprocessing import PrototypeRepresentationLearner
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from skfrl.datasets import make_biased_classification
from skfrl.models import LearnedFairRepresentation


def _data(n=400, seed=0, **kwargs):
    return make_biased_classification(n_samples=n, random_state=seed, **kwargs)


def _probe_auc(Z, s):
    return cross_val_score(
        LogisticRegression(max_iter=1000), Z, s, cv=3, scoring="roc_auc"
    ).mean()


FAST = dict(max_epochs=10, batch_size=64, random_state=0)


def test_memberships_shapes_and_feature_names():
    X, y, s = _data()
    lfr = LearnedFairRepresentation(n_components=4, **FAST)
    M = lfr.fit(X, y, sensitive_features=s).transform(X)
    assert M.shape == (len(X), 4)
    assert M.dtype == np.float32
    assert (M >= 0).all()
    np.testing.assert_allclose(M.sum(axis=1), 1.0, rtol=1e-5)
    names = list(lfr.get_feature_names_out())
    assert names == [f"learnedfairrepresentation_z{i}" for i in range(4)]
    assert lfr.prototypes_.shape == (4, X.shape[1])
    assert lfr.feature_weights_.shape == (X.shape[1],)
    assert (lfr.feature_weights_ > 0).all()
    # Predictions are M @ w, with w the prototypes' class distributions.
    np.testing.assert_allclose(
        lfr.predict_proba(X), M @ lfr.prototype_proba_, rtol=1e-4, atol=1e-6
    )


def test_pandas_input_and_set_output():
    X, y, s = _data(return_frame=True)
    y = y.map({0: "no", 1: "yes"})
    lfr = LearnedFairRepresentation(n_components=3, **FAST).set_output(
        transform="pandas"
    )
    M = lfr.fit(X, y, sensitive_features=s.map({0: "f", 1: "m"})).transform(X)
    assert isinstance(M, pd.DataFrame)
    assert list(M.columns) == list(lfr.get_feature_names_out())
    assert set(lfr.predict(X)) <= {"no", "yes"}


def test_parity_term_removes_leakage_and_can_fail():
    """fairness_weight=0 lets the memberships encode s; the default removes most."""
    X, y, s = _data(n=1000)
    params = dict(FAST, max_epochs=20)
    lfr0 = LearnedFairRepresentation(fairness_weight=0.0, **params)
    M0 = lfr0.fit(X, y, sensitive_features=s).transform(X)
    lfr1 = LearnedFairRepresentation(**params).fit(X, y, sensitive_features=s)
    M1 = lfr1.transform(X)
    auc0, auc1 = _probe_auc(M0, s), _probe_auc(M1, s)
    assert auc0 > 0.85
    assert auc1 < auc0 - 0.2
    dp0 = demographic_parity_difference(y, lfr0.predict(X), sensitive_features=s)
    dp1 = demographic_parity_difference(y, lfr1.predict(X), sensitive_features=s)
    assert dp1 < dp0 / 2
    assert lfr0.score(X, y) > 0.9


def test_parity_loss_is_the_papers_gap_for_two_groups():
    X, y, s = _data(n=100)
    lfr = LearnedFairRepresentation(**dict(FAST, max_epochs=1))
    lfr.fit(X, y, sensitive_features=s)
    M = torch.as_tensor(lfr.transform(X))
    s_cat = torch.as_tensor(s)[:, None]
    expected = (M[s == 0].mean(0) - M[s == 1].mean(0)).abs().sum()
    torch.testing.assert_close(lfr._parity_loss(M, s_cat), expected)
    # A batch holding one group only has no gap.
    assert lfr._parity_loss(M[s == 0], s_cat[s == 0]).item() == pytest.approx(
        0.0, abs=1e-6
    )


def test_both_lfr_implementations_reduce_the_parity_gap():
    """Ours and fairlearn's PrototypeRepresentationLearner at matched K, A_*."""
    X, y, s = _data(n=300)
    raw = LogisticRegression().fit(X, y).predict(X)
    dp_raw = demographic_parity_difference(y, raw, sensitive_features=s)
    k = 5
    ours = LearnedFairRepresentation(n_components=k, **dict(FAST, max_epochs=20))
    ours.fit(X, y, sensitive_features=s)
    # fairlearn averages the gap over prototypes, we sum: scale by K.
    theirs = PrototypeRepresentationLearner(
        n_prototypes=k,
        reconstruct_weight=ours.A_x,
        target_weight=ours.A_y,
        fairness_weight=k * ours.fairness_weight,
        max_iter=50,
        random_state=0,
    ).fit(X, y, sensitive_features=s)
    assert dp_raw > 0.5
    for model in (ours, theirs):
        dp = demographic_parity_difference(y, model.predict(X), sensitive_features=s)
        assert dp < dp_raw / 3, type(model).__name__
        assert _probe_auc(model.transform(X), s) < _probe_auc(X, s) - 0.2


def test_lbfgs_full_batch():
    X, y, s = _data(n=300)
    lfr = LearnedFairRepresentation(
        optimizer=torch.optim.LBFGS,
        lr=1.0,
        batch_size=-1,
        max_epochs=5,
        optimizer__line_search_fn="strong_wolfe",
        random_state=0,
    ).fit(X, y, sensitive_features=s)
    losses = lfr.history_[:, "train_loss"]
    assert len(lfr.history_[-1]["batches"]) == 1
    assert losses[-1] < losses[0]
    again = clone(lfr).fit(X, y, sensitive_features=s)
    np.testing.assert_array_equal(lfr.transform(X), again.transform(X))


def test_prototypes_start_on_training_rows():
    X, y, s = _data(n=50)
    lfr = LearnedFairRepresentation(n_components=4, lr=1e-9, max_epochs=1)
    lfr.fit(X, y, sensitive_features=s)
    dist = ((lfr.prototypes_[:, None, :] - X[None]) ** 2).sum(-1).min(axis=1)
    np.testing.assert_allclose(dist, 0.0, atol=1e-6)
    # alpha starts at 1 / total variance, so distances are of order 1.
    np.testing.assert_allclose(lfr.feature_weights_, 1 / X.var(axis=0).sum(), rtol=1e-3)


def test_fixed_feature_weights():
    X, y, s = _data()
    lfr = LearnedFairRepresentation(learn_feature_weights=False, **FAST)
    lfr.fit(X, y, sensitive_features=s)
    w = lfr.feature_weights_
    np.testing.assert_allclose(w, w[0])
    assert "alpha_raw" not in dict(lfr.module_.named_parameters())


def test_multiclass_y_and_several_categorical_attributes():
    X, _, s = _data(n=300, n_sensitive_classes=3)
    y = np.digitize(X[:, 0] + X[:, 1], [-1.0, 1.0])
    S = pd.DataFrame({"a": s, "b": (X[:, 2] > 0).astype(int)})
    lfr = LearnedFairRepresentation(**FAST).fit(X, y, sensitive_features=S)
    assert [a.n_classes for a in lfr.sensitive_attributes_] == [3, 2]
    assert lfr.predict_proba(X).shape == (300, 3)
    assert lfr.prototype_proba_.shape == (lfr.n_components, 3)


def test_continuous_attribute_raises():
    X, y, s = _data()
    with pytest.raises(ValueError, match="continuous"):
        LearnedFairRepresentation(**FAST).fit(
            X, y, sensitive_features=s + np.linspace(0, 0.5, len(s))
        )


def test_without_sensitive_features_has_no_parity_term():
    X, y, _ = _data()
    lfr = LearnedFairRepresentation(**FAST).fit(X, y)
    assert lfr.sensitive_attributes_ == []
    batch = lfr.history_[-1]["batches"][-1]
    assert {"recon_loss", "task_loss"} <= set(batch)
    assert "parity_loss" not in batch
    assert lfr.score(X, y) > 0.8


def test_same_random_state_same_result_and_rng_untouched():
    X, y, s = _data()
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = LearnedFairRepresentation(**FAST).fit(X, y, sensitive_features=s)
    after = torch.rand(1)
    b = clone(a).fit(X, y, sensitive_features=s)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    assert before.item() == after.item()
    c = clone(a).set_params(random_state=1).fit(X, y, sensitive_features=s)
    assert not np.allclose(a.transform(X), c.transform(X))


def test_pickle_round_trip_is_exact():
    X, y, s = _data()
    lfr = LearnedFairRepresentation(**FAST).fit(X, y, sensitive_features=s)
    loaded = pickle.loads(pickle.dumps(lfr))
    np.testing.assert_array_equal(lfr.transform(X), loaded.transform(X))
    np.testing.assert_array_equal(lfr.predict_proba(X), loaded.predict_proba(X))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"batch_size": 0}, "'batch_size' parameter"),
        ({"batch_size": -2}, "'batch_size' parameter"),
        ({"fairness_weight": -1.0}, "'fairness_weight' parameter"),
        ({"A_x": -1.0}, "'A_x' parameter"),
        ({"n_components": 0}, "'n_components' parameter"),
        ({"learn_feature_weights": "yes"}, "'learn_feature_weights' parameter"),
    ],
)
def test_bad_parameters(params, match):
    X, y, s = _data()
    with pytest.raises(ValueError, match=match):
        LearnedFairRepresentation(**params).fit(X, y, sensitive_features=s)


def test_inputs_not_mutated():
    X, y, s = _data()
    Xc, yc, sc = X.copy(), y.copy(), s.copy()
    lfr = LearnedFairRepresentation(**FAST).fit(X, y, sensitive_features=s)
    lfr.transform(X)
    np.testing.assert_array_equal(X, Xc)
    np.testing.assert_array_equal(y, yc)
    np.testing.assert_array_equal(s, sc)
