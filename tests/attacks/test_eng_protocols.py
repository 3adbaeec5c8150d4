"""ENG's two threat models: crafting against a trained victim, unrolled crafting."""

import copy

import numpy as np
import pandas as pd
import pytest
import torch

from skfrl.attacks import AnchorAttack, PoisonedEstimator, PoisonGenerator
from skfrl.datasets import make_biased_classification
from skfrl.inspection import TrainingGraph, TrainingRows
from skfrl.models import ICVAE, AdversarialFairRepresentation, CFair
from skfrl.utils import sensitive_frame


@pytest.fixture(scope="module")
def data():
    X, y, s = make_biased_classification(n_samples=240, random_state=0)
    return X.astype(np.float32), y, s


def _weights(net):
    return [p.detach().clone() for p in net.module_.parameters()]


def test_prefit_crafts_against_the_given_model_and_leaves_it_alone(data):
    X, y, s = data
    clean = CFair(max_epochs=3, random_state=0).fit(X, y, sensitive_features=s)
    before = _weights(clean)
    n_epochs = len(clean.history)
    attack = PoisonGenerator(clean, prefit=True, n_steps=4, random_state=0)
    attack.fit_resample(X, y, sensitive_features=s)
    # Crafted against the very weights given, not a refitted clone.
    for p, q in zip(before, _weights(attack.victim_), strict=True):
        assert torch.equal(p, q)
    for p, q in zip(before, _weights(clean), strict=True):
        assert torch.equal(p, q)
    assert len(clean.history) == n_epochs
    assert attack.timings_["victim_fit"] < attack.timings_["total"]
    assert set(attack.timings_) >= {
        "victim_fit",
        "base_selection",
        "matching",
        "decoding",
        "total",
    }


def test_prefit_refuses_an_unfitted_victim(data):
    X, y, s = data
    attack = PoisonGenerator(CFair(max_epochs=2), prefit=True, n_steps=2)
    with pytest.raises(Exception, match="not fitted"):
        attack.fit_resample(X, y, sensitive_features=s)


@pytest.mark.parametrize("victim_training", ["retrain", "fine_tune"])
def test_poisoned_estimator_protocols(data, victim_training):
    X, y, s = data
    model = PoisonedEstimator(
        CFair(max_epochs=2, random_state=0),
        PoisonGenerator(None, n_steps=3, random_state=0),
        victim_training=victim_training,
        fine_tune_epochs=1,
    )
    if victim_training == "retrain":
        model.set_params(attack=AnchorAttack(random_state=0))
    model.fit(X, y, sensitive_features=s)
    if victim_training == "retrain":
        assert len(model.estimator_.history) == 2
        assert not hasattr(model, "clean_estimator_")
        return
    # The fine-tuned model continued the clean one for one epoch ...
    assert len(model.clean_estimator_.history) == 2
    assert len(model.estimator_.history) == 3
    # ... which the attack crafted against.
    for p, q in zip(
        _weights(model.clean_estimator_), _weights(model.attack_.victim_), strict=True
    ):
        assert torch.equal(p, q)


def test_poisoned_estimator_fine_tune_defaults_to_max_epochs(data):
    X, y, s = data
    model = PoisonedEstimator(
        CFair(max_epochs=2, random_state=0),
        AnchorAttack(random_state=0),
        victim_training="fine_tune",
    ).fit(X, y, sensitive_features=s)
    assert len(model.estimator_.history) == 4


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(victim_training="scratch"), "victim_training"),
        (dict(victim_training="fine_tune", fine_tune_epochs=0), "fine_tune_epochs"),
    ],
)
def test_poisoned_estimator_rejects_bad_protocols(data, params, match):
    X, y, s = data
    model = PoisonedEstimator(CFair(max_epochs=1), AnchorAttack(), **params)
    with pytest.raises(ValueError, match=match):
        model.fit(X, y, sensitive_features=s)


def test_poisoned_estimator_score_uses_sample_weight(data):
    X, y, s = data
    model = PoisonedEstimator(
        CFair(max_epochs=2, random_state=0), AnchorAttack(random_state=0)
    ).fit(X, y, sensitive_features=s)
    right = model.predict(X) == y
    w = (~right).astype(float)
    assert model.score(X, y, sample_weight=w) == pytest.approx(0.0)
    assert model.score(X, y) == pytest.approx(right.mean())


# -- unrolled crafting ---------------------------------------------------------
SMOOTH = dict(
    n_components=3,
    hidden_layer_sizes=(),
    adversary_hidden_size=0,
    max_epochs=5,
    random_state=0,
)


