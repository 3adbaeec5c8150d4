"""warm_start on every neural model, and fine_tune (continued training)."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from skorch.callbacks import Callback

from skfrl.datasets import load_german, make_biased_classification, make_preprocessor
from skfrl.models import (
    ICVAE,
    VFAE,
    AdversarialFairRepresentation,
    AdversarialVAE,
    CFair,
    LearnedFairRepresentation,
)
from skfrl.utils import fine_tune

MODELS = [
    AdversarialFairRepresentation,
    AdversarialVAE,
    CFair,
    ICVAE,
    LearnedFairRepresentation,
    VFAE,
]


@pytest.fixture(scope="module")
def data():
    X, y, s = make_biased_classification(n_samples=200, random_state=0)
    return X.astype(np.float32), y, s


class _StartWeights(Callback):
    """Records the module's weights when each fit starts training."""

    def initialize(self):
        if not hasattr(self, "starts_"):
            self.starts_ = []
        return self

    def on_train_begin(self, net, **kwargs):
        self.starts_.append([p.detach().clone() for p in net.module_.parameters()])


def _weights(net):
    return [p.detach().clone() for p in net.module_.parameters()]


@pytest.mark.parametrize("Model", MODELS, ids=lambda m: m.__name__)
def test_warm_start_continues_from_the_current_weights(data, Model):
    X, y, s = data
    recorder = _StartWeights()
    net = Model(max_epochs=2, random_state=0, callbacks=[("start", recorder)])
    if "averaging_epochs" in net.get_params():
        # With averaging the module shows the average after fit and a warm
        # start resumes the raw iterate (tested below).
        net.set_params(averaging_epochs=None)
    assert net.get_params()["warm_start"] is False
    net.fit(X, y, sensitive_features=s)
    trained = _weights(net)
    net.set_params(warm_start=True, max_epochs=1).fit(X, y, sensitive_features=s)
    assert len(net.history) == 3
    # The second fit started from the first fit's final weights ...
    for p, q in zip(recorder.starts_[-1], trained, strict=True):
        assert torch.equal(p, q)
    # ... and moved them.
    assert any(
        not torch.equal(p, q) for p, q in zip(_weights(net), trained, strict=True)
    )
    # warm_start=False starts afresh.
    net.set_params(warm_start=False, max_epochs=2).fit(X, y, sensitive_features=s)
    assert len(net.history) == 2


def test_warm_start_refuses_incompatible_data(data):
    X, y, s = data
    net = CFair(max_epochs=1, random_state=0).fit(X, y, sensitive_features=s)
    net.set_params(warm_start=True)
    with pytest.raises(ValueError, match="features"):
        net.fit(X[:, :-1], y, sensitive_features=s)
    with pytest.raises(ValueError, match="groups"):
        net.fit(X, y, sensitive_features=np.where(s == 1, "a", "b"))


def test_cfair_warm_start_recomputes_base_rate_weights(data):
    X, y, s = data
    net = CFair(max_epochs=1, random_state=0).fit(X, y, sensitive_features=s)
    old = net.adversary_weights_.copy()
    # Extra rows of one (y, s) cell change the base rates.
    cell = np.flatnonzero((y == 1) & (s == 0))
    X2 = np.vstack([X, np.repeat(X[cell], 5, axis=0)])
    y2, s2 = np.r_[y, np.repeat(y[cell], 5)], np.r_[s, np.repeat(s[cell], 5)]
    net.set_params(warm_start=True).fit(X2, y2, sensitive_features=s2)
    assert not np.allclose(net.adversary_weights_, old)
    np.testing.assert_allclose(
        net._adv_weights_t.numpy(), net.adversary_weights_, rtol=1e-6
    )


def test_fine_tune_copies_continues_and_leaves_the_original(data):
    X, y, s = data
    clean = CFair(max_epochs=2, random_state=0).fit(X, y, sensitive_features=s)
    before = _weights(clean)
    tuned = fine_tune(clean, X, y, s, epochs=3)
    assert len(tuned.history) == 5
    assert len(clean.history) == 2
    for p, q in zip(before, _weights(clean), strict=True):
        assert torch.equal(p, q)
    # The copy's parameters are restored: it refits like the original.
    assert tuned.get_params()["warm_start"] is False
    assert tuned.get_params()["max_epochs"] == 2


def test_fine_tune_is_deterministic(data):
    X, y, s = data
    clean = CFair(max_epochs=2, random_state=0).fit(X, y, sensitive_features=s)
    a = fine_tune(clean, X, y, s, epochs=1).transform(X)
    b = fine_tune(clean, X, y, s, epochs=1).transform(X)
    np.testing.assert_array_equal(a, b)


