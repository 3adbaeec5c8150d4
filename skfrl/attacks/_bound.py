"""How many poisons it takes to raise a representation's FLD: a first-order bound.

The derivation is in ``docs/user_guide/poison_bound.rst``. In short: a fitted
victim sits at a stationary point ``F(theta*) = 0`` of its training field
``F`` (the gradient of its training loss through its own training graph,
gradient reversal included). Mixing ``m`` poisons into ``n`` clean rows moves
the field by ``eps * mean_p g_p`` with ``eps = m / (n + m)`` and ``g_p`` each
poison's (centred) contribution, so, to first order, the stationary point
moves by ``-eps * (J + lambda I)^-1 mean_p g_p`` (``J`` the Jacobian of
``F``, damped) and the target data's FLD by ``eps * r . mean_p g_p`` with the
influence vector ``r = -(J + lambda I)^-T grad FLD``. Cauchy-Schwarz then
bounds the change by ``eps * ||r|| * G_max``.
"""

from __future__ import annotations

import math
import numbers
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from scipy.sparse.linalg import (
    ArpackError,
    ArpackNoConvergence,
    LinearOperator,
    eigs,
    gmres,
)
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._base import BaseFairNet, _seed_from
from ..utils import check_sensitive_features, torch_rng
from ._eng import fld_torch
from ._graph import _codes, _flat, _Graph, _Rows

__all__ = ["PoisonCountBound", "min_poison_count"]

_ASSUMPTIONS = (
    "First order: the victim's parameters respond linearly to the poisons' "
    "share eps = m/(n+m) (influence functions); accurate for small eps, "
    "optimistic or pessimistic beyond.",
    "Stationarity: the fitted victim is (close to) a stationary point of its "
    "training field; see `stationarity` (||mean field|| / mean per-sample "
    "norm; 0 at an exact stationary point).",
    "Retraining from scratch lands near the same stationary point (same "
    "basin); seed-to-seed variation of the retrained FLD is not modelled.",
    "Curvature: the damped estimate (J + damping * I) stands in for the "
    "Jacobian of the training field at theta*; damping also models weight "
    "decay / early stopping and changes the result.",
    "G_max is the largest per-sample (centred) field norm over the candidate "
    "poisons examined (plus box refinement when box_steps > 0); a poison "
    "outside that set with a larger norm could beat n_min.",
    "The FLD is fld_torch (ridge 1e-3, unbiased group covariances) of the "
    "victim's representation of the target data, and only the first "
    "sensitive attribute's two groups count.",
)


