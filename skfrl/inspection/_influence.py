"""Influence of training rows on an objective of a fitted model's representation.

A fitted model sits at a stationary point ``F(theta*) = 0`` of its training
field ``F``. Giving weight ``eps`` to a row with centred field ``g`` moves the
stationary point, to first order, by ``-eps (J + lambda I)^-1 g`` (``J`` the
Jacobian of ``F``, damped), so any differentiable objective ``Phi`` of the
parameters changes by ``eps * r . g`` with the influence vector
``r = -(J + lambda I)^-T grad Phi`` (Koh & Liang's influence functions, for a
field that need not be a gradient: gradient reversal makes ``J`` asymmetric).
The derivation is in ``docs/user_guide/poison_bound.rst``.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable

import numpy as np
import torch
from scipy.sparse.linalg import (
    ArpackError,
    ArpackNoConvergence,
    LinearOperator,
    eigs,
    gmres,
)
from sklearn.utils import Bunch, check_random_state

from ..utils import seed_from, split_representation, torch_rng
from ..utils._sklearn_compat import Interval, ordered_options, validate_params
from ._field import _PER_SAMPLE, PerSampleField, _evaluating, _reference_size
from ._graph import TrainingGraph, flat_gradient
from ._rows import TrainingRows, encode_inputs, training_rows

__all__ = ["influence"]


def _auto_damping(spectral_radius: float, leftmost: float) -> float:
    """``max(0, -Re lambda_min) + 0.1 * rho`` (at least 1e-6).

    Shifts the spectrum of ``J`` so that its leftmost point sits at a tenth
    of its reach: every direction of ``J + lambda I`` is then stable, and
    none is more than ten times flatter than the stiffest one.
    """
    return max(max(0.0, -leftmost) + 0.1 * spectral_radius, 1e-6)


def _solve_diagonal(field: PerSampleField, rows: TrainingRows, gradient, damping):
    fields = field.stack(rows)
    diag = (fields**2).mean(axis=0)
    lam = _auto_damping(float(diag.max()), 0.0) if damping == "auto" else damping
    u = gradient / (diag + lam)
    info = {
        "fisher_diag_mean": float(diag.mean()),
        "fisher_diag_max": float(diag.max()),
        "n_rows": len(rows),
    }
    return u, lam, info, fields


def _eig_estimate(op, p: int, which: str, rng) -> float:
    """One eigenvalue of ``op`` by ARPACK (loose tolerance; nan on failure)."""
    v0 = rng.standard_normal(p)
    try:
        ev = eigs(
            op,
            k=1,
            which=which,
            tol=1e-2,
            maxiter=100,
            v0=v0,
            return_eigenvectors=False,
        )
    except ArpackNoConvergence as exc:
        ev = exc.eigenvalues
    except (ArpackError, ValueError):  # pragma: no cover - tiny/degenerate J
        ev = []
    if len(ev) == 0:
        return float("nan")
    return float(ev[0].real) if which == "SR" else float(np.abs(ev[0]))


def _solve_krylov(
    graph: TrainingGraph, rows: TrainingRows, gradient, damping, max_iter, rng
):
    F = graph.field(rows, create_graph=True)
    params = graph.params
    p = len(gradient)
    n_matvec = [0]

    def jt(v: np.ndarray) -> np.ndarray:
        n_matvec[0] += 1
        vt = torch.as_tensor(np.asarray(v.real, dtype=np.float32).ravel())
        out = flat_gradient(F @ vt, params, retain_graph=True)
        return out.detach().numpy().astype(np.float64)

    # J and J^T share their spectrum: estimate its reach and leftmost point.
    op_j = LinearOperator((p, p), matvec=jt, dtype=np.float64)
    rho = _eig_estimate(op_j, p, "LM", rng)
    leftmost = _eig_estimate(op_j, p, "SR", rng)
    if damping == "auto":
        if not (math.isfinite(rho) and math.isfinite(leftmost)):
            raise RuntimeError(
                "damping='auto' could not estimate the curvature's spectrum; "
                "give damping as a number."
            )
        lam = _auto_damping(rho, leftmost)
    else:
        lam = damping
    if math.isfinite(leftmost) and leftmost + lam <= 0:
        warnings.warn(
            f"The victim's field Jacobian has an eigenvalue with real part "
            f"{leftmost:.3g} <= -damping ({-lam:.3g}): the damped curvature is "
            "not positive and the first-order response is unreliable; use "
            "damping='auto' or a damping above "
            f"{-leftmost:.3g}.",
            UserWarning,
            stacklevel=3,
        )
    op = LinearOperator((p, p), matvec=lambda v: jt(v) + lam * v, dtype=np.float64)
    n_iter = [0]

    def count(_):
        n_iter[0] += 1

    u, status = gmres(
        op,
        gradient,
        rtol=1e-6,
        restart=min(50, p),
        maxiter=max_iter,
        callback=count,
        callback_type="pr_norm",
    )
    residual = float(
        np.linalg.norm(jt(u) + lam * u - gradient)
        / max(np.linalg.norm(gradient), 1e-30)
    )
    info = {
        "solver": "gmres on (J + damping I)^T u = grad objective",
        "converged": status == 0,
        "iterations": n_iter[0],
        "relative_residual": residual,
        "spectral_radius": rho,
        "leftmost_eigenvalue": leftmost,
        "jacobian_products": n_matvec[0],
        "n_rows": len(rows),
    }
    return u, lam, info


@validate_params(
    {
        "X": ["array-like"],
        "y": ["array-like"],
        "sensitive_features": ["array-like", None],
        "objective": [callable],
        "X_target": ["array-like", None],
        "per_sample": [ordered_options(_PER_SAMPLE)],
        "reference_size": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "curvature": [ordered_options(["krylov", "diagonal"])],
        "damping": [
            Interval(numbers.Real, 0, None, closed="neither"),
            ordered_options(["auto"]),
        ],
        "max_samples": [Interval(numbers.Integral, 2, None, closed="left")],
        "max_field_samples": [Interval(numbers.Integral, 1, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def influence(
    victim,
    X,
    y,
    *,
    sensitive_features=None,
    objective: Callable[[torch.Tensor], torch.Tensor],
    X_target=None,
    per_sample: str = "marginal",
    reference_size: int | None = None,
    curvature: str = "krylov",
    damping: float | str = "auto",
    max_samples: int = 2000,
    max_field_samples: int = 300,
    max_iter: int = 20,
    random_state=None,
) -> Bunch:
    """First-order influence of training rows on an objective of the representation.

    With ``Phi = objective(Z)`` a differentiable function of the fitted
    model's representation ``Z`` of ``X_target``, returns the influence
    vector ``r = -(J + damping I)^-T grad_theta Phi``: a row with centred
    per-sample field ``g(x)`` (:class:`PerSampleField`) added to the
    training data with share ``eps`` changes ``Phi`` by ``eps * r . g(x)``
    to first order. ``J`` is the Jacobian of the model's training field
    (:class:`TrainingGraph`, exact through gradient reversal) at the fitted
    parameters, ``damping`` a positive shift of its spectrum.

    The module is evaluated in eval mode, with torch's generator seeded
    from ``random_state`` (the caller's is left as it was).

    .. versionadded:: 0.1

    Parameters
    ----------
    victim : BaseFairNet or Pipeline
        A fitted skfrl neural FRL model, or a fitted Pipeline
        ``[preprocessing ->] model [-> downstream]``.
    X : DataFrame or array-like of shape (n_samples, n_features)
        The model's training rows (raw, as the Pipeline receives them).
    y : array-like of shape (n_samples,)
        Training labels.
    sensitive_features : array-like of shape (n_samples,) or \
(n_samples, n_attributes), default=None
        Training sensitive attributes.
    objective : callable
        ``objective(Z) -> Tensor``: a differentiable scalar of the
        representation ``Z`` (a float32 tensor of shape
        ``(n_target, n_components)``), e.g.
        ``lambda Z: skfrl.attacks.fld_torch(Z, s_codes)``.
    X_target : DataFrame or array-like, default=None
        Rows (raw) whose representation ``objective`` takes; default ``X``.
    per_sample : {"marginal", "single"}, default="marginal"
        How the per-sample fields (``result.field``) are measured, see
        :class:`PerSampleField`: ``"marginal"`` against a reference batch
        of ``reference_size`` training rows, ``"single"`` against the mean
        field.
    reference_size : int or None, default=None
        Rows of the reference batch; None uses the model's ``batch_size``.
    curvature : {"krylov", "diagonal"}, default="krylov"
        ``"krylov"``: solve ``(J + damping I)^T u = grad Phi`` by GMRES with
        Jacobian-vector products of the training field over up to
        ``max_samples`` training rows; ``"diagonal"``: the damped diagonal
        of the empirical Fisher matrix of the per-sample fields of
        ``max_field_samples`` rows (cheaper, cruder).
    damping : float or "auto", default="auto"
        ``lambda > 0``. ``"auto"`` estimates the spectral radius ``rho``
        and the leftmost eigenvalue of ``J`` (ARPACK, loose tolerance; for
        ``"diagonal"`` the largest Fisher entry) and takes
        ``max(0, -Re lambda_min) + 0.1 * rho``. A number below
        ``-Re lambda_min`` triggers a ``UserWarning``.
    max_samples : int, default=2000
        Training rows (a random subset when there are more) for the mean
        field and the curvature.
    max_field_samples : int, default=300
        Rows of that subset (a random subset again) whose per-sample fields
        are computed: the empirical Fisher of ``"diagonal"`` and the
        stationarity diagnostic.
    max_iter : int, default=20
        GMRES restarts (of up to 50 iterations each) for ``"krylov"``.
    random_state : int, RandomState instance or None, default=None
        Seeds the subsets, the reference batch, the spectrum estimates and
        torch.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        With attributes

        influence : ndarray of shape (n_params,)
            ``r``, over the trainable parameters of the model's module (in
            ``named_parameters()`` order).
        value : float
            ``Phi`` at the fitted parameters.
        gradient : ndarray of shape (n_params,)
            ``grad_theta Phi``.
        curvature : str
            As given.
        damping : float
            ``lambda`` used.
        curvature_info : dict
            Solver diagnostics (e.g. residual, iterations, spectrum
            estimates, diagonal statistics).
        stationarity : float
            ``||mean field|| / mean ||per-sample field||`` on the training
            rows: 0 at an exact stationary point, near 1 far from one.
        field : PerSampleField
            The per-sample field used (its graph is ``field.graph``).
        training_fields : ndarray of shape (n_field_samples, n_params)
            Per-sample fields of the ``max_field_samples`` rows.

    Raises
    ------
    TypeError
        ``victim`` holds no skfrl neural FRL model, or a parameter of the
        wrong type.
    ValueError
        Parameters out of range, or data the model cannot take.

    See Also
    --------
    skfrl.attacks.min_poison_count : The poison-count bound built on it.
    per_sample_fields : ``g(x)`` of every training row.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from skfrl.attacks import fld_torch
    >>> from skfrl.datasets import make_biased_classification
    >>> from skfrl.inspection import influence
    >>> from skfrl.models import AdversarialFairRepresentation
    >>> X, y, s = make_biased_classification(n_samples=100, random_state=0)
    >>> victim = AdversarialFairRepresentation(
    ...     n_components=2, hidden_layer_sizes=(8,), max_epochs=5,
    ...     random_state=0).fit(X, y, sensitive_features=s)
    >>> codes = torch.as_tensor(s)
    >>> res = influence(victim, X, y, sensitive_features=s,
    ...                 objective=lambda Z: fld_torch(Z, codes),
    ...                 curvature="diagonal", random_state=0)
    >>> res.influence.shape == res.gradient.shape, res.value > 0
    (True, True)
    """
    train = training_rows(victim, X, y, sensitive_features=sensitive_features)
    pre, frl = split_representation(victim, neural=True, input_name="victim")
    E_t = (
        train.E
        if X_target is None
        else encode_inputs(pre, X_target, input_name="X_target")
    )
    rng = check_random_state(random_state)
    n = len(train)
    reference_size = _reference_size(frl, n, reference_size)
    with _evaluating(frl), torch_rng(seed_from(rng)):
        graph = TrainingGraph(frl, train.take(np.arange(min(n, 8))))
        sub = (
            np.sort(rng.choice(n, size=max_samples, replace=False))
            if n > max_samples
            else np.arange(n)
        )
        train_sub = train.take(sub)
        F_mean = graph.field(train_sub).detach()
        if per_sample == "marginal":
            ref_idx = np.sort(rng.choice(n, size=min(reference_size, n), replace=False))
            field = PerSampleField(graph, train.take(ref_idx), per_sample="marginal")
        else:
            field = PerSampleField(
                graph, train_sub, per_sample="single", reference_field=F_mean
            )
        value = objective(frl.module_.encode(torch.as_tensor(E_t)))
        gradient = flat_gradient(value, graph.params)
        gradient = gradient.detach().numpy().astype(np.float64)

        n_fields = min(len(train_sub), max_field_samples)
        field_rows = train_sub.take(
            np.sort(rng.choice(len(train_sub), size=n_fields, replace=False))
        )
        if curvature == "diagonal":
            u, damping, info, fields = _solve_diagonal(
                field, field_rows, gradient, damping
            )
        else:
            u, damping, info = _solve_krylov(
                graph, train_sub, gradient, damping, max_iter, rng
            )
            fields = field.stack(field_rows)
    F_ref = field.reference_field.numpy()
    stationarity = float(
        F_mean.norm() / max(np.linalg.norm(fields + F_ref, axis=1).mean(), 1e-30)
    )
    return Bunch(
        influence=-u,
        value=float(value.detach()),
        gradient=gradient,
        curvature=curvature,
        damping=damping,
        curvature_info=info,
        stationarity=stationarity,
        field=field,
        training_fields=fields,
    )