def test_fine_tune_pipeline_keeps_preprocessing_and_refits_downstream():
    X, y, s = load_german(sensitive="age", return_X_y_s=True)
    X, y, s = X.iloc[:200], y.iloc[:200], s.iloc[:200]
    pipe = make_pipeline(
        make_preprocessor(X),
        CFair(max_epochs=2, random_state=0),
        LogisticRegression(),
    )
    pipe.fit(X, y, cfair__sensitive_features=s)
    tuned = fine_tune(pipe, X.iloc[:150], y.iloc[:150], s.iloc[:150], epochs=1)
    # Preprocessing was not refitted on the new rows: same encoding.
    np.testing.assert_array_equal(tuned[0].transform(X), pipe[0].transform(X))
    assert len(tuned[1].history) == 3
    # The downstream model was refitted on the new representation.
    Z = tuned[1].transform(tuned[0].transform(X.iloc[:150]))
    expected = clone(pipe[2]).fit(Z, y.iloc[:150])
    np.testing.assert_allclose(tuned[2].coef_, expected.coef_)


def test_fine_tune_rejects_what_it_cannot_continue(data):
    X, y, s = data
    with pytest.raises(TypeError, match="fitted"):
        fine_tune(CFair(), X, y, s, epochs=1)
    with pytest.raises(TypeError, match="fitted"):
        fine_tune(LogisticRegression().fit(X, y), X, y, s, epochs=1)
    clean = CFair(max_epochs=1, random_state=0).fit(X, y, sensitive_features=s)
    with pytest.raises(ValueError, match="epochs"):
        fine_tune(clean, X, y, s, epochs=0)
    with pytest.raises(TypeError, match="epochs"):
        fine_tune(clean, X, y, s, epochs=1.5)


# -- weight averaging ------------------------------------------------------------
def test_weight_averaging_with_a_tiny_horizon_is_the_last_iterate(data):
    X, y, s = data
    plain = CFair(max_epochs=3, random_state=0).fit(X, y, sensitive_features=s)
    averaged = CFair(max_epochs=3, averaging_epochs=1e-9, random_state=0)
    averaged.fit(X, y, sensitive_features=s)
    np.testing.assert_allclose(averaged.transform(X), plain.transform(X), atol=1e-6)


def test_weight_averaging_exposes_the_average_and_keeps_the_raw_iterate(data):
    X, y, s = data
    plain = CFair(max_epochs=4, random_state=0).fit(X, y, sensitive_features=s)
    averaged = CFair(max_epochs=4, averaging_epochs=2.0, random_state=0)
    averaged.fit(X, y, sensitive_features=s)
    cb = dict(averaged.callbacks_)["weight_averaging"]
    # Training itself is unchanged: the raw iterate is the plain model's.
    for key, value in plain.module_.state_dict().items():
        torch.testing.assert_close(cb.raw_weights_[key], value)
    assert not np.allclose(averaged.transform(X), plain.transform(X))
    for key, value in averaged.module_.state_dict().items():
        torch.testing.assert_close(cb.average_[key], value)
    # A warm start continues the raw trajectory, exactly like the plain model.
    plain.set_params(warm_start=True, max_epochs=1).fit(X, y, sensitive_features=s)
    averaged.set_params(warm_start=True, max_epochs=1)
    averaged.fit(X, y, sensitive_features=s)
    for key, value in plain.module_.state_dict().items():
        torch.testing.assert_close(cb.raw_weights_[key], value)
    # A fitted averaged model can still be cloned.
    assert clone(averaged).get_params()["averaging_epochs"] == 2.0


def test_weight_averaging_rejects_bad_horizons(data):
    X, y, s = data
    with pytest.raises(ValueError, match="averaging_epochs"):
        CFair(averaging_epochs=0.0).fit(X, y, sensitive_features=s)


def test_fit_with_sensitive_skips_estimators_that_cannot_take_it(data):
    import sklearn
    from sklearn.preprocessing import StandardScaler

    from skfrl.utils import fit_with_sensitive

    X, y, s = data
    with sklearn.config_context(enable_metadata_routing=True):
        fit_with_sensitive(LogisticRegression(), X, y, s)
        fit_with_sensitive(
            make_pipeline(StandardScaler(), LogisticRegression()), X, y, s
        )
        frl = CFair(max_epochs=1, random_state=0).set_fit_request(
            sensitive_features=True
        )
        pipe = fit_with_sensitive(make_pipeline(frl, LogisticRegression()), X, y, s)
        assert pipe[0].sensitive_attributes_  # routed to the FRL step