@dataclass(frozen=True, repr=False)
class PoisonCountBound:
    """Result of :func:`min_poison_count`.

    Parameters
    ----------
    n_min : float
        First-order lower bound on the number of poisons needed to raise the
        target FLD by ``target_increase``: an integer-valued float, or
        ``inf`` when no poison set within the gradient-norm bound reaches it
        to first order (``coefficient <= target_increase``).
    n_estimate : float
        Poisons needed if every poison were as aligned as the best candidate
        examined (``alignment_max``); integer-valued or ``inf``.
        ``n_estimate >= n_min``.
    target_increase : float
        The requested FLD increase ``tau``.
    n_train : int
        Clean training-set size ``n``.
    fld : float
        FLD of the fitted victim's representation of the target data.
    coefficient : float
        ``C = ||r|| * G_max``: the largest first-order FLD increase per unit
        of poison share ``eps = m / (n + m)``.
    alignment_max : float
        ``A = max_x r . g(x)`` over the candidates: the best first-order FLD
        increase per unit of poison share that was found.
    influence_norm : float
        ``||r||``, with ``r = -(J + damping I)^-T grad FLD``.
    grad_norm_max, grad_norm_mean, grad_norm_median : float
        Statistics of the candidates' per-sample field norms ``||g(x)||``
        (``grad_norm_max`` includes box refinement).
    candidate_grad_norms : ndarray of shape (n_candidates,)
        ``||g(x)||`` per candidate (label choices expanded).
    candidate_alignments : ndarray of shape (n_candidates,)
        ``r . g(x)`` per candidate: its first-order FLD increase per unit
        of poison share.
    fld_gradient : ndarray of shape (n_params,)
        ``grad_theta FLD`` at the fitted parameters (all trainable
        parameters of the victim's module, in ``module.parameters()`` order).
    influence : ndarray of shape (n_params,)
        The influence vector ``r``.
    curvature : str
        ``"diagonal"`` or ``"krylov"``.
    damping : float
        ``lambda``.
    curvature_info : dict
        Solver diagnostics (e.g. residual, iterations, diagonal statistics).
    stationarity : float
        ``||mean_i g_i|| / mean_i ||g_i||`` on the training rows: 0 at an
        exact stationary point, near 1 far from one.
    details : dict
        Further measured quantities (candidate counts, pre-refinement
        maxima, timings).
    assumptions : tuple of str
        What the bound takes for granted.

    Examples
    --------
    >>> from skfrl.attacks import PoisonCountBound
    >>> "n_min" in PoisonCountBound.__dataclass_fields__
    True
    """

    n_min: float
    n_estimate: float
    target_increase: float
    n_train: int
    fld: float
    coefficient: float
    alignment_max: float
    influence_norm: float
    grad_norm_max: float
    grad_norm_mean: float
    grad_norm_median: float
    candidate_grad_norms: np.ndarray
    candidate_alignments: np.ndarray
    fld_gradient: np.ndarray
    influence: np.ndarray
    curvature: str
    damping: float
    curvature_info: dict = field(default_factory=dict)
    stationarity: float = float("nan")
    details: dict = field(default_factory=dict)
    assumptions: tuple = _ASSUMPTIONS

    def predicted_increase(self, n_poison) -> tuple[float, float]:
        """First-order FLD increase with ``n_poison`` poisons.

        Parameters
        ----------
        n_poison : int or float
            Number of poisons ``m``.

        Returns
        -------
        upper : float
            ``m / (n + m) * coefficient``: no first-order attack with ``m``
            poisons inside the gradient-norm bound exceeds it.
        estimate : float
            ``m / (n + m) * alignment_max``: every poison as aligned as the
            best candidate.

        Examples
        --------
        >>> import numpy as np
        >>> from skfrl.attacks import PoisonCountBound
        >>> b = PoisonCountBound(
        ...     n_min=25.0, n_estimate=100.0, target_increase=0.1, n_train=100,
        ...     fld=0.5, coefficient=0.5, alignment_max=0.2, influence_norm=1.0,
        ...     grad_norm_max=0.5, grad_norm_mean=0.1, grad_norm_median=0.1,
        ...     candidate_grad_norms=np.ones(1), candidate_alignments=np.ones(1),
        ...     fld_gradient=np.ones(1), influence=np.ones(1),
        ...     curvature="diagonal", damping=0.1)
        >>> b.predicted_increase(100)
        (0.25, 0.1)
        """
        m = float(n_poison)
        if m < 0:
            raise ValueError(f"n_poison must be >= 0, got {n_poison}.")
        eps = m / (self.n_train + m)
        return eps * self.coefficient, eps * self.alignment_max

    def __repr__(self) -> str:
        return (
            f"PoisonCountBound(n_min={self.n_min:g}, n_estimate="
            f"{self.n_estimate:g}, target_increase={self.target_increase:g}, "
            f"n_train={self.n_train}, fld={self.fld:.4g}, coefficient="
            f"{self.coefficient:.4g}, alignment_max={self.alignment_max:.4g}, "
            f"curvature={self.curvature!r}, damping={self.damping:g})"
        )


def _poisons_needed(n: int, tau: float, per_share: float) -> float:
    """Smallest m with m / (n + m) * per_share >= tau (inf if unreachable)."""
    if not per_share > tau:
        return math.inf
    m = n * tau / (per_share - tau)
    # Guard against m being an integer up to rounding noise.
    return float(max(1, math.ceil(m - 1e-9)))


