"""Tests for RobustMLPClassifier (PGD and L2L training) and robust_accuracy."""

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import parametrize_with_checks

from skfrl.defenses import RobustMLPClassifier, robust_accuracy
from skfrl.defenses import _adversarial_training as adv_mod

# A mini-batch SGD model sees different batches when rows are repeated
# instead of weighted, so weights and repetitions only agree in expectation.
EXPECTED_FAILED = {
    "check_sample_weight_equivalence_on_dense_data": (
        "mini-batch training: repeating a row changes the batches, weighting "
        "it does not"
    ),
}


@parametrize_with_checks(
    [
        RobustMLPClassifier(attack, max_epochs=20, lr=1e-2, random_state=0)
        for attack in (None, "pgd", "l2l")
    ],
    expected_failed_checks=lambda est: EXPECTED_FAILED,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=600, n_features=8, n_informative=4, random_state=0
    )
    return X[:400], y[:400], X[400:], y[400:]


FAST = dict(max_epochs=20, lr=1e-2, random_state=0)


def test_pgd_training_raises_robust_accuracy(data):
    X, y, X_test, y_test = data
    plain = RobustMLPClassifier(None, eps=0.3, **FAST).fit(X, y)
    robust = RobustMLPClassifier("pgd", eps=0.3, **FAST).fit(X, y)
    r_plain = robust_accuracy(plain, X_test, y_test, eps=0.3, random_state=0)
    r_robust = robust_accuracy(robust, X_test, y_test, eps=0.3, random_state=0)
    assert r_robust > r_plain + 0.1
    # The attack really bites the plain model.
    assert r_plain < plain.score(X_test, y_test) - 0.1


def test_robust_accuracy_bounds(data):
    X, y, X_test, y_test = data
    clf = RobustMLPClassifier(None, **FAST).fit(X, y)
    assert robust_accuracy(clf, X_test, y_test, eps=0.0) == clf.score(X_test, y_test)
    values = [
        robust_accuracy(clf, X_test, y_test, eps=e, random_state=0)
        for e in (0.1, 0.5, 2.0)
    ]
    assert values[0] <= clf.score(X_test, y_test)
    assert values[0] >= values[1] >= values[2]
    assert clf.robust_score(X_test, y_test, eps=0.1) == pytest.approx(
        robust_accuracy(clf, X_test, y_test, eps=0.1, random_state=0)
    )


def test_immutable_columns_never_perturbed_in_training(data, monkeypatch):
    X, y, _, _ = data
    mutable = np.array([True, False, True, False, True, False, False, True])
    seen = []
    original = adv_mod._pgd_delta

    def recording(*args, **kwargs):
        delta = original(*args, **kwargs)
        seen.append(delta.clone())
        return delta

    monkeypatch.setattr(adv_mod, "_pgd_delta", recording)
    RobustMLPClassifier("pgd", eps=0.5, mutable=mutable, max_epochs=2).fit(X, y)
    deltas = torch.cat(seen)
    assert len(seen) > 0
    assert torch.all(deltas[:, ~torch.as_tensor(mutable)] == 0)
    assert torch.all(deltas[:, torch.as_tensor(mutable)].abs() <= 0.5 + 1e-6)
    assert torch.any(deltas[:, torch.as_tensor(mutable)] != 0)


@pytest.mark.parametrize("mutable", [[0, 2, 5], np.arange(8) < 3])
def test_immutable_columns_never_perturbed_by_pgd(data, mutable):
    X, y, X_test, y_test = data
    clf = RobustMLPClassifier("pgd", mutable=mutable, **FAST).fit(X, y)
    mask = clf.mutable_
    X_before = X_test.copy()
    X_adv = clf.perturb(X_test, y_test, eps=0.3, random_state=0)
    np.testing.assert_array_equal(X_test, X_before)  # input left alone
    np.testing.assert_array_equal(X_adv[:, ~mask], X_test[:, ~mask])
    step = (X_adv - X_test) / clf.scale_
    assert np.abs(step[:, mask]).max() <= 0.3 + 1e-5
    assert np.abs(step[:, mask]).max() > 0.25  # PGD goes to the boundary


def test_l2l_perturbations_respect_eps_ball(data):
    X, y, X_test, y_test = data
    mutable = [1, 3, 4]
    clf = RobustMLPClassifier("l2l", eps=0.2, mutable=mutable, **FAST).fit(X, y)
    X_adv = clf.perturb(X_test, y_test, attack="l2l")
    step = (X_adv - X_test) / clf.scale_
    immutable = np.setdiff1d(np.arange(8), mutable)
    assert np.all(step[:, immutable] == 0)
    assert np.abs(step).max() <= 0.2 + 1e-5
    assert np.abs(step).max() > 0
    # Out of the training distribution too: tanh bounds the output.
    z = torch.randn(50, 8) * 100
    delta = clf.attacker_(z, torch.randn(50, 8) * 1e6, 0.2)
    assert float(delta.abs().max()) <= 0.2 + 1e-6
    assert torch.all(delta[:, immutable] == 0)


