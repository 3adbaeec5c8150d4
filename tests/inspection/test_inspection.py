"""Tests of skfrl.inspection: the training graph, per-sample fields, influence."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skfrl.attacks import fld_torch, min_poison_count
from skfrl.datasets import make_biased_classification
from skfrl.inspection import (
    PerSampleField,
    TrainingGraph,
    TrainingRows,
    encode_at,
    flat_gradient,
    group_codes,
    influence,
    per_sample_fields,
    training_codes,
    training_rows,
)
from skfrl.models import AdversarialFairRepresentation, CFair
from skfrl.nn import grad_reverse

N = 120
# Linear encoder and adversary: the Jacobian of the field is smooth.
SMOOTH = dict(
    n_components=2,
    hidden_layer_sizes=(),
    adversary_hidden_size=0,
    n_adversaries=1,
    max_epochs=20,
    random_state=0,
)


@pytest.fixture(scope="module")
def data():
    X, y, s = make_biased_classification(n_samples=N, random_state=0)
    return X.astype(np.float32), y, s


def _evaluated(net):
    # No dropout: the graph's fields are compared with other evaluations.
    net.module_.eval()
    return net


@pytest.fixture(scope="module")
def adversarial(data):
    X, y, s = data
    net = AdversarialFairRepresentation(
        n_components=3, hidden_layer_sizes=(8,), max_epochs=5, random_state=0
    )
    return _evaluated(net.fit(X, y, sensitive_features=s))


@pytest.fixture(scope="module")
def smooth(data):
    X, y, s = data
    net = AdversarialFairRepresentation(**SMOOTH)
    return _evaluated(net.fit(X, y, sensitive_features=s))


@pytest.fixture(scope="module")
def cfair(data):
    X, y, s = data
    net = CFair(max_epochs=3, random_state=0)
    return _evaluated(net.fit(X, y, sensitive_features=s))


def _autograd_loss_gradient(net, rows):
    """Plain autograd of the model's training loss (reversal nodes as trained)."""
    batch = {"X": torch.as_tensor(rows.E), "s_cat": torch.as_tensor(rows.s_cat)}
    y = torch.as_tensor(rows.y)
    loss = net.get_loss(net.infer(batch), y, X=batch, training=True)
    params = [p for p in net.module_.parameters() if p.requires_grad]
    return flat_gradient(loss, params)


@pytest.mark.parametrize("model", ["adversarial", "cfair"])
def test_per_sample_fields_are_one_row_loss_gradients(model, data, request):
    # Through gradient reversal the field is autograd's gradient of the
    # training loss; for one row, the gradient of that row's loss.
    net = request.getfixturevalue(model)
    X, y, s = data
    rows = TrainingRows.from_data(net, X, y, s)
    graph = TrainingGraph(net, rows.take(np.arange(8)))
    assert graph.scales, "the victim trains through gradient reversal"
    for i in (0, 7, 50):
        row = rows.take(slice(i, i + 1))
        expected = _autograd_loss_gradient(net, row)
        torch.testing.assert_close(graph.field(row), expected, rtol=1e-5, atol=1e-7)
    # A single-row PerSampleField with a zero reference is that gradient.
    zero = torch.zeros(sum(p.numel() for p in graph.params))
    field = PerSampleField(graph, rows, per_sample="single", reference_field=zero)
    stacked = field.stack(rows.take(np.arange(3)))
    for i in range(3):
        np.testing.assert_allclose(
            stacked[i],
            _autograd_loss_gradient(net, rows.take(slice(i, i + 1))).numpy(),
            rtol=1e-5,
            atol=1e-7,
        )


def test_marginal_field_is_the_scaled_batch_difference(adversarial, data):
    X, y, s = data
    rows = TrainingRows.from_data(adversarial, X, y, s)
    graph = TrainingGraph(adversarial, rows.take(np.arange(8)))
    ref = rows.take(np.arange(20, 52))
    field = PerSampleField(graph, ref)
    row = rows.take(slice(3, 4))
    expected = 33 * (graph.field(ref.concat(row)) - graph.field(ref))
    torch.testing.assert_close(field(row), expected)
    torch.testing.assert_close(field.reference_field, graph.field(ref))


def test_gradient_reversal_is_left_as_it_was(adversarial, data):
    X, y, s = data
    rows = TrainingRows.from_data(adversarial, X, y, s)
    TrainingGraph(adversarial, rows.take(np.arange(8))).field(rows)
    # The override was per block: reversal reverses again afterwards.
    x = torch.ones(3, requires_grad=True)
    grad_reverse(x, 2.0).sum().backward()
    assert torch.equal(x.grad, torch.full((3,), -2.0))


def test_flat_gradient_fills_unused_parameters_with_zeros():
    a = torch.ones(2, requires_grad=True)
    b = torch.ones(2, 2, requires_grad=True)
    g = flat_gradient((3 * a).sum(), [b, a])
    assert g.tolist() == [0.0, 0.0, 0.0, 0.0, 3.0, 3.0]


def test_encode_at_evaluates_other_parameters(adversarial, data):
    X, *_ = data
    E = torch.as_tensor(X[:10])
    params = [p.detach() for p in adversarial.module_.parameters() if p.requires_grad]
    with torch.no_grad():
        base = adversarial.module_.encode(E)
    torch.testing.assert_close(encode_at(adversarial, params, E), base)
    moved = [p + 0.1 for p in params]
    Z = encode_at(adversarial, moved, E)
    assert not torch.allclose(Z, base)
    # The module's own parameters are untouched.
    with torch.no_grad():
        torch.testing.assert_close(adversarial.module_.encode(E), base)


