import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from skfrl.models import AdversarialFairRepresentation


def _planted(n=600, seed=0):
    """Data where s is visible in X and y depends on other features."""
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 2, n)
    X = rng.normal(size=(n, 6))
    X[:, 0] += 2.0 * s
    X[:, 1] += 1.5 * s
    y = (X[:, 2] + X[:, 3] + 0.3 * rng.normal(size=n) > 0).astype(int)
    return X, y, s


def _probe_auc(Z, s):
    return cross_val_score(
        LogisticRegression(max_iter=1000), Z, s, cv=3, scoring="roc_auc"
    ).mean()


FAST = dict(max_epochs=15, batch_size=64, lr=5e-3, random_state=0)


def test_transform_shape_dtype_and_feature_names():
    X, y, s = _planted()
    frl = AdversarialFairRepresentation(n_components=3, **FAST)
    Z = frl.fit(X, y, sensitive_features=s).transform(X)
    assert Z.shape == (len(X), 3)
    assert Z.dtype == np.float32
    names = frl.get_feature_names_out()
    assert list(names) == [f"adversarialfairrepresentation_z{i}" for i in range(3)]
    assert set(frl.classes_) == {0, 1}
    assert frl.predict_proba(X).shape == (len(X), 2)
    np.testing.assert_allclose(frl.predict_proba(X).sum(axis=1), 1.0, rtol=1e-6)


def test_set_output_pandas():
    X, y, s = _planted()
    frl = AdversarialFairRepresentation(n_components=2, **FAST).set_output(
        transform="pandas"
    )
    Z = frl.fit(X, y, sensitive_features=s).transform(X)
    assert isinstance(Z, pd.DataFrame)
    assert list(Z.columns) == list(frl.get_feature_names_out())


def test_adversary_reduces_leakage_and_can_fail():
    """fairness_weight=0 leaves s in Z; a strong adversary removes most of it."""
    X, y, s = _planted(n=1200)
    params = dict(FAST, max_epochs=40)
    Z0 = (
        AdversarialFairRepresentation(fairness_weight=0.0, **params)
        .fit(X, y, sensitive_features=s)
        .transform(X)
    )
    frl = AdversarialFairRepresentation(fairness_weight=3.0, **params).fit(
        X, y, sensitive_features=s
    )
    Z1 = frl.transform(X)
    auc0, auc1 = _probe_auc(Z0, s), _probe_auc(Z1, s)
    assert auc0 > 0.85
    assert auc1 < auc0 - 0.15
    # The task is still learned.
    assert frl.score(X, y) > 0.8


def test_same_random_state_same_result_and_rng_untouched():
    X, y, s = _planted()
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = AdversarialFairRepresentation(**FAST).fit(X, y, sensitive_features=s)
    after = torch.rand(1)
    b = clone(a).fit(X, y, sensitive_features=s)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    # fit runs under a forked RNG: the caller's torch stream is not consumed.
    assert before.item() == after.item()
    c = clone(a).set_params(random_state=1).fit(X, y, sensitive_features=s)
    assert not np.allclose(a.transform(X), c.transform(X))


def test_pickle_round_trip_is_exact():
    X, y, s = _planted()
    frl = AdversarialFairRepresentation(**FAST).fit(X, y, sensitive_features=s)
    loaded = pickle.loads(pickle.dumps(frl))
    np.testing.assert_array_equal(frl.transform(X), loaded.transform(X))
    np.testing.assert_array_equal(frl.predict(X), loaded.predict(X))


def test_multiple_attributes_categorical_and_continuous():
    rng = np.random.default_rng(0)
    X, y, s = _planted(n=800)
    age = 30 + 10 * rng.normal(size=len(X))
    X = X.copy()
    X[:, 4] += age / 10
    S = pd.DataFrame({"sex": np.where(s == 1, "m", "f"), "age": age})
    S_before = S.copy()
    frl = AdversarialFairRepresentation(
        fairness_weight={"sex": 2.0, "age": 1.0}, **FAST
    ).fit(X, y, sensitive_features=S)
    pd.testing.assert_frame_equal(S, S_before)
    kinds = {a.name: a.kind for a in frl.sensitive_attributes_}
    assert kinds == {"sex": "categorical", "age": "continuous"}
    assert len(frl.module_.adversaries) == 2
    assert frl.transform(X).shape == (len(X), frl.n_components)
    # Declared kinds override inference.
    frl2 = AdversarialFairRepresentation(
        sensitive_kinds={"age": "categorical"}, **dict(FAST, max_epochs=1)
    )
    with pytest.raises(ValueError, match="fairness_weight names unknown"):
        AdversarialFairRepresentation(fairness_weight={"race": 1.0}, **FAST).fit(
            X, y, sensitive_features=S
        )
    S_small = S.assign(age=(S["age"] > 30).map({True: "old", False: "young"}))
    frl2.fit(X, y, sensitive_features=S_small)
    assert all(a.kind == "categorical" for a in frl2.sensitive_attributes_)


def test_without_sensitive_features_trains_plain_classifier():
    X, y, _ = _planted()
    frl = AdversarialFairRepresentation(**FAST).fit(X, y)
    assert frl.sensitive_attributes_ == []
    assert len(frl.module_.adversaries) == 0
    assert "optimizer_adv" not in frl._optimizers
    assert frl.score(X, y) > 0.8


