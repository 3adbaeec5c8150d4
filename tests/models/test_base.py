"""What BaseFairNet and the mixins give every model: loss terms, options, encoding.

Also what BaseSkorchEstimator gives both skorch families (the FRL models and
RobustMLPClassifier): seeding, pickling, fitted state, thread bounds.
"""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone

from skfrl._base import BaseSkorchEstimator
from skfrl.datasets import make_biased_classification
from skfrl.defenses import RobustMLPClassifier
from skfrl.models import (
    ICVAE,
    VFAE,
    AdversarialFairRepresentation,
    AdversarialVAE,
    CFair,
    LearnedFairRepresentation,
)

FAST = dict(max_epochs=2, batch_size=64, random_state=0)
ALL = [
    AdversarialFairRepresentation,
    AdversarialVAE,
    CFair,
    ICVAE,
    LearnedFairRepresentation,
    VFAE,
]
# The history entries each model records per batch, with sensitive features.
TERMS = {
    AdversarialFairRepresentation: {"task_loss", "adv_loss"},
    AdversarialVAE: {"recon_loss", "kl_loss", "adv_loss"},
    CFair: {"task_loss", "adv_loss"},
    ICVAE: {"recon_loss", "kl_loss", "pairwise_kl", "task_loss"},
    LearnedFairRepresentation: {"recon_loss", "task_loss", "parity_loss"},
    VFAE: {"recon_loss", "kl_loss", "task_loss", "mmd_loss"},
}


@pytest.fixture(scope="module")
def data():
    return make_biased_classification(n_samples=200, random_state=0)


def _fit(cls, data, **params):
    X, y, s = data
    return cls(**dict(FAST, **params)).fit(X, y, sensitive_features=s)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_get_loss_has_no_side_effect_and_terms_reach_the_history(cls, data):
    model = _fit(cls, data, early_stopping=True, validation_fraction=0.25)
    for batch in model.history_[-1]["batches"]:
        assert TERMS[cls] <= set(batch), batch
    assert any("valid_loss" in b for b in model.history_[-1]["batches"])
    before = [dict(b) for b in model.history_[-1]["batches"]]
    X, y, s = data
    batch = {"X": torch.as_tensor(X[:32], dtype=torch.float32)}
    encoded = model.sensitive_encoder_.transform(s)
    batch |= {k: torch.as_tensor(v[:32]) for k, v in encoded.items()}
    model.module_.train()
    loss = model.get_loss(
        model.infer(batch), torch.as_tensor(y[:32]), X=batch, training=True
    )
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert set(loss.loss_parts) == TERMS[cls]
    assert [dict(b) for b in model.history_[-1]["batches"]] == before


def test_lbfgs_records_the_terms_of_the_loss_it_reports(data):
    model = _fit(
        LearnedFairRepresentation,
        data,
        optimizer=torch.optim.LBFGS,
        lr=1.0,
        batch_size=-1,
        max_epochs=3,
    )
    for epoch in model.history_:
        (b,) = epoch["batches"]
        total = (
            model.A_x * b["recon_loss"]
            + model.A_y * b["task_loss"]
            + model.fairness_weight * b["parity_loss"]
        )
        assert total == pytest.approx(b["train_loss"], rel=1e-5)


@pytest.mark.parametrize(
    "cls",
    [AdversarialFairRepresentation, CFair, AdversarialVAE],
    ids=lambda c: c.__name__,
)
def test_adversary_catch_up_clips_like_the_joint_step(cls, data, monkeypatch):
    calls = []
    clip = torch.nn.utils.clip_grad_norm_

    def spy(params, max_norm, *args, **kwargs):
        params = list(params)
        calls.append(({id(p) for p in params}, max_norm))
        return clip(params, max_norm, *args, **kwargs)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    model = _fit(cls, data, max_grad_norm=0.5, adversary_steps=3, max_epochs=1)
    adversaries = {id(p) for p in model.module_.adversaries.parameters()}
    catch_up = [c for c in calls if c[0] == adversaries]
    n_batches = len(model.history_[-1]["batches"])
    # Two adversary-only steps per batch, each clipped to max_grad_norm.
    assert len(catch_up) == 2 * n_batches
    assert {max_norm for _, max_norm in catch_up} == {0.5}


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_options_live_only_on_the_models_that_have_them(cls):
    params = cls().get_params()
    assert "fairness_weight" in params
    for old in ("lambda_adv", "lambda_inv", "lambda_mmd", "mu", "A_z"):
        assert old not in params
    adversarial = cls in (AdversarialFairRepresentation, CFair, AdversarialVAE)
    assert ("adversary_steps" in params) == adversarial
    assert ("adversary_lr" in params) == adversarial
    assert ("averaging_epochs" in params) == adversarial
    assert ("averaging_epochs" in cls._parameter_constraints) == adversarial
    dro = cls in (AdversarialFairRepresentation, CFair)
    assert ("group_weighting" in params) == dro
    continuous = cls in (AdversarialFairRepresentation, AdversarialVAE, ICVAE)
    assert ("sensitive_kinds" in params) == continuous
    assert cls._supports_continuous_sensitive == continuous


