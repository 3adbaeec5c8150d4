"""KL-DRO group weights and the models' ``group_weighting="dro"`` option."""

import math

import numpy as np
import pytest
import torch

from skfrl.models import AdversarialFairRepresentation, CFair
from skfrl.nn import grouped_dro_loss, kl_dro_weights


def _kl_to_uniform(q):
    q = q.double()
    return float((q * torch.log(q.clamp_min(1e-300) * len(q))).sum())


@pytest.mark.parametrize("radius", [0.01, 0.1, 0.5])
def test_weights_sit_on_the_kl_ball_and_favour_high_losses(radius):
    losses = torch.tensor([0.3, 0.1, 0.9, 0.5])
    q = kl_dro_weights(losses, radius)
    assert abs(float(q.sum()) - 1.0) < 1e-6
    assert abs(_kl_to_uniform(q) - radius) < 1e-4
    # Gibbs weights preserve the order of the losses.
    assert torch.equal(torch.argsort(q), torch.argsort(losses))
    assert not q.requires_grad


def test_weights_edge_cases():
    losses = torch.tensor([0.2, 0.4, 1.0])
    assert torch.allclose(kl_dro_weights(losses, 0.0), torch.full((3,), 1 / 3))
    assert torch.equal(kl_dro_weights(losses, math.log(3)), torch.tensor([0, 0, 1.0]))
    assert torch.allclose(kl_dro_weights(torch.ones(3), 0.5), torch.full((3,), 1 / 3))
    assert torch.equal(kl_dro_weights(torch.tensor([2.0]), 0.5), torch.tensor([1.0]))
    with pytest.raises(ValueError, match="radius"):
        kl_dro_weights(losses, -0.1)


def test_grouped_loss_is_between_mean_of_groups_and_worst_group():
    per_sample = torch.tensor([0.1, 0.3, 2.0, 1.0, 0.2], requires_grad=True)
    groups = torch.tensor([0, 0, 1, 1, 2])
    means = torch.tensor([0.2, 1.5, 0.2])
    assert torch.isclose(grouped_dro_loss(per_sample, groups, 0.0), means.mean())
    robust = grouped_dro_loss(per_sample, groups, 0.3)
    assert means.mean() < robust < means.max()
    robust.backward()
    # The worst group's samples get the largest gradient.
    assert per_sample.grad[2] > per_sample.grad[0]


def _imbalanced(n=800, seed=0):
    # A rare, overlapping positive class: plain ERM sacrifices it.
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5)).astype(np.float32)
    y = (X[:, 0] + rng.normal(scale=0.8, size=n) > 1.6).astype(int)
    s = (X[:, 2] > 0).astype(int)
    return X, y, s


def _worst_class_accuracy(model, X, y):
    pred = model.predict(X)
    return min(np.mean(pred[y == k] == k) for k in np.unique(y))


@pytest.mark.parametrize(
    "model",
    [
        AdversarialFairRepresentation(max_epochs=10, batch_size=64, lr=5e-3),
        CFair(mode="eo", max_epochs=10, batch_size=64, lr=5e-3),
    ],
    ids=["adversarial", "cfair-eo"],
)
def test_dro_raises_worst_class_accuracy_and_can_fail(model):
    X, y, s = _imbalanced()
    plain = model.set_params(random_state=0).fit(X, y, sensitive_features=s)
    worst_plain = _worst_class_accuracy(plain, X, y)
    robust = model.set_params(group_weighting="dro", dro_radius=0.5)
    worst_robust = _worst_class_accuracy(robust.fit(X, y, sensitive_features=s), X, y)
    assert worst_plain < 0.65
    assert worst_robust > worst_plain + 0.15


def test_label_sensitive_groups_need_a_categorical_attribute():
    X, y, s = _imbalanced(n=200)
    kw = dict(max_epochs=1, group_weighting="dro", dro_groups="label_sensitive")
    AdversarialFairRepresentation(**kw).fit(X, y, sensitive_features=s)
    CFair(**kw).fit(X, y, sensitive_features=s)
    with pytest.raises(ValueError, match="label_sensitive"):
        AdversarialFairRepresentation(**kw).fit(X, y)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"group_weighting": "cvar"}, "'group_weighting' parameter"),
        ({"dro_radius": -1.0}, "'dro_radius' parameter"),
        ({"dro_groups": "sensitive"}, "'dro_groups' parameter"),
    ],
)
def test_bad_dro_parameters(params, match):
    X, y, s = _imbalanced(n=100)
    with pytest.raises(ValueError, match=match):
        CFair(**params).fit(X, y, sensitive_features=s)