# -- victim plumbing ---------------------------------------------------------
def _split(victim):
    """(preprocessing Pipeline or None, fitted FRL step)."""
    if isinstance(victim, BaseFairNet):
        pre, frl = None, victim
    elif isinstance(victim, Pipeline):
        idx = next(
            (
                i
                for i, (_, st) in enumerate(victim.steps)
                if isinstance(st, BaseFairNet)
            ),
            None,
        )
        if idx is None:
            raise TypeError(
                "victim must be a fitted skfrl neural FRL model (a BaseFairNet "
                "subclass) or a Pipeline with one as a step; the Pipeline has "
                f"{[type(st).__name__ for _, st in victim.steps]}."
            )
        pre, frl = (victim[:idx] if idx else None), victim.steps[idx][1]
    else:
        raise TypeError(
            "victim must be a fitted skfrl neural FRL model (a BaseFairNet "
            f"subclass) or a Pipeline with one as a step; got "
            f"{type(victim).__name__}."
        )
    try:
        check_is_fitted(frl)
    except NotFittedError as exc:
        raise NotFittedError(
            f"victim is not fitted: min_poison_count measures a trained "
            f"victim; call fit on {type(frl).__name__} first."
        ) from exc
    attrs = getattr(frl, "sensitive_attributes_", [])
    if not attrs or attrs[0].kind != "categorical" or attrs[0].n_classes != 2:
        raise ValueError(
            "victim must have been fitted with a binary categorical (first) "
            "sensitive attribute; the FLD bound concerns two groups."
        )
    return pre, frl


def _encode(pre, X, name: str) -> np.ndarray:
    if isinstance(X, pd.Series) or np.ndim(X) != 2:
        raise ValueError(f"{name} must be 2-D, got shape {np.shape(X)}.")
    E = pre.transform(X) if pre is not None else X
    if sp.issparse(E):
        E = E.toarray()
    E = np.asarray(E, dtype=np.float32)
    if not np.all(np.isfinite(E)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    return np.ascontiguousarray(E)


def _as_frame(s, n: int, name: str, *, check: bool = True) -> pd.DataFrame:
    if check:  # full validation (two groups per categorical attribute...)
        check_sensitive_features(s, n_samples=n, input_name=name)
    if isinstance(s, pd.DataFrame):
        frame = s.reset_index(drop=True)
    elif isinstance(s, pd.Series):
        frame = s.reset_index(drop=True).to_frame()
    else:
        arr = np.asarray(s)
        if arr.ndim not in (1, 2):
            raise ValueError(f"{name} must be 1-D or 2-D, got shape {arr.shape}.")
        frame = pd.DataFrame(arr.reshape(len(arr), -1))
    if len(frame) != n:
        raise ValueError(f"{name} has {len(frame)} rows, expected {n}.")
    return frame


class _Contribution:
    """Centred per-sample field ``g(x)``: a row's first-order pull on theta*.

    ``"single"``: ``g(x) = grad l(x) - F_ref`` with ``l`` the loss on a batch
    of one. ``"marginal"``: ``g(x) = (b + 1) (F(R + x) - F(R))`` on a fixed
    reference batch ``R`` of ``b`` training rows, which equals the former for
    a loss that averages per-sample terms and also covers losses that weight
    samples by group frequencies or compare groups within a batch.
    """

    def __init__(self, graph: _Graph, mode: str, ref: _Rows, F_ref: torch.Tensor):
        self.graph, self.mode, self.ref, self.F_ref = graph, mode, ref, F_ref

    def __call__(self, row: _Rows, E=None, create_graph=False) -> torch.Tensor:
        if self.mode == "single":
            return self.graph.field(row, E, create_graph) - self.F_ref
        rows = self.ref.concat(row)
        E_all = None
        if E is not None:
            E_all = torch.cat([torch.as_tensor(self.ref.E), E])
        b = len(self.ref)
        return (b + 1) * (self.graph.field(rows, E_all, create_graph) - self.F_ref)

    def many(self, rows: _Rows) -> np.ndarray:
        out = np.empty((len(rows), int(self.F_ref.numel())), dtype=np.float64)
        for i in range(len(rows)):
            out[i] = self(rows.take(slice(i, i + 1))).detach().numpy()
        return out


def _check_positive(value, name: str, *, allow_zero=False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}.")
    ok = value >= 0 if allow_zero else value > 0
    if not (ok and math.isfinite(value)):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value!r}.")
    return float(value)


