"""Regression tests: divergence guard of BaseFairNet, LFR on huge inputs."""

import numpy as np
import pytest
import torch

from skfrl._base import _DIVERGENCE_FACTOR
from skfrl.datasets import make_biased_classification
from skfrl.models import (
    VFAE,
    AdversarialFairRepresentation,
    LearnedFairRepresentation,
)


@pytest.fixture(scope="module")
def data():
    return make_biased_classification(n_samples=200, random_state=0)


def _batch_losses(model):
    return np.array([b["train_loss"] for ep in model.history for b in ep["batches"]])


# -- divergence guard ------------------------------------------------------------
@pytest.mark.parametrize("random_state", [0, 1, 2])
def test_exploding_finite_loss_raises(data, random_state):
    # lr=1e3 takes the loss from ~1.4 to ~1e15 in one step; it stays finite,
    # so only the divergence guard stops it.
    X, y, s = data
    model = AdversarialFairRepresentation(
        lr=1e3, max_epochs=3, random_state=random_state
    )
    with pytest.raises(
        FloatingPointError, match=r"training diverged.*Lower lr.*max_grad_norm"
    ):
        model.fit(X, y, sensitive_features=s)


def test_divergence_guard_is_reset_by_each_fit(data):
    X, y, s = data
    model = VFAE(max_epochs=2, batch_size=50, random_state=0)
    model.fit(X, y, sensitive_features=s)
    assert model._loss_reference == _batch_losses(model)[0]
    # Unscaled data start from a loss ~1e12, far beyond 1e6 times the first
    # fit's (~10): the reference is each fit's own first batch, so it trains.
    model.fit(X * 1e6, y, sensitive_features=s)
    losses = _batch_losses(model)
    assert model._loss_reference == losses[0] > 1e6 * 100
    assert np.isfinite(model.transform(X * 1e6)).all()


def test_divergence_guard_does_not_fire_on_normal_training(data):
    X, y, s = data
    model = AdversarialFairRepresentation(max_epochs=3, batch_size=32, random_state=0)
    model.fit(X, y, sensitive_features=s)
    losses = np.abs(_batch_losses(model))
    assert losses.max() < 10 * max(1.0, losses[0]) < _DIVERGENCE_FACTOR
    # A warm start continues under the same rule.
    model.set_params(warm_start=True).fit(X, y, sensitive_features=s)
    assert len(model.history) == 6


def test_lbfgs_lfr_still_trains(data):
    X, y, s = data
    lfr = LearnedFairRepresentation(
        n_components=4,
        optimizer=torch.optim.LBFGS,
        lr=1.0,
        batch_size=-1,
        max_epochs=2,
        random_state=0,
    ).fit(X, y, sensitive_features=s)
    assert np.isfinite(lfr.transform(X)).all()


# -- LFR on huge inputs ---------------------------------------------------------------
@pytest.fixture(scope="module")
def lfr(data):
    X, y, s = data
    return LearnedFairRepresentation(n_components=5, max_epochs=3, random_state=0).fit(
        X, y, sensitive_features=s
    )


@pytest.mark.parametrize("scale", [1e20, -1e20, 1e30, 1e37])
def test_lfr_huge_finite_inputs_give_finite_memberships(data, lfr, scale):
    X, _, _ = data
    M = lfr.transform(X * scale)
    assert np.isfinite(M).all()
    np.testing.assert_allclose(M.sum(axis=1), 1.0, atol=1e-5)
    proba = lfr.predict_proba(X * scale)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert set(lfr.predict(X * scale)) <= set(lfr.classes_)


def test_lfr_huge_inputs_go_to_the_nearest_prototype(data, lfr):
    # Far along x, the prototype with the largest x . (alpha * v_k) - the
    # nearest one - takes all the mass.
    X, _, _ = data
    x = X[:20] * 1e25
    alpha, v = lfr.feature_weights_.astype(np.float64), lfr.prototypes_
    expected = np.argmax(2 * (x * alpha) @ v.T - (v * v) @ alpha, axis=1)
    np.testing.assert_array_equal(lfr.transform(x).argmax(axis=1), expected)


def test_lfr_stable_memberships_match_encode_on_normal_data(data, lfr):
    X, _, _ = data
    x = torch.as_tensor(X, dtype=torch.float32)
    module = lfr.module_
    with torch.no_grad():
        np.testing.assert_allclose(
            module._stable_memberships(x).numpy(), module.encode(x).numpy(), atol=1e-5
        )


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_lfr_values_beyond_float32_are_refused(data, lfr):
    X, _, _ = data
    with pytest.raises(ValueError, match=r"X has values beyond the float32 range"):
        lfr.transform(X * 1e39)
    with pytest.raises(ValueError, match=r"X has values beyond the float32 range"):
        lfr.predict_proba(X * 1e39)