def test_optimizer_adv_params_are_routed_the_skorch_way():
    X, y, s = _planted()
    frl = AdversarialFairRepresentation(optimizer_adv__lr=0.05, **FAST)
    frl.fit(X, y, sensitive_features=s)
    assert frl.optimizer_adv_.param_groups[0]["lr"] == 0.05
    assert frl.optimizer_.param_groups[0]["lr"] == FAST["lr"]
    assert clone(frl).get_params()["optimizer_adv__lr"] == 0.05
    frl.set_params(optimizer_adv__lr=0.01)
    assert frl.get_params()["optimizer_adv__lr"] == 0.01


def test_history_records_loss_components():
    X, y, s = _planted()
    frl = AdversarialFairRepresentation(**dict(FAST, max_epochs=2))
    frl.fit(X, y, sensitive_features=s)
    assert len(frl.history_) == 2
    batch = frl.history_[-1]["batches"][-1]
    assert {"task_loss", "adv_loss", "train_loss"} <= set(batch)


def test_early_stopping_stops_and_uses_validation_loss():
    X, y, s = _planted()
    frl = AdversarialFairRepresentation(
        early_stopping=True, n_iter_no_change=2, **dict(FAST, max_epochs=200)
    ).fit(X, y, sensitive_features=s)
    assert "valid_loss" in frl.history_[-1]
    assert len(frl.history_) < 200


def test_verbose_prints_progress(capsys):
    X, y, s = _planted(n=200)
    AdversarialFairRepresentation(verbose=1, **dict(FAST, max_epochs=2)).fit(
        X, y, sensitive_features=s
    )
    out = capsys.readouterr()
    assert "train_loss" in out.out


class _NaNLoss(AdversarialFairRepresentation):
    def get_loss(self, y_pred, y_true, X=None, training=False):
        loss = super().get_loss(y_pred, y_true, X=X, training=training)
        return loss * float("nan")


def test_nan_loss_raises_clear_error():
    X, y, s = _planted()
    frl = _NaNLoss(**dict(FAST, max_epochs=2))
    with pytest.raises(FloatingPointError, match="training loss became"):
        frl.fit(X, y, sensitive_features=s)


@pytest.mark.parametrize(
    "s, match",
    [
        (np.zeros(600), "single group"),
        (np.r_[np.nan, np.ones(599)], "NaN"),
        (np.ones(10), "same length"),
    ],
)
def test_bad_sensitive_features(s, match):
    X, y, _ = _planted()
    with pytest.raises(ValueError, match=match):
        AdversarialFairRepresentation(**FAST).fit(X, y, sensitive_features=s)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_components": 0}, "n_components"),
        ({"fairness_weight": -1.0}, "fairness_weight"),
        ({"max_epochs": 0}, "max_epochs"),
        ({"adversary_dropout": 1.5}, "adversary_dropout"),
    ],
)
def test_bad_parameters(params, match):
    X, y, s = _planted()
    with pytest.raises(ValueError, match=match):
        AdversarialFairRepresentation(**params).fit(X, y, sensitive_features=s)


def test_requires_y_and_numeric_X():
    X, y, s = _planted()
    with pytest.raises(ValueError, match="requires y"):
        AdversarialFairRepresentation(**FAST).fit(X, sensitive_features=s)
    Xdf = pd.DataFrame({"a": ["x", "y"] * 300, "b": np.arange(600.0)})
    with pytest.raises(ValueError, match="could not convert|convert"):
        AdversarialFairRepresentation(**FAST).fit(Xdf, y, sensitive_features=s)


def test_input_not_mutated():
    X, y, s = _planted()
    Xc, yc, sc = X.copy(), y.copy(), s.copy()
    frl = AdversarialFairRepresentation(**FAST).fit(X, y, sensitive_features=s)
    frl.transform(X)
    np.testing.assert_array_equal(X, Xc)
    np.testing.assert_array_equal(y, yc)
    np.testing.assert_array_equal(s, sc)


def test_partial_fit_is_hidden():
    assert not hasattr(AdversarialFairRepresentation(), "partial_fit")


@pytest.mark.parametrize("steps", [1, 3])
def test_adversary_steps_counts_adversary_updates(steps):
    X, y, s = _planted(n=256)
    frl = AdversarialFairRepresentation(
        adversary_steps=steps, **dict(FAST, max_epochs=2, batch_size=64)
    ).fit(X, y, sensitive_features=s)
    param = next(iter(frl.optimizer_adv_.state))
    encoder_param = next(iter(frl.optimizer_.state))
    n_batches = 2 * (256 // 64)
    assert frl.optimizer_adv_.state[param]["step"].item() == steps * n_batches
    assert frl.optimizer_.state[encoder_param]["step"].item() == n_batches


def test_training_batches_are_shuffled_by_default():
    X, y, s = _planted(n=128)
    frl = AdversarialFairRepresentation(**dict(FAST, max_epochs=1))
    frl.fit(X, y, sensitive_features=s)
    dataset = frl.get_dataset({"X": X.astype("float32")}, y)
    first = next(iter(frl.get_iterator(dataset, training=True)))[1]
    assert not np.array_equal(first.numpy(), y[: len(first)])
    frl.set_params(iterator_train__shuffle=False)
    first = next(iter(frl.get_iterator(dataset, training=True)))[1]
    np.testing.assert_array_equal(first.numpy(), y[: len(first)])