def _check_int(value, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}.")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}.")
    return int(value)


def _check_choice(value, name: str, options) -> str:
    if value not in options:
        raise ValueError(f"{name} must be one of {sorted(options)}, got {value!r}.")
    return value


def _expand_labels(frl, X_c, y_c, S_c: pd.DataFrame, label_choices: str):
    """Every candidate row with every (y, s) the attacker may give it."""
    if label_choices == "keep":
        return X_c, y_c, S_c
    labels = getattr(frl, "classes_", None)
    labels = np.unique(y_c) if labels is None else labels
    groups = frl.sensitive_attributes_[0].classes
    idx, ys, S_rows = [], [], []
    for y_val in labels:
        for g in groups:
            idx.append(np.arange(len(y_c)))
            ys.append(np.full(len(y_c), y_val, dtype=np.asarray(labels).dtype))
            S_new = S_c.copy()
            S_new.iloc[:, 0] = g
            S_rows.append(S_new)
    idx = np.concatenate(idx)
    return X_c[idx], np.concatenate(ys), pd.concat(S_rows, ignore_index=True)


def _auto_damping(spectral_radius: float, leftmost: float) -> float:
    """``max(0, -Re lambda_min) + 0.1 * rho`` (at least 1e-6).

    Shifts the spectrum of ``J`` so that its leftmost point sits at a tenth
    of its reach: every direction of ``J + lambda I`` is then stable, and
    none is more than ten times flatter than the stiffest one.
    """
    return max(max(0.0, -leftmost) + 0.1 * spectral_radius, 1e-6)


def _solve_diagonal(contrib, train: _Rows, g_fld, damping):
    fields = contrib.many(train)
    diag = (fields**2).mean(axis=0)
    lam = _auto_damping(float(diag.max()), 0.0) if damping == "auto" else damping
    u = g_fld / (diag + lam)
    info = {
        "fisher_diag_mean": float(diag.mean()),
        "fisher_diag_max": float(diag.max()),
        "n_rows": len(train),
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


def _solve_krylov(graph, train: _Rows, g_fld, damping, max_iter, rng):
    F = graph.field(train, create_graph=True)
    params = graph.params
    p = len(g_fld)
    n_matvec = [0]

    def jt(v: np.ndarray) -> np.ndarray:
        n_matvec[0] += 1
        vt = torch.as_tensor(np.asarray(v.real, dtype=np.float32).ravel())
        grads = torch.autograd.grad(
            F @ vt, params, retain_graph=True, allow_unused=True
        )
        return _flat(grads, params).detach().numpy().astype(np.float64)

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
        g_fld,
        rtol=1e-6,
        restart=min(50, p),
        maxiter=max_iter,
        callback=count,
        callback_type="pr_norm",
    )
    residual = float(
        np.linalg.norm(jt(u) + lam * u - g_fld) / max(np.linalg.norm(g_fld), 1e-30)
    )
    info = {
        "solver": "gmres on (J + damping I)^T u = grad FLD",
        "converged": status == 0,
        "iterations": n_iter[0],
        "relative_residual": residual,
        "spectral_radius": rho,
        "leftmost_eigenvalue": leftmost,
        "jacobian_products": n_matvec[0],
        "n_rows": len(train),
    }
    return u, lam, info


def _refine(contrib, rows: _Rows, r_t, lower, upper, steps, lr, objective):
    """Projected Adam ascent of ``objective(g(x))`` over x in the box."""
    best = np.full(len(rows), -np.inf)
    for i in range(len(rows)):
        row = rows.take(slice(i, i + 1))
        x = torch.as_tensor(row.E).clone().requires_grad_(True)
        opt = torch.optim.Adam([x], lr=lr)
        for _ in range(steps + 1):
            g = contrib(row, x, create_graph=True)
            value = g @ r_t if objective == "alignment" else g.norm()
            best[i] = max(best[i], float(value.detach()))
            if _ == steps:
                break
            opt.zero_grad()
            (-value).backward()
            opt.step()
            with torch.no_grad():
                x.copy_(torch.clamp(x, lower, upper))
    return best