@pytest.mark.parametrize(
    "cls", [AdversarialFairRepresentation, AdversarialVAE], ids=lambda c: c.__name__
)
def test_fairness_weight_per_attribute(cls, data):
    X, y, s = data
    S = pd.DataFrame({"sex": s, "age": np.linspace(18, 80, len(s))})
    model = cls(fairness_weight={"age": 2.0}, **FAST).fit(X, y, sensitive_features=S)
    # Categorical groups first, then continuous; missing names get 1.0.
    assert model.module_.reversal_scales == [1.0, 2.0]
    with pytest.raises(TypeError, match="fairness_weight values"):
        cls(fairness_weight={"age": "high"}, **FAST).fit(X, y, sensitive_features=S)
    with pytest.raises(ValueError, match="fairness_weight"):
        cls(fairness_weight=[1.0, 2.0], **FAST).fit(X, y, sensitive_features=S)


def test_sensitive_encoder_is_fitted_and_matches_the_attributes(data):
    X, y, s = data
    age = np.linspace(18, 80, len(s))
    S = pd.DataFrame({"sex": np.where(s == 1, "m", "f"), "age": age})
    model = AdversarialFairRepresentation(**FAST).fit(X, y, sensitive_features=S)
    enc = model.sensitive_encoder_
    assert enc.attributes_ == model.sensitive_attributes_
    np.testing.assert_array_equal(model.sensitive_class_counts_[0], np.bincount(s))
    assert model.sensitive_mean_ == pytest.approx([age.mean()])
    assert model.sensitive_scale_ == pytest.approx([age.std()])
    out = enc.transform(S)
    np.testing.assert_array_equal(out["s_cat"][:, 0], s)
    np.testing.assert_allclose(
        out["s_cont"][:, 0], (age - age.mean()) / age.std(), rtol=1e-6
    )
    # A refit without sensitive features forgets them.
    model.fit(X, y)
    assert model.sensitive_encoder_ is None
    assert model.sensitive_attributes_ == [] == model.sensitive_class_counts_
    assert model.sensitive_mean_ is None and model.sensitive_scale_ is None


def _fit_any(est, data):
    X, y, s = data
    if isinstance(est, RobustMLPClassifier):
        return est.fit(X, y)
    return est.fit(X, y, sensitive_features=s)


@pytest.mark.parametrize(
    "est",
    [CFair(max_epochs=2), RobustMLPClassifier(max_epochs=2)],
    ids=lambda e: type(e).__name__,
)
def test_skorch_estimators_share_one_base(est, data):
    # Both families get seeding, pickling and the fitted state from
    # BaseSkorchEstimator.
    assert isinstance(est, BaseSkorchEstimator)
    assert not hasattr(est, "partial_fit")
    assert not est.__sklearn_is_fitted__()
    state = torch.get_rng_state()
    a = _fit_any(clone(est).set_params(random_state=3), data)
    b = _fit_any(clone(est).set_params(random_state=3), data)
    assert torch.equal(state, torch.get_rng_state())
    X = data[0]
    out = "transform" if isinstance(est, CFair) else "predict_proba"
    np.testing.assert_array_equal(getattr(a, out)(X), getattr(b, out)(X))
    loaded = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(getattr(loaded, out)(X), getattr(a, out)(X))
    assert a.__sklearn_is_fitted__() and loaded.__sklearn_is_fitted__()


@pytest.mark.parametrize("cls", [CFair, RobustMLPClassifier], ids=lambda c: c.__name__)
@pytest.mark.parametrize("n_threads, inside", [(1, 1), (None, 3)])
def test_n_threads_bounds_both_families(cls, n_threads, inside, data, monkeypatch):
    seen = []
    train_step = cls.train_step

    def spy(self, batch, **fit_params):
        seen.append(torch.get_num_threads())
        return train_step(self, batch, **fit_params)

    monkeypatch.setattr(cls, "train_step", spy)
    previous = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        _fit_any(cls(max_epochs=1, n_threads=n_threads), data)
        assert seen and set(seen) == {inside}
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(previous)


def test_n_threads_defaults_and_checks(data):
    # The FRL models bound fits to one thread; RobustMLPClassifier leaves the
    # threads alone unless asked.
    assert CFair().n_threads == 1
    assert RobustMLPClassifier().n_threads is None
    with pytest.raises(ValueError, match="n_threads"):
        _fit_any(RobustMLPClassifier(max_epochs=1, n_threads=0), data)
    with pytest.raises(TypeError, match="n_threads"):
        _fit_any(RobustMLPClassifier(max_epochs=1, n_threads=1.5), data)