def test_training_rows_encode_through_the_pipeline(data):
    X, y, s = data
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    pipe = make_pipeline(StandardScaler(), CFair(max_epochs=1, random_state=0))
    pipe.fit(frame, y, cfair__sensitive_features=s)
    rows = training_rows(pipe, frame, y, sensitive_features=s)
    np.testing.assert_allclose(rows.E, pipe[0].transform(frame), rtol=1e-6)
    assert rows.E.dtype == np.float32 and rows.s_cat.shape == (N, 1)


def test_codes_follow_the_victim(adversarial, data):
    X, y, s = data
    y_codes, s_cat, s_cont = training_codes(adversarial, y, s)
    assert s_cont is None
    np.testing.assert_array_equal(y_codes, np.searchsorted(adversarial.classes_, y))
    np.testing.assert_array_equal(s_cat[:, 0], s)
    with pytest.raises(ValueError, match="labels the victim never saw"):
        training_codes(adversarial, np.full(N, 7), s)
    with pytest.raises(ValueError, match="groups the model never saw"):
        training_codes(adversarial, y, np.full(N, 3))
    with pytest.raises(ValueError, match="attribute"):
        training_codes(adversarial, y, np.column_stack([s, s]))
    assert group_codes(adversarial, [1, 1, 0]).tolist() == [1, 1, 0]
    with pytest.raises(ValueError, match="s_target must hold every group"):
        group_codes(adversarial, [1, 1], require_all=True, input_name="s_target")


def test_bad_victims_and_parameters(adversarial, data):
    X, y, s = data
    with pytest.raises(TypeError, match="victim"):
        per_sample_fields(LogisticRegression().fit(X, y), X, y, sensitive_features=s)
    with pytest.raises(NotFittedError, match="victim is not fitted"):
        training_rows(AdversarialFairRepresentation(), X, y, sensitive_features=s)
    with pytest.raises(ValueError, match="per_sample"):
        per_sample_fields(adversarial, X, y, sensitive_features=s, per_sample="x")
    with pytest.raises(ValueError, match="y must be 1-D"):
        training_rows(adversarial, X, y[:-1], sensitive_features=s)
    with pytest.raises(ValueError, match="features"):
        training_rows(adversarial, X[:, :3], y, sensitive_features=s)
    for kwargs, match in [
        (dict(curvature="exact"), "curvature"),
        (dict(damping=0.0), "damping"),
        (dict(objective="fld"), "objective"),
    ]:
        params = {"objective": lambda Z: Z.sum(), **kwargs}
        with pytest.raises(ValueError, match=match):
            influence(adversarial, X, y, sensitive_features=s, **params)


def test_per_sample_fields_are_deterministic(adversarial, data):
    X, y, s = data
    adversarial.module_.train()
    try:
        a = per_sample_fields(adversarial, X, y, sensitive_features=s, random_state=0)
        b = per_sample_fields(adversarial, X, y, sensitive_features=s, random_state=0)
        assert adversarial.module_.training  # put back as it was
    finally:
        adversarial.module_.eval()
    np.testing.assert_array_equal(a, b)
    single = per_sample_fields(
        adversarial, X, y, sensitive_features=s, per_sample="single"
    )
    # "single": each row's own field minus the mean field of all rows.
    rows = TrainingRows.from_data(adversarial, X, y, s)
    graph = TrainingGraph(adversarial, rows.take(np.arange(8)))
    expected = PerSampleField(graph, rows, per_sample="single").stack(rows)
    np.testing.assert_allclose(single, expected, rtol=1e-5, atol=1e-7)


def test_influence_solves_the_damped_system(smooth, data):
    X, y, s = data
    codes = torch.as_tensor(s)
    lam = 1.0
    res = influence(
        smooth,
        X,
        y,
        sensitive_features=s,
        objective=lambda Z: fld_torch(Z, codes),
        damping=lam,
        random_state=0,
    )
    # Dense Jacobian of the mean training field on every row (n <= max_samples).
    rows = TrainingRows.from_data(smooth, X, y, s)
    graph = res.field.graph
    params = graph.params
    F = graph.field(rows, create_graph=True)
    J = torch.stack(
        [flat_gradient(F[i], params, retain_graph=True) for i in range(len(F))]
    ).double()
    u = -torch.as_tensor(res.influence)
    lhs = (J + lam * torch.eye(len(F), dtype=torch.float64)).T @ u
    np.testing.assert_allclose(lhs.numpy(), res.gradient, rtol=1e-3, atol=1e-4)
    with torch.no_grad():
        value = fld_torch(smooth.module_.encode(torch.as_tensor(X)), codes)
    assert res.value == pytest.approx(float(value), rel=1e-6)
    assert res.curvature_info["relative_residual"] < 1e-4


def test_influence_is_the_bound_s_influence_vector(adversarial, data):
    # Candidates given (no subset drawn): the bound's random stream is the
    # influence's own.
    X, y, s = data
    kwargs = dict(per_sample="single", curvature="diagonal", random_state=0)
    bound = min_poison_count(
        adversarial,
        X,
        y,
        sensitive_features=s,
        target_increase=0.1,
        candidates=(X[:5], y[:5], s[:5]),
        label_choices="keep",
        **kwargs,
    )
    codes = torch.as_tensor(s)
    res = influence(
        adversarial,
        X,
        y,
        sensitive_features=s,
        objective=lambda Z: fld_torch(Z, codes),
        **kwargs,
    )
    np.testing.assert_array_equal(bound.influence, res.influence)
    assert bound.fld == res.value and bound.stationarity == res.stationarity
    np.testing.assert_array_equal(
        bound.candidate_alignments,
        res.field.stack(TrainingRows.from_data(adversarial, X[:5], y[:5], s[:5]))
        @ res.influence,
    )