def min_poison_count(
    victim,
    X,
    y,
    *,
    sensitive_features,
    target_increase: float,
    X_target=None,
    s_target=None,
    candidates=None,
    label_choices: str = "all",
    max_candidates: int = 300,
    per_sample: str = "marginal",
    reference_size: int | None = None,
    curvature: str = "krylov",
    damping: float | str = "auto",
    max_samples: int = 2000,
    max_iter: int = 20,
    box_steps: int = 0,
    box_starts: int = 4,
    random_state=None,
) -> PoisonCountBound:
    """Lower-bound the number of poisons that raise a victim's FLD by ``tau``.

    An influence-function argument (derivation in the user guide,
    :ref:`poison_bound`): with ``m`` poisons among ``n`` clean rows, the
    fitted parameters move, to first order, by
    ``-eps (J + lambda I)^-1 gbar`` with ``eps = m / (n + m)``, ``J`` the
    Jacobian of the victim's training field at the fitted parameters and
    ``gbar`` the poisons' mean centred per-sample field. The FLD of the
    victim's representation of the target data thus changes by
    ``eps * r . gbar`` with ``r = -(J + lambda I)^-T grad FLD``, which is at
    most ``eps * ||r|| * G_max``. Raising the FLD by ``tau`` therefore needs ::

        m >= n_min = n * tau / (C - tau),   C = ||r|| * G_max,

    (``inf`` when ``C <= tau``). ``G_max`` is the largest per-sample field
    norm over the candidate poisons. The less conservative ``n_estimate``
    replaces ``C`` by the best alignment ``A = max_x r . g(x)`` found among
    the candidates.

    Every quantity is measured on the fitted victim: per-sample fields
    through the victim's own training loss graph (as
    :class:`PoisonGenerator` uses it, gradient reversal included), a damped
    curvature estimate and the FLD gradient on the target data.

    .. versionadded:: 0.1

    Parameters
    ----------
    victim : BaseFairNet or Pipeline
        A *fitted* skfrl neural FRL model, or a fitted Pipeline
        ``[preprocessing ->] model [-> downstream]``, trained on
        ``(X, y, sensitive_features)`` with a binary categorical first
        sensitive attribute.
    X : DataFrame or array-like of shape (n_samples, n_features)
        The victim's clean training rows (raw, as the Pipeline receives
        them). Never modified.
    y : array-like of shape (n_samples,)
        Training labels.
    sensitive_features : array-like of shape (n_samples,) or \
(n_samples, n_attributes)
        Training sensitive attributes.
    target_increase : float
        ``tau > 0``: the FLD increase the attacker wants on the target data.
    X_target : DataFrame or array-like, default=None
        Rows whose representation the attacker wants to leak ``s``;
        default ``X``.
    s_target : array-like of shape (n_target,), default=None
        Their first sensitive attribute; required with ``X_target``,
        default the first column of ``sensitive_features``.
    candidates : tuple (X_c, y_c, s_c) or None, default=None
        Candidate poisons (raw rows, labels, sensitive values). Default: up
        to ``max_candidates`` training rows.
    label_choices : {"all", "keep"}, default="all"
        ``"all"``: every candidate is tried with every label and every group
        of the first attribute (attackers choose poisons' labels);
        ``"keep"``: candidates keep their own labels.
    max_candidates : int, default=300
        Candidate rows examined (a random subset when there are more),
        before label expansion.
    per_sample : {"marginal", "single"}, default="marginal"
        How a row's field is measured: ``"marginal"`` adds it to a
        reference batch of ``reference_size`` training rows and takes the
        scaled difference (right for losses weighted by group frequencies or
        defined on batches); ``"single"`` takes the loss on a batch of one
        minus the mean field (exact for plain mean losses, faster).
    reference_size : int or None, default=None
        Rows in the reference batch of ``per_sample="marginal"``; ``None``
        uses the victim's ``batch_size`` (a poison's weight relative to the
        batch it trains in is what moves the parameters).
    curvature : {"krylov", "diagonal"}, default="krylov"
        ``"krylov"``: solve ``(J + damping I)^T u = grad FLD`` by GMRES with
        Jacobian-vector products of the training field (``J`` is not
        symmetric for gradient-reversal training); ``"diagonal"``: the
        damped diagonal of the empirical Fisher matrix of the per-sample
        fields.
    damping : float or "auto", default="auto"
        ``lambda > 0`` added to the curvature. ``"auto"`` estimates the
        spectral radius ``rho`` and the leftmost eigenvalue of ``J`` (ARPACK,
        loose tolerance; for ``"diagonal"`` the largest Fisher entry) and
        takes ``max(0, -Re lambda_min) + 0.1 * rho``: it shifts the
        spectrum into the right half-plane (the condition for a meaningful
        linear response, as in Koh & Liang's damped Hessian) with its
        leftmost point at a tenth of the stiffest direction. A number below
        ``-Re lambda_min`` triggers a ``UserWarning``.
    max_samples : int, default=2000
        Training rows (a random subset when there are more) for the mean
        field, the curvature and the stationarity diagnostic.
    max_iter : int, default=20
        GMRES restarts (of up to 50 iterations each) for ``"krylov"``.
    box_steps : int, default=0
        When > 0, the ``box_starts`` best candidates by alignment and by norm
        are moved within the box of the encoded training data by this many
        projected Adam steps, maximising their alignment and their norm; the
        maxima found enter ``alignment_max`` and ``grad_norm_max``.
    box_starts : int, default=4
        Starting candidates per refined quantity.
    random_state : int, RandomState instance or None, default=None
        Seeds the subsets (candidates, reference batch, curvature rows).

    Returns
    -------
    PoisonCountBound
        ``n_min``, ``n_estimate``, the measured quantities and the
        assumptions; ``predicted_increase(m)`` gives the first-order FLD
        increase of ``m`` poisons.

    Raises
    ------
    TypeError
        If ``victim`` is not an skfrl neural FRL model or a Pipeline with
        one, or a numeric parameter has the wrong type.
    ValueError
        If ``victim`` is not fitted (``NotFittedError``), parameters are out
        of range, lengths disagree, or ``s_target`` has a single group.

    See Also
    --------
    PoisonGenerator : The ENG attack whose success this bounds.

    Notes
    -----
    The bound is first-order and local: it concerns the victim's parameters
    near the fitted ones, not a retraining from scratch that may land
    elsewhere, and holds only for poisons whose fields do not exceed
    ``G_max`` (a measured maximum, not a supremum). See the user guide for
    the derivation and what it implies for defenses.

    Examples
    --------
    >>> from skfrl.attacks import min_poison_count
    >>> from skfrl.datasets import make_biased_classification
    >>> from skfrl.models import AdversarialFairRepresentation
    >>> X, y, s = make_biased_classification(n_samples=200, random_state=0)
    >>> victim = AdversarialFairRepresentation(
    ...     n_components=2, hidden_layer_sizes=(8,), max_epochs=5,
    ...     random_state=0).fit(X, y, sensitive_features=s)
    >>> res = min_poison_count(victim, X, y, sensitive_features=s,
    ...                        target_increase=0.05, max_candidates=20,
    ...                        random_state=0)
    >>> 1 <= res.n_min <= res.n_estimate
    True
    """
    start = time.perf_counter()
    tau = _check_positive(target_increase, "target_increase")
    if not (isinstance(damping, str) and damping == "auto"):
        damping = _check_positive(damping, "damping")
    _check_choice(curvature, "curvature", {"krylov", "diagonal"})
    _check_choice(per_sample, "per_sample", {"marginal", "single"})
    _check_choice(label_choices, "label_choices", {"all", "keep"})
    max_candidates = _check_int(max_candidates, "max_candidates", 1)
    if reference_size is not None:
        reference_size = _check_int(reference_size, "reference_size", 1)
    max_samples = _check_int(max_samples, "max_samples", 2)
    max_iter = _check_int(max_iter, "max_iter", 1)
    box_steps = _check_int(box_steps, "box_steps", 0)
    box_starts = _check_int(box_starts, "box_starts", 1)
    pre, frl = _split(victim)
    rng = check_random_state(random_state)

    # -- data ----------------------------------------------------------------
    E = _encode(pre, X, "X")
    n = len(E)
    if n < 2:
        raise ValueError(f"X needs at least 2 samples, got {n}.")
    if reference_size is None:  # the victim's batch (-1: whole data in skorch)
        batch_size = getattr(frl, "batch_size", n)
        reference_size = n if batch_size is None or batch_size <= 0 else batch_size
    if y is None:
        raise ValueError("y is required: the victim's training loss uses it.")
    y_arr = np.asarray(y)
    if y_arr.ndim != 1 or len(y_arr) != n:
        raise ValueError(
            f"y must be 1-D with one label per row of X ({n}), got shape {y_arr.shape}."
        )
    if E.shape[1] != frl.n_features_in_:
        raise ValueError(
            f"X has {E.shape[1]} features after preprocessing but the victim "
            f"was fitted on {frl.n_features_in_}."
        )
    S = _as_frame(sensitive_features, n, "sensitive_features")
    if S.shape[1] != len(frl.sensitive_attributes_):
        raise ValueError(
            f"sensitive_features has {S.shape[1]} attributes but the victim "
            f"was fitted with {len(frl.sensitive_attributes_)}."
        )
    train = _Rows(E, *_codes(frl, y_arr, S, "y/sensitive_features"))

    groups = frl.sensitive_attributes_[0].classes
    if X_target is None:
        if s_target is not None:
            raise ValueError("s_target was given without X_target.")
        E_t, s_t, s_name = E, S.iloc[:, 0].to_numpy(), "sensitive_features"
    else:
        if s_target is None:
            raise ValueError("X_target needs s_target (its sensitive attribute).")
        E_t = _encode(pre, X_target, "X_target")
        s_t = np.asarray(s_target)
        if s_t.ndim != 1 or len(s_t) != len(E_t):
            raise ValueError(
                f"s_target must be 1-D with one value per row of X_target "
                f"({len(E_t)}), got shape {s_t.shape}."
            )
        s_name = "s_target"
    present = np.isin(groups, s_t)
    if not present.all() or not np.isin(s_t, groups).all():
        raise ValueError(
            f"{s_name} must hold both groups {groups.tolist()} of the victim's "
            f"first sensitive attribute (and no others); FLD needs two groups."
        )
    s_t_codes = torch.as_tensor(np.searchsorted(groups, s_t))

    if candidates is None:
        pick = np.sort(rng.choice(n, size=min(max_candidates, n), replace=False))
        X_c, y_c, S_c = E[pick], y_arr[pick], S.iloc[pick].reset_index(drop=True)
    else:
        if not isinstance(candidates, tuple | list) or len(candidates) != 3:
            raise TypeError("candidates must be a tuple (X_c, y_c, s_c).")
        X_c = _encode(pre, candidates[0], "candidates[0]")
        y_c = np.asarray(candidates[1])
        if y_c.ndim != 1 or len(y_c) != len(X_c):
            raise ValueError(
                f"candidates' labels must be 1-D with one per row ({len(X_c)}), "
                f"got shape {y_c.shape}."
            )
        S_c = _as_frame(candidates[2], len(X_c), "candidates[2]", check=False)
        if len(X_c) > max_candidates:
            pick = np.sort(rng.choice(len(X_c), size=max_candidates, replace=False))
            X_c, y_c, S_c = X_c[pick], y_c[pick], S_c.iloc[pick].reset_index(drop=True)
    X_c, y_c, S_c = _expand_labels(frl, X_c, y_c, S_c, label_choices)
    cand = _Rows(X_c, *_codes(frl, y_c, S_c, "candidates"))

    # -- measurement -----------------------------------------------------------
    module = frl.module_
    was_training = module.training
    frl._set_training(False)
    try:
        with torch_rng(_seed_from(rng)):
            graph = _Graph(frl, train.take(np.arange(min(n, 8))))
            sub = (
                np.sort(rng.choice(n, size=max_samples, replace=False))
                if n > max_samples
                else np.arange(n)
            )
            train_sub = train.take(sub)
            F_mean = graph.field(train_sub).detach()
            if per_sample == "marginal":
                ref_idx = np.sort(
                    rng.choice(n, size=min(reference_size, n), replace=False)
                )
                ref = train.take(ref_idx)
                F_ref = graph.field(ref).detach()
            else:
                ref, F_ref = None, F_mean
            contrib = _Contribution(graph, per_sample, ref, F_ref)

            Z_t = module.encode(torch.as_tensor(E_t))
            fld_t = fld_torch(Z_t, s_t_codes)
            grads = torch.autograd.grad(fld_t, graph.params, allow_unused=True)
            g_fld = _flat(grads, graph.params).detach().numpy().astype(np.float64)

            n_fisher = min(len(train_sub), max_candidates)
            fisher_rows = train_sub.take(
                np.sort(rng.choice(len(train_sub), size=n_fisher, replace=False))
            )
            if curvature == "diagonal":
                u, damping, info, train_fields = _solve_diagonal(
                    contrib, fisher_rows, g_fld, damping
                )
            else:
                u, damping, info = _solve_krylov(
                    graph, train_sub, g_fld, damping, max_iter, rng
                )
                train_fields = contrib.many(fisher_rows)
            r = -u
            norms_train = np.linalg.norm(train_fields, axis=1)
            stationarity = float(
                F_mean.norm()
                / max(
                    np.linalg.norm(train_fields + F_ref.numpy(), axis=1).mean(), 1e-30
                )
            )

            fields = contrib.many(cand)
            norms = np.linalg.norm(fields, axis=1)
            align = fields @ r
            g_max_rows, a_max_rows = float(norms.max()), float(align.max())
            g_max, a_max = g_max_rows, a_max_rows
            if box_steps:
                lower = torch.as_tensor(E.min(axis=0))
                upper = torch.as_tensor(E.max(axis=0))
                scale = float(np.mean(E.max(axis=0) - E.min(axis=0))) or 1.0
                r_t = torch.as_tensor(r, dtype=torch.float32)
                k = min(box_starts, len(cand))
                top_a = cand.take(np.argsort(-align, kind="stable")[:k])
                top_g = cand.take(np.argsort(-norms, kind="stable")[:k])
                a_box = _refine(
                    contrib,
                    top_a,
                    r_t,
                    lower,
                    upper,
                    box_steps,
                    0.05 * scale,
                    "alignment",
                )
                g_box = _refine(
                    contrib, top_g, r_t, lower, upper, box_steps, 0.05 * scale, "norm"
                )
                a_max, g_max = (
                    max(a_max, float(a_box.max())),
                    max(g_max, float(g_box.max())),
                )
    finally:
        module.train(was_training)

    r_norm = float(np.linalg.norm(r))
    C = r_norm * g_max
    return PoisonCountBound(
        n_min=_poisons_needed(n, tau, C),
        n_estimate=_poisons_needed(n, tau, a_max),
        target_increase=tau,
        n_train=n,
        fld=float(fld_t.detach()),
        coefficient=C,
        alignment_max=a_max,
        influence_norm=r_norm,
        grad_norm_max=g_max,
        grad_norm_mean=float(norms.mean()),
        grad_norm_median=float(np.median(norms)),
        candidate_grad_norms=norms,
        candidate_alignments=align,
        fld_gradient=g_fld,
        influence=r,
        curvature=curvature,
        damping=damping,
        curvature_info=info,
        stationarity=stationarity,
        details={
            "n_candidates": len(cand),
            "grad_norm_max_rows": g_max_rows,
            "alignment_max_rows": a_max_rows,
            "train_grad_norm_mean": float(norms_train.mean()),
            "train_alignment_max": float((train_fields @ r).max()),
            "fld_gradient_norm": float(np.linalg.norm(g_fld)),
            "per_sample": per_sample,
            "seconds": time.perf_counter() - start,
        },
    )
