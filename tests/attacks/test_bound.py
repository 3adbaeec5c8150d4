"""Tests of min_poison_count, the first-order poison-count bound."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skfrl.attacks import PoisonCountBound, fld_torch, min_poison_count
from skfrl.datasets import make_biased_classification
from skfrl.inspection import TrainingGraph, TrainingRows, flat_gradient
from skfrl.models import AdversarialFairRepresentation, CFair

N = 150
# A smooth victim (linear encoder and adversary): no ReLU kinks, so finite
# differences and a Newton solve can check the first-order algebra exactly.
SMOOTH = dict(
    n_components=3,
    hidden_layer_sizes=(),
    adversary_hidden_size=0,
    n_adversaries=1,
    max_epochs=30,
    random_state=0,
)
FAST = dict(max_candidates=15, reference_size=64, random_state=0)


@pytest.fixture(scope="module")
def data():
    X, y, s = make_biased_classification(n_samples=N, random_state=0)
    return X.astype(np.float32), y, s


@pytest.fixture(scope="module")
def victim(data):
    X, y, s = data
    return AdversarialFairRepresentation(
        n_components=3, hidden_layer_sizes=(8,), max_epochs=10, random_state=0
    ).fit(X, y, sensitive_features=s)


@pytest.fixture(scope="module")
def smooth(data):
    X, y, s = data
    return AdversarialFairRepresentation(**SMOOTH).fit(X, y, sensitive_features=s)


def test_bound_is_finite_positive_and_consistent(victim, data):
    X, y, s = data
    res = min_poison_count(
        victim, X, y, sensitive_features=s, target_increase=0.05, **FAST
    )
    assert isinstance(res, PoisonCountBound)
    assert 1 <= res.n_min <= res.n_estimate
    assert math.isfinite(res.n_min) and res.n_min == int(res.n_min)
    # Cauchy-Schwarz: no candidate beats ||r|| * G_max.
    assert res.alignment_max <= res.coefficient + 1e-9
    assert np.all(
        res.candidate_alignments <= res.influence_norm * res.grad_norm_max + 1e-6
    )
    assert res.coefficient == pytest.approx(res.influence_norm * res.grad_norm_max)
    # label_choices="all": 2 labels x 2 groups per candidate row.
    assert len(res.candidate_grad_norms) == 4 * 15 == res.details["n_candidates"]
    assert res.fld_gradient.shape == res.influence.shape
    assert res.fld > 0 and res.stationarity >= 0
    assert res.curvature_info["relative_residual"] < 1e-3
    # n_min is the smallest count reaching the target under the bound.
    upper, estimate = res.predicted_increase(res.n_min)
    assert upper >= res.target_increase > res.predicted_increase(res.n_min - 1)[0]
    assert estimate <= upper
    assert "n_min=" in repr(res)
    assert len(res.assumptions) >= 4


def test_larger_target_needs_more_poisons(victim, data):
    X, y, s = data
    results = [
        min_poison_count(victim, X, y, sensitive_features=s, target_increase=t, **FAST)
        for t in (0.01, 0.1, 1.0)
    ]
    n_min = [r.n_min for r in results]
    n_est = [r.n_estimate for r in results]
    assert n_min == sorted(n_min) and n_min[0] < n_min[-1]
    assert n_est == sorted(n_est) and n_est[0] < n_est[-1]
    # Everything but tau is the same measurement.
    np.testing.assert_array_equal(
        results[0].candidate_alignments, results[-1].candidate_alignments
    )


def test_unreachable_target_gives_inf(victim, data):
    X, y, s = data
    res = min_poison_count(
        victim, X, y, sensitive_features=s, target_increase=1e9, **FAST
    )
    assert res.n_min == math.inf and res.n_estimate == math.inf


def test_stronger_damping_needs_more_poisons(victim, data):
    # The defense reading of the bound: more regularisation, more poisons.
    X, y, s = data
    weak, strong = (
        min_poison_count(
            victim, X, y, sensitive_features=s, target_increase=0.05, damping=d, **FAST
        )
        for d in (1.0, 10.0)
    )
    assert strong.influence_norm < weak.influence_norm
    assert strong.n_min >= weak.n_min
    assert strong.n_estimate >= weak.n_estimate


def test_auto_damping_clears_negative_curvature(victim, data):
    X, y, s = data
    res = min_poison_count(
        victim, X, y, sensitive_features=s, target_increase=0.05, **FAST
    )
    info = res.curvature_info
    assert info["spectral_radius"] > 0
    assert res.damping >= 0.1 * info["spectral_radius"] - 1e-12
    assert res.damping + info["leftmost_eigenvalue"] > 0
    if info["leftmost_eigenvalue"] < 0:  # the adversarial game is not a minimum
        with pytest.warns(UserWarning, match="not positive"):
            min_poison_count(
                victim,
                X,
                y,
                sensitive_features=s,
                target_increase=0.05,
                damping=-info["leftmost_eigenvalue"] / 2,
                **FAST,
            )


def test_deterministic_and_inputs_untouched(victim, data):
    X, y, s = data
    X_copy, y_copy, s_copy = X.copy(), y.copy(), s.copy()
    params = [p.detach().clone() for p in victim.module_.parameters()]
    a = min_poison_count(
        victim, X, y, sensitive_features=s, target_increase=0.05, **FAST
    )
    b = min_poison_count(
        victim, X, y, sensitive_features=s, target_increase=0.05, **FAST
    )
    np.testing.assert_array_equal(a.candidate_alignments, b.candidate_alignments)
    np.testing.assert_array_equal(a.influence, b.influence)
    assert a.n_min == b.n_min
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(y, y_copy)
    np.testing.assert_array_equal(s, s_copy)
    for p, q in zip(params, victim.module_.parameters(), strict=True):
        assert torch.equal(p, q)
    assert not victim.module_.training


def test_first_order_prediction_matches_newton_solve(smooth, data):
    """The predicted FLD change of one poison equals the exact damped response.

    The damped influence model says: adding poison p to the n clean rows
    moves theta* to the solution of F_{D+p}(theta) - F_D(theta*) +
    lambda (theta - theta*) = 0, and FLD by r . g(p) / (n + 1) to first order.
    Solve that system exactly (Newton, dense Jacobian of the small smooth
    victim) and compare.
    """
    X, y, s = data
    lam = 0.5
    xp, yp, sp = X[:3], 1 - y[:3], 1 - s[:3]
    res = min_poison_count(
        smooth,
        X,
        y,
        sensitive_features=s,
        target_increase=0.01,
        damping=lam,
        candidates=(xp, yp, sp),
        label_choices="keep",
        reference_size=N,  # the reference batch is the whole training set
        random_state=0,
    )
    train = TrainingRows.from_data(smooth, X, y, s, input_name="train")
    poisons = TrainingRows.from_data(smooth, xp, yp, sp, input_name="p")
    graph = TrainingGraph(smooth, poisons)
    params = graph.params
    theta0 = torch.cat([p.detach().reshape(-1) for p in params])

    def set_theta(vec):
        with torch.no_grad():
            torch.nn.utils.vector_to_parameters(vec, params)

    def fld():
        with torch.no_grad():
            Z = smooth.module_.encode(torch.as_tensor(X))
            return float(fld_torch(Z, torch.as_tensor(s)))

    F_clean = graph.field(train).detach()
    fld0 = fld()
    eye = torch.eye(len(theta0))
    try:
        for k in range(3):
            rows = train.concat(poisons.take(slice(k, k + 1)))
            theta = theta0.clone()
            for _ in range(6):
                set_theta(theta)
                F = graph.field(rows, create_graph=True)
                J = torch.stack(
                    [
                        flat_gradient(F[i], params, retain_graph=True)
                        for i in range(len(F))
                    ]
                )
                R = F.detach() - F_clean + lam * (theta - theta0)
                theta = theta - torch.linalg.solve(J.detach() + lam * eye, R)
            set_theta(theta)
            measured = fld() - fld0
            predicted = res.candidate_alignments[k] / (N + 1)
            assert abs(predicted) > 1e-3
            assert measured == pytest.approx(predicted, rel=0.15)
    finally:
        set_theta(theta0)


def test_field_jacobian_is_exact_through_gradient_reversal(smooth, data):
    """J v of the training field matches finite differences of the field.

    Plain autograd through a gradient-reversal node gets the field right but
    its derivative wrong (the adversaries' input is differentiated through
    the reversal again); TrainingGraph recombines passes so J is exact.
    """
    X, y, s = data
    rows = TrainingRows.from_data(smooth, X, y, s, input_name="train")
    graph = TrainingGraph(smooth, rows.take(slice(0, 8)))
    params = graph.params
    F = graph.field(rows, create_graph=True)
    naive = flat_gradient(graph.loss(rows), params, create_graph=True)
    torch.testing.assert_close(F.detach(), naive.detach(), rtol=1e-4, atol=1e-6)
    v = torch.randn(len(F), generator=torch.Generator().manual_seed(0))
    w = torch.zeros(len(F), requires_grad=True)

    def jvp(field):
        jtw = flat_gradient(field @ w, params, create_graph=True)
        return torch.autograd.grad(jtw @ v, w, retain_graph=True)[0]

    exact, naive_jv = jvp(F), jvp(naive)
    theta0 = torch.cat([p.detach().reshape(-1) for p in params])
    h = 1e-2
    try:
        with torch.no_grad():
            torch.nn.utils.vector_to_parameters(theta0 + h * v, params)
        plus = graph.field(rows).detach()
        with torch.no_grad():
            torch.nn.utils.vector_to_parameters(theta0 - h * v, params)
        minus = graph.field(rows).detach()
    finally:
        with torch.no_grad():
            torch.nn.utils.vector_to_parameters(theta0, params)
    fd = (plus - minus) / (2 * h)
    assert float((exact - fd).norm() / fd.norm()) < 0.02
    assert float((naive_jv - fd).norm() / fd.norm()) > 0.1


def test_options_and_pipeline_victim(data):
    X, y, s = data
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    pipe = make_pipeline(StandardScaler(), CFair(max_epochs=5, random_state=0))
    pipe.fit(frame, y, cfair__sensitive_features=s)
    res = min_poison_count(
        pipe,
        frame,
        pd.Series(y),
        sensitive_features=pd.Series(s),
        target_increase=0.05,
        X_target=frame.iloc[:60],
        s_target=s[:60],
        curvature="diagonal",
        per_sample="single",
        label_choices="keep",
        **FAST,
    )
    assert len(res.candidate_grad_norms) == 15
    assert res.curvature == "diagonal" and "fisher_diag_mean" in res.curvature_info
    assert 1 <= res.n_min <= res.n_estimate


def test_box_refinement_only_raises_maxima(victim, data):
    X, y, s = data
    res = min_poison_count(
        victim,
        X,
        y,
        sensitive_features=s,
        target_increase=0.05,
        box_steps=5,
        box_starts=2,
        **FAST,
    )
    assert res.alignment_max >= res.details["alignment_max_rows"]
    assert res.grad_norm_max >= res.details["grad_norm_max_rows"]
    assert res.n_estimate >= res.n_min


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(target_increase=0.0), ValueError, "target_increase"),
        (dict(target_increase=-1.0), ValueError, "target_increase"),
        (dict(target_increase=float("nan")), ValueError, "target_increase"),
        (dict(target_increase="0.1"), TypeError, "target_increase"),
        (dict(damping=0.0), ValueError, "damping"),
        (dict(curvature="exact"), ValueError, "curvature"),
        (dict(per_sample="pairs"), ValueError, "per_sample"),
        (dict(max_candidates=0), ValueError, "max_candidates"),
        (dict(X_target=np.zeros((5, 10))), ValueError, "s_target"),
        (dict(s_target=np.zeros(5)), ValueError, "X_target"),
        (
            dict(X_target=np.zeros((5, 10), np.float32), s_target=np.zeros(5, int)),
            ValueError,
            "s_target",
        ),
        (
            dict(X_target=np.zeros((5, 10), np.float32), s_target=np.zeros(4, int)),
            ValueError,
            "s_target",
        ),
        (dict(candidates=np.zeros((3, 10))), TypeError, "candidates"),
        (
            dict(candidates=(np.zeros((3, 10), np.float32), np.zeros(2), np.zeros(3))),
            ValueError,
            "candidates",
        ),
    ],
)
def test_invalid_parameters(victim, data, kwargs, error, match):
    X, y, s = data
    kwargs = {"target_increase": 0.1, **kwargs}
    with pytest.raises(error, match=match):
        min_poison_count(victim, X, y, sensitive_features=s, **kwargs)


def test_invalid_victims_and_data(victim, data):
    X, y, s = data
    with pytest.raises(NotFittedError, match="victim is not fitted"):
        min_poison_count(
            AdversarialFairRepresentation(),
            X,
            y,
            sensitive_features=s,
            target_increase=1,
        )
    with pytest.raises(TypeError, match="victim"):
        min_poison_count(
            LogisticRegression().fit(X, y),
            X,
            y,
            sensitive_features=s,
            target_increase=1,
        )
    with pytest.raises(TypeError, match="victim"):
        min_poison_count(
            make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y),
            X,
            y,
            sensitive_features=s,
            target_increase=1,
        )
    unfair = AdversarialFairRepresentation(max_epochs=1, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="binary categorical"):
        min_poison_count(unfair, X, y, sensitive_features=s, target_increase=1)
    with pytest.raises(ValueError, match="y must be 1-D"):
        min_poison_count(victim, X, y[:-1], sensitive_features=s, target_increase=1)
    with pytest.raises(ValueError, match="sensitive_features"):
        min_poison_count(victim, X, y, sensitive_features=s[:-1], target_increase=1)
    with pytest.raises(ValueError, match="single group"):
        min_poison_count(
            victim, X, y, sensitive_features=np.zeros(N, int), target_increase=1
        )
    with pytest.raises(ValueError, match="features"):
        min_poison_count(victim, X[:, :5], y, sensitive_features=s, target_increase=1)
