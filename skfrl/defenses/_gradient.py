"""Per-sample gradient-norm and gradient-alignment filtering.

Motivated by the poison-count bound (``docs/user_guide/poison_bound.rst``):
to first order a row moves the victim's fitted parameters in proportion to
its centred per-sample training field ``g(x)``, and it raises the FLD of the
representation only through ``r . g(x)``, with ``r`` the influence vector.
Effective poisons therefore need long (and aligned) fields.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.pipeline import Pipeline, make_pipeline

from .._base import BaseFairNet, _seed_from
from ..attacks._bound import _Contribution, _encode
from ..attacks._graph import _codes, _Graph, _Rows
from ..utils import torch_rng
from ..utils._sklearn_compat import HasMethods, Interval, StrOptions
from ._base import BaseSanitizer, _fit_estimator, _seed_estimator

__all__ = ["GradientFilter"]


def _frl_step(victim):
    """(preprocessing Pipeline or None, FRL step) of a fitted victim."""
    if isinstance(victim, BaseFairNet):
        return None, victim
    for idx, (_, step) in enumerate(victim.steps):
        if isinstance(step, BaseFairNet):
            return (victim[:idx] if idx else None), step
    raise TypeError(  # pragma: no cover - checked before fitting
        "victim must contain an skfrl neural FRL model."
    )


class GradientFilter(BaseSanitizer):
    """Remove rows with long (or FLD-aligned) per-sample training fields.

    The victim is fitted on the (suspect) data. Each row ``x`` is then
    scored through the victim's own training loss (gradient reversal
    included, as :func:`~skfrl.attacks.min_poison_count` measures it):

    - ``criterion="norm"``: ``||g(x)||``, the norm of the row's centred
      per-sample training field, i.e. how hard it pulls the fitted
      parameters. The poison-count bound needs fewer poisons the longer
      their fields, and on Adult poisons' fields were longer than clean
      rows' (ROC AUC 0.83-0.95, see :ref:`poison_bound`).
    - ``criterion="alignment"``: ``r . g(x)``, the first-order increase of
      the FLD of the victim's representation of the target data per unit
      of the row's share, with ``r`` the influence vector computed by
      :func:`~skfrl.attacks.min_poison_count`. Only rows with a large
      positive alignment can raise the leakage to first order.

    Cost: one forward-backward pass per row (``per_sample="single"``) or
    per row plus a reference batch (``"marginal"``), after one training of
    the victim; ``"alignment"`` adds the curvature solve of
    :func:`~skfrl.attacks.min_poison_count`.

    .. versionadded:: 0.1

    Parameters
    ----------
    victim : BaseFairNet or Pipeline
        An skfrl neural FRL model, or a Pipeline ``[ColumnTransformer ->]
        model [-> downstream]``; cloned and fitted (seeded by
        ``random_state`` where its ``random_state`` is None). A bare model
        given a DataFrame gets :func:`~skfrl.datasets.make_preprocessor` in
        front; arrays reach it unchanged.
    contamination : float in (0, 0.5], default=0.05
        Share of rows to remove.
    criterion : {"norm", "alignment"}, default="norm"
        What is scored, see above. ``"alignment"`` needs a binary
        categorical (first) sensitive attribute.

        .. versionchanged:: 0.1
           Renamed from ``score``, which shadowed the estimator method name.
    per_sample : {"marginal", "single"}, default="marginal"
        How a row's field is measured, as in
        :func:`~skfrl.attacks.min_poison_count`: ``"marginal"`` adds the row
        to a reference batch (right for losses weighted by group frequencies
        within a batch), ``"single"`` takes the loss of the row alone minus
        the mean field (faster).
    reference_size : int or None, default=None
        Rows of the reference batch (``"marginal"``); None uses the
        victim's ``batch_size``.
    X_target, s_target : array-like or None, default=None
        ``"alignment"`` only: rows (raw, as ``X``) whose representation the
        defender wants to protect and their first sensitive attribute;
        default the training data.
    curvature : {"krylov", "diagonal"}, default="diagonal"
        ``"alignment"`` only: curvature estimate of
        :func:`~skfrl.attacks.min_poison_count` (``"diagonal"`` is cheaper).
    damping : float or "auto", default="auto"
        ``"alignment"`` only: damping of the curvature.
    random_state : int, RandomState instance or None, default=None
        Seeds the victim, the reference batch, the influence computation and
        the tie-breaking.

    Attributes
    ----------
    victim_ : estimator
        The victim fitted on the data.
    grad_norms_ : ndarray of shape (n_samples,)
        ``||g(x)||`` of every row.
    alignments_ : ndarray of shape (n_samples,)
        ``r . g(x)`` of every row (``criterion="alignment"`` only).
    bound_ : PoisonCountBound
        The :func:`~skfrl.attacks.min_poison_count` result whose
        ``influence`` gave ``r`` (``criterion="alignment"`` only).
    scores_, threshold_, removed_mask_, kept_indices_, n_removed_
        See :class:`BaseSanitizer`.

    See Also
    --------
    skfrl.attacks.min_poison_count : The bound and the influence vector.

    Examples
    --------
    >>> from skfrl.attacks import LabelFlipping
    >>> from skfrl.datasets import make_biased_classification
    >>> from skfrl.defenses import GradientFilter
    >>> from skfrl.models import AdversarialFairRepresentation
    >>> X, y, s = make_biased_classification(n_samples=200, random_state=0)
    >>> X_p, y_p, s_p = LabelFlipping(budget=0.05, random_state=0).fit_resample(
    ...     X, y, sensitive_features=s)
    >>> victim = AdversarialFairRepresentation(
    ...     n_components=4, hidden_layer_sizes=(16,), max_epochs=10, lr=1e-2)
    >>> gf = GradientFilter(victim, contamination=0.05, random_state=0)
    >>> X_k, y_k, s_k = gf.fit_resample(X_p, y_p, sensitive_features=s_p)
    >>> gf.n_removed_, gf.grad_norms_.shape
    (10, (210,))
    """

    _parameter_constraints: dict = {
        **BaseSanitizer._parameter_constraints,
        "victim": [HasMethods(["fit"])],
        "criterion": [StrOptions({"norm", "alignment"})],
        "per_sample": [StrOptions({"marginal", "single"})],
        "reference_size": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "X_target": ["array-like", None],
        "s_target": ["array-like", None],
        "curvature": [StrOptions({"krylov", "diagonal"})],
        "damping": [
            Interval(numbers.Real, 0, None, closed="neither"),
            StrOptions({"auto"}),
        ],
    }

    def __init__(
        self,
        victim,
        *,
        contamination=0.05,
        criterion="norm",
        per_sample="marginal",
        reference_size=None,
        X_target=None,
        s_target=None,
        curvature="diagonal",
        damping="auto",
        random_state=None,
    ):
        super().__init__(contamination=contamination, random_state=random_state)
        self.victim = victim
        self.criterion = criterion
        self.per_sample = per_sample
        self.reference_size = reference_size
        self.X_target = X_target
        self.s_target = s_target
        self.curvature = curvature
        self.damping = damping

    def _fit_victim(self, X, y, S, rng):
        victim = clone(self.victim)
        if isinstance(victim, BaseFairNet):
            if isinstance(X, pd.DataFrame):
                from ..datasets import make_preprocessor

                victim = make_pipeline(make_preprocessor(X), victim)
        elif not (
            isinstance(victim, Pipeline)
            and any(isinstance(st, BaseFairNet) for _, st in victim.steps)
        ):
            raise TypeError(
                "victim must be an skfrl neural FRL model (a BaseFairNet "
                "subclass) or a Pipeline with one as a step; got "
                f"{type(self.victim).__name__}."
            )
        _seed_estimator(victim, rng.randint(2**31))
        _fit_estimator(victim, X, y, S)
        return victim

    def _scores(self, X, y, S, rng):
        if self.criterion == "alignment" and S is None:
            raise ValueError(
                "criterion='alignment' measures the leakage of a sensitive attribute: "
                "pass sensitive_features."
            )
        victim = self._fit_victim(X, y, S, rng)
        self.victim_ = victim
        pre, frl = _frl_step(victim)
        n = len(X)
        E = _encode(pre, X, "X")
        S_frame = S if S is not None else pd.DataFrame(index=pd.RangeIndex(n))
        rows = _Rows(E, *_codes(frl, y, S_frame, "y/sensitive_features"))
        ref_size = self.reference_size
        if ref_size is None:
            batch_size = getattr(frl, "batch_size", n)
            ref_size = n if batch_size is None or batch_size <= 0 else batch_size
        ref_idx = np.sort(rng.choice(n, size=min(ref_size, n), replace=False))
        torch_seed = _seed_from(rng)
        module = frl.module_
        was_training = module.training
        frl._set_training(False)
        try:
            with torch_rng(torch_seed):
                graph = _Graph(frl, rows.take(np.arange(min(n, 8))))
                if self.per_sample == "marginal":
                    ref = rows.take(ref_idx)
                    F_ref = graph.field(ref).detach()
                else:
                    ref, F_ref = None, graph.field(rows).detach()
                fields = _Contribution(graph, self.per_sample, ref, F_ref).many(rows)
        finally:
            module.train(was_training)
        self.grad_norms_ = np.linalg.norm(fields, axis=1)
        if self.criterion == "norm":
            return self.grad_norms_
        from ..attacks import min_poison_count

        # One candidate only: the bound's candidate scan is not needed, just
        # its influence vector r (the curvature uses the training rows).
        first = slice(0, 1)
        self.bound_ = min_poison_count(
            victim,
            X,
            y,
            sensitive_features=S,
            target_increase=0.1,
            X_target=self.X_target,
            s_target=self.s_target,
            candidates=(
                X.iloc[first] if isinstance(X, pd.DataFrame) else X[first],
                y[first],
                S.iloc[first],
            ),
            label_choices="keep",
            per_sample=self.per_sample,
            reference_size=self.reference_size,
            curvature=self.curvature,
            damping=self.damping,
            random_state=rng.randint(2**31),
        )
        self.alignments_ = fields @ self.bound_.influence
        return self.alignments_
