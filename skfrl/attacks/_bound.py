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
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from sklearn.utils import check_random_state

from ..inspection import (
    TrainingRows,
    encode_inputs,
    group_codes,
    influence,
    training_rows,
)
from ..utils import seed_from, sensitive_frame, split_representation, torch_rng
from ..utils._sklearn_compat import Interval, ordered_options, validate_params
from ._eng import fld_torch

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

    .. versionadded:: 0.1

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


def _refine(contrib, rows: TrainingRows, r_t, lower, upper, steps, lr, objective):
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


def _at_least(low: int) -> list:
    return [Interval(numbers.Integral, low, None, closed="left")]


@validate_params(
    {
        "X": ["array-like"],
        "y": ["array-like"],
        "sensitive_features": ["array-like"],
        # Open on the right too, so that inf is refused.
        "target_increase": [Interval(numbers.Real, 0, None, closed="neither")],
        "X_target": ["array-like", None],
        "s_target": ["array-like", None],
        "candidates": [tuple, list, None],
        "label_choices": [ordered_options(["all", "keep"])],
        "max_candidates": _at_least(1),
        "per_sample": [ordered_options(["marginal", "single"])],
        "reference_size": [*_at_least(1), None],
        "curvature": [ordered_options(["krylov", "diagonal"])],
        "damping": [
            Interval(numbers.Real, 0, None, closed="neither"),
            ordered_options(["auto"]),
        ],
        "max_samples": _at_least(2),
        "max_iter": _at_least(1),
        "box_steps": _at_least(0),
        "box_starts": _at_least(1),
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
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
    through the victim's own training loss graph
    (:class:`~skfrl.inspection.TrainingGraph`, as :class:`PoisonGenerator`
    uses it, gradient reversal included), and the influence vector from a
    damped curvature estimate and the FLD gradient on the target data
    (:func:`~skfrl.inspection.influence`).

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
    skfrl.inspection.influence : The influence vector ``r`` alone.

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
    tau = float(target_increase)
    if not isinstance(damping, str):
        damping = float(damping)
    max_candidates, max_samples = int(max_candidates), int(max_samples)
    max_iter, box_steps, box_starts = int(max_iter), int(box_steps), int(box_starts)
    if reference_size is not None:
        reference_size = int(reference_size)
    pre, frl = split_representation(
        victim, neural=True, fitted=True, input_name="victim"
    )
    attrs = frl.sensitive_attributes_
    if not attrs or attrs[0].kind != "categorical" or attrs[0].n_classes != 2:
        raise ValueError(
            "victim must have been fitted with a binary categorical (first) "
            "sensitive attribute; the FLD bound concerns two groups."
        )
    rng = check_random_state(random_state)

    # -- data ----------------------------------------------------------------
    train = training_rows(victim, X, y, sensitive_features=sensitive_features)
    E = train.E
    n = len(E)
    y_arr = np.asarray(y)
    S = sensitive_frame(sensitive_features, n)

    if X_target is None:
        if s_target is not None:
            raise ValueError("s_target was given without X_target.")
        s_t, s_name = S.iloc[:, 0].to_numpy(), "sensitive_features"
    else:
        if s_target is None:
            raise ValueError("X_target needs s_target (its sensitive attribute).")
        E_t = encode_inputs(pre, X_target, input_name="X_target")
        s_t = np.asarray(s_target)
        if s_t.ndim != 1 or len(s_t) != len(E_t):
            raise ValueError(
                f"s_target must be 1-D with one value per row of X_target "
                f"({len(E_t)}), got shape {s_t.shape}."
            )
        s_name = "s_target"
    # FLD separates the two groups: both must be there.
    s_t_codes = torch.as_tensor(
        group_codes(frl, s_t, require_all=True, input_name=s_name)
    )

    if candidates is None:
        pick = np.sort(rng.choice(n, size=min(max_candidates, n), replace=False))
        X_c, y_c, S_c = E[pick], y_arr[pick], S.iloc[pick].reset_index(drop=True)
    else:
        # The triple's parts: no constraint describes them.
        if len(candidates) != 3:
            raise TypeError("candidates must be a tuple (X_c, y_c, s_c).")
        X_c = encode_inputs(pre, candidates[0], input_name="candidates[0]")
        y_c = np.asarray(candidates[1])
        if y_c.ndim != 1 or len(y_c) != len(X_c):
            raise ValueError(
                f"candidates' labels must be 1-D with one per row ({len(X_c)}), "
                f"got shape {y_c.shape}."
            )
        n_s = len(candidates[2]) if np.ndim(candidates[2]) else 0
        if n_s != len(X_c):
            raise ValueError(f"candidates[2] has {n_s} rows, expected {len(X_c)}.")
        S_c = sensitive_frame(candidates[2], len(X_c))
        if len(X_c) > max_candidates:
            pick = np.sort(rng.choice(len(X_c), size=max_candidates, replace=False))
            X_c, y_c, S_c = X_c[pick], y_c[pick], S_c.iloc[pick].reset_index(drop=True)
    X_c, y_c, S_c = _expand_labels(frl, X_c, y_c, S_c, label_choices)
    cand = TrainingRows.from_data(frl, X_c, y_c, S_c, input_name="candidates")

    # -- measurement -----------------------------------------------------------
    res = influence(
        victim,
        X,
        y,
        sensitive_features=sensitive_features,
        objective=lambda Z: fld_torch(Z, s_t_codes),
        X_target=X_target,
        per_sample=per_sample,
        reference_size=reference_size,
        curvature=curvature,
        damping=damping,
        max_samples=max_samples,
        # The Fisher rows of "diagonal" are as many as the candidates.
        max_field_samples=max_candidates,
        max_iter=max_iter,
        random_state=rng,
    )
    r, train_fields, contrib = res.influence, res.training_fields, res.field
    norms_train = np.linalg.norm(train_fields, axis=1)
    module = frl.module_
    was_training = module.training
    frl._set_training(False)
    try:
        with torch_rng(seed_from(rng)):
            fields = contrib.stack(cand)
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
        fld=res.value,
        coefficient=C,
        alignment_max=a_max,
        influence_norm=r_norm,
        grad_norm_max=g_max,
        grad_norm_mean=float(norms.mean()),
        grad_norm_median=float(np.median(norms)),
        candidate_grad_norms=norms,
        candidate_alignments=align,
        fld_gradient=res.gradient,
        influence=r,
        curvature=curvature,
        damping=res.damping,
        curvature_info=res.curvature_info,
        stationarity=res.stationarity,
        details={
            "n_candidates": len(cand),
            "grad_norm_max_rows": g_max_rows,
            "alignment_max_rows": a_max_rows,
            "train_grad_norm_mean": float(norms_train.mean()),
            "train_alignment_max": float((train_fields @ r).max()),
            "fld_gradient_norm": float(np.linalg.norm(res.gradient)),
            "per_sample": per_sample,
            "seconds": time.perf_counter() - start,
        },
    )