def test_l2l_attacker_learns_to_attack(data):
    # The attacker is trained up the loss: its perturbation must hurt the
    # model more than a random sign perturbation of the same size.
    X, y, X_test, y_test = data
    clf = RobustMLPClassifier("l2l", eps=0.5, **FAST).fit(X, y)
    rng = np.random.default_rng(0)
    X_rand = X_test + 0.5 * rng.choice([-1.0, 1.0], size=X_test.shape) * clf.scale_
    X_l2l = clf.perturb(X_test, y_test, attack="l2l")
    assert clf.score(X_l2l, y_test) < clf.score(X_rand, y_test) - 0.03


@pytest.mark.parametrize(
    "params",
    [
        dict(attack=None),
        dict(attack="pgd"),
        dict(attack="l2l", group_weighting="dro", adversarial_weight=0.5),
    ],
)
def test_deterministic_and_leaves_global_rng(data, params):
    X, y, X_test, _ = data
    state = torch.get_rng_state()
    a = RobustMLPClassifier(**params, max_epochs=3, random_state=7).fit(X, y)
    b = RobustMLPClassifier(**params, max_epochs=3, random_state=7).fit(X, y)
    c = RobustMLPClassifier(**params, max_epochs=3, random_state=8).fit(X, y)
    assert torch.equal(state, torch.get_rng_state())
    np.testing.assert_array_equal(a.predict_proba(X_test), b.predict_proba(X_test))
    assert not np.array_equal(a.predict_proba(X_test), c.predict_proba(X_test))
    assert a.robust_score(X_test, y[:200]) == b.robust_score(X_test, y[:200])


def test_fit_does_not_mutate_inputs(data):
    X, y, _, _ = data
    X_c, y_c = X.copy(), y.copy()
    w = np.ones(len(y))
    RobustMLPClassifier("pgd", max_epochs=1).fit(X, y, sample_weight=w)
    np.testing.assert_array_equal(X, X_c)
    np.testing.assert_array_equal(y, y_c)
    np.testing.assert_array_equal(w, np.ones(len(y)))


def test_sample_weight_shifts_predictions(data):
    X, y, X_test, _ = data
    w = np.where(y == 1, 10.0, 1.0)
    plain = RobustMLPClassifier("pgd", **FAST).fit(X, y)
    heavy = RobustMLPClassifier("pgd", **FAST).fit(X, y, sample_weight=w)
    assert heavy.predict(X_test).mean() > plain.predict(X_test).mean() + 0.05


def test_dro_raises_minority_class_recall():
    X, y = make_classification(
        n_samples=800,
        n_features=6,
        n_informative=3,
        weights=[0.9, 0.1],
        flip_y=0.05,
        random_state=1,
    )
    kw = dict(attack="pgd", eps=0.2, max_epochs=15, lr=1e-2, random_state=0)
    erm = RobustMLPClassifier(**kw).fit(X[:500], y[:500])
    dro = RobustMLPClassifier(**kw, group_weighting="dro", dro_radius=0.5).fit(
        X[:500], y[:500]
    )
    minority = y[500:] == 1

    def recall(model):
        return (model.predict(X[500:])[minority] == 1).mean()

    assert recall(dro) > recall(erm) + 0.05


@pytest.mark.parametrize(
    "params, name",
    [
        (dict(attack="fgsm"), "attack"),
        (dict(eps=-0.1), "eps"),
        (dict(pgd_steps=0), "pgd_steps"),
        (dict(pgd_step_size=0.0), "pgd_step_size"),
        (dict(attacker_lr=0.0), "attacker_lr"),
        (dict(adversarial_weight=1.5), "adversarial_weight"),
        (dict(group_weighting="cvar"), "group_weighting"),
        (dict(dro_radius=-1.0), "dro_radius"),
        (dict(dro_groups="sensitive"), "dro_groups"),
        (dict(hidden_layer_sizes=(0,)), "hidden_layer_sizes"),
        (dict(batch_size=0), "batch_size"),
        (dict(mutable=[0, 99]), "mutable"),
        (dict(mutable=[True, False]), "mutable"),
    ],
)
def test_bad_params_raise(data, params, name):
    X, y, _, _ = data
    with pytest.raises(ValueError, match=name):
        RobustMLPClassifier(**params, max_epochs=1).fit(X, y)


def test_bad_call_arguments_raise(data):
    X, y, X_test, y_test = data
    clf = RobustMLPClassifier("pgd", max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="steps"):
        clf.robust_score(X_test, y_test, steps=0)
    with pytest.raises(ValueError, match="eps"):
        robust_accuracy(clf, X_test, y_test, eps=-1.0)
    with pytest.raises(ValueError, match="attack='l2l'"):
        clf.perturb(X_test, y_test, attack="l2l")
    with pytest.raises(ValueError, match="not seen in fit"):
        clf.robust_score(X_test, y_test + 5)
    with pytest.raises(ValueError, match="sample_weight"):
        RobustMLPClassifier(max_epochs=1).fit(X, y, sample_weight=-np.ones(len(y)))
    with pytest.raises(TypeError, match="RobustMLPClassifier"):
        robust_accuracy(LogisticRegression().fit(X, y), X_test, y_test, eps=0.1)