@pytest.mark.parametrize(
    "model",
    [
        CFair(**SMOOTH),
        AdversarialFairRepresentation(**SMOOTH, n_adversaries=2),
        ICVAE(n_components=3, hidden_layer_sizes=(), max_epochs=5, random_state=0),
    ],
    ids=["cfair", "adversarial", "icvae"],
)
def test_unrolled_gradient_matches_finite_differences(data, model):
    """d(attacker loss after K unrolled steps)/d(poisons) = finite differences.

    In double precision on a smooth victim (no ReLU kinks): the unrolled
    derivative goes through the training field's own derivatives, which
    must be exact through gradient reversal.
    """
    X, y, s = data
    net = copy.deepcopy(model).fit(X, y, sensitive_features=s)
    net.module_.double()
    for name, value in list(vars(net).items()):
        # Loss weights built from the data (CFair's base rates) follow.
        if torch.is_tensor(value) and value.is_floating_point():
            setattr(net, name, value.double())
        elif isinstance(value, list) and value and torch.is_tensor(value[0]):
            setattr(net, name, [v.double() for v in value])
    net._set_training(False)
    S = sensitive_frame(s)
    attack = PoisonGenerator(net, prefit=True, method="unrolled", unroll_steps=2)
    attack._frl = net
    rows = TrainingRows.from_data(net, X.astype(np.float64), y, S, input_name="y")
    graph = TrainingGraph(net, rows.take(np.arange(16)))
    theta = [p.detach().clone().requires_grad_(True) for p in graph.params]
    rng = np.random.RandomState(0)
    batches = [rows.take(rng.choice(len(X), 32, replace=False)) for _ in range(2)]
    pidx = np.arange(5)
    poison_rows = TrainingRows.from_data(
        net, X[pidx].astype(np.float64), 1 - y[pidx], S.iloc[pidx], input_name="p"
    )
    E_t = torch.as_tensor(X[100:200], dtype=torch.float64)
    s_t = torch.as_tensor(np.asarray(s)[100:200])

    def objective(E_p):
        loss, _ = attack._unrolled_objective(
            graph, theta, batches, poison_rows, E_p, 0.1, 0.05, E_t, s_t
        )
        return loss

    E_p = torch.as_tensor(X[pidx], dtype=torch.float64).requires_grad_(True)
    grad = torch.autograd.grad(objective(E_p), E_p)[0]
    assert grad.abs().max() > 1e-8
    direction = torch.randn(E_p.shape, generator=torch.Generator().manual_seed(1))
    direction = direction.double() / direction.norm()
    h = 1e-5
    # The unrolled steps need autograd (the field is a gradient): no no_grad.
    fd = (
        objective(E_p.detach() + h * direction)
        - objective(E_p.detach() - h * direction)
    ) / (2 * h)
    assert float(fd) == pytest.approx(
        float(grad.flatten() @ direction.flatten()), rel=1e-3, abs=1e-9
    )


def test_unrolled_attack_runs_deterministically_and_uses_checkpoints(data):
    X, y, s = data
    victim = CFair(max_epochs=4, random_state=0)
    kwargs = dict(method="unrolled", n_steps=4, budget=10, random_state=0)
    a = PoisonGenerator(victim, **kwargs)
    b = PoisonGenerator(victim, **kwargs)
    Xa, ya, sa = a.fit_resample(X, y, sensitive_features=s)
    Xb, _, _ = b.fit_resample(X, y, sensitive_features=s)
    np.testing.assert_array_equal(Xa, Xb)
    assert Xa.shape == (len(X) + 10, X.shape[1])
    # Epochs 0, 1, 2 and 4 of the clean run.
    assert len(a._checkpoints) == 4
    assert len(a.history_[0]) == 4
    assert np.all(np.isfinite(Xa))
    # Poisons moved away from their bases.
    assert np.abs(a.perturbations_).max() > 0


def test_unrolled_rejects_bad_checkpoints(data):
    X, y, s = data
    attack = PoisonGenerator(
        CFair(max_epochs=2), method="unrolled", checkpoints=[0.5, 2.0], n_steps=2
    )
    with pytest.raises(ValueError, match="checkpoints"):
        attack.fit_resample(X, y, sensitive_features=s)


def test_unrolled_with_prefit_uses_the_trained_model_only(data):
    X, y, s = data
    clean = CFair(max_epochs=2, random_state=0).fit(X, y, sensitive_features=s)
    attack = PoisonGenerator(
        clean, prefit=True, method="unrolled", n_steps=3, budget=5, random_state=0
    )
    X_aug, _, _ = attack.fit_resample(pd.DataFrame(X), y, sensitive_features=s)
    assert len(X_aug) == len(X) + 5
    assert attack._checkpoints is None


# -- matching along the continuation ---------------------------------------------
def test_continuation_ensemble_matches_along_the_continued_training(data):
    X, y, s = data
    clean = CFair(max_epochs=3, random_state=0).fit(X, y, sensitive_features=s)
    before = _weights(clean)
    common = dict(prefit=True, n_steps=4, random_state=0)
    attack = PoisonGenerator(
        clean, n_victims=3, ensemble="continuation", continuation_epochs=4, **common
    )
    Xa, ya, sa = attack.fit_resample(X, y, sensitive_features=s)
    # The victim, then two snapshots of its continuation (round(4 / 3) = 1
    # epoch apart),
    # each further along; the given model stays as it was.
    assert len(attack.ensemble_) == 3
    assert [len(m.history) for m in attack.ensemble_] == [3, 4, 5]
    assert not torch.equal(
        _weights(attack.ensemble_[0])[0], _weights(attack.ensemble_[1])[0]
    )
    for p, q in zip(before, _weights(clean), strict=True):
        assert torch.equal(p, q)
    assert attack.timings_["continuation"] > 0
    # Other poisons than matching at the victim alone, and reproducible.
    single = PoisonGenerator(clean, **common).fit_resample(X, y, sensitive_features=s)
    assert not np.allclose(Xa[len(X) :], single[0][len(X) :])
    again = PoisonGenerator(
        clean, n_victims=3, ensemble="continuation", continuation_epochs=4, **common
    ).fit_resample(X, y, sensitive_features=s)
    np.testing.assert_array_equal(Xa, again[0])


def test_continuation_ensemble_rejects_bad_epochs(data):
    X, y, s = data
    clean = CFair(max_epochs=1, random_state=0).fit(X, y, sensitive_features=s)
    attack = PoisonGenerator(
        clean, prefit=True, n_victims=2, ensemble="continuation", continuation_epochs=0
    )
    with pytest.raises(ValueError, match="continuation_epochs"):
        attack.fit_resample(X, y, sensitive_features=s)
