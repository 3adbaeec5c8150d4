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
import torch
from sklearn.base import clone
from sklearn.pipeline import Pipeline, make_pipeline

from ..inspection import group_codes, influence, per_sample_fields
from ..utils import fill_random_state, split_representation
from ..utils._sklearn_compat import HasMethods, Interval, StrOptions
from ._base import BaseSanitizer, _fit_estimator

__all__ = ["GradientFilter"]


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
      :func:`~skfrl.inspection.influence` (as
      :func:`~skfrl.attacks.min_poison_count` uses it). Only rows with a
      large positive alignment can raise the leakage to first order.

    Cost: one forward-backward pass per row (``per_sample="single"``) or
    per row plus a reference batch (``"marginal"``), after one training of
    the victim; ``"alignment"`` adds the curvature solve of
    :func:`~skfrl.inspection.influence`.

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
        :func:`~skfrl.inspection.per_sample_fields`: ``"marginal"`` adds the row
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
        :func:`~skfrl.inspection.influence` (``"diagonal"`` is cheaper).
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
    bound_ : :class:`~sklearn.utils.Bunch`
        The :func:`~skfrl.inspection.influence` result whose ``influence``
        gave ``r`` (``criterion="alignment"`` only).

        .. versionchanged:: 0.1
           Was the :class:`~skfrl.attacks.PoisonCountBound` of a call to
           :func:`~skfrl.attacks.min_poison_count`; ``influence`` is the
           same vector.
    scores_, threshold_, removed_mask_, sample_indices_, n_removed_
        See :class:`BaseSanitizer`.

    See Also
    --------
    skfrl.attacks.min_poison_count : The poison-count bound.
    skfrl.inspection.influence : The influence vector.

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
        split_representation(victim, neural=True, input_name="victim")
        if not isinstance(victim, Pipeline) and isinstance(X, pd.DataFrame):
            from ..datasets import make_preprocessor

            victim = make_pipeline(make_preprocessor(X), victim)
        fill_random_state(victim, rng.randint(2**31))
        _fit_estimator(victim, X, y, S)
        return victim

    def _check_target(self) -> None:
        """``X_target``/``s_target`` come together, one value per row."""
        if self.X_target is None:
            if self.s_target is not None:
                raise ValueError("s_target was given without X_target.")
            return
        if self.s_target is None:
            raise ValueError("X_target needs s_target (its sensitive attribute).")
        s_t = np.asarray(self.s_target)
        n_t = len(self.X_target)
        if s_t.ndim != 1 or len(s_t) != n_t:
            raise ValueError(
                f"s_target must be 1-D with one value per row of X_target ({n_t}), "
                f"got shape {s_t.shape}."
            )

    def _target_codes(self, victim, S) -> np.ndarray:
        """Group codes of the rows whose leakage ``"alignment"`` measures."""
        _, frl = split_representation(victim, neural=True, input_name="victim")
        attrs = frl.sensitive_attributes_
        if not attrs or attrs[0].kind != "categorical" or attrs[0].n_classes != 2:
            raise ValueError(
                "criterion='alignment' needs a victim fitted with a binary "
                "categorical (first) sensitive attribute; FLD concerns two groups."
            )
        if self.X_target is None:
            s_t, name = S.iloc[:, 0].to_numpy(), "sensitive_features"
        else:
            s_t, name = np.asarray(self.s_target), "s_target"
        # FLD separates the two groups: both must be there.
        return group_codes(frl, s_t, require_all=True, input_name=name)

    def _scores(self, X, y, S, rng):
        if self.criterion == "alignment":
            if S is None:
                raise ValueError(
                    "criterion='alignment' measures the leakage of a sensitive "
                    "attribute: pass sensitive_features."
                )
            self._check_target()
        victim = self._fit_victim(X, y, S, rng)
        self.victim_ = victim
        if self.criterion == "alignment":
            codes = torch.as_tensor(self._target_codes(victim, S))
        fields = per_sample_fields(
            victim,
            X,
            y,
            sensitive_features=S,
            per_sample=self.per_sample,
            reference_size=self.reference_size,
            random_state=rng,
        )
        self.grad_norms_ = np.linalg.norm(fields, axis=1)
        if self.criterion == "norm":
            return self.grad_norms_
        from ..attacks import fld_torch

        self.bound_ = influence(
            victim,
            X,
            y,
            sensitive_features=S,
            objective=lambda Z: fld_torch(Z, codes),
            X_target=self.X_target,
            per_sample=self.per_sample,
            reference_size=self.reference_size,
            curvature=self.curvature,
            damping=self.damping,
            random_state=rng.randint(2**31),
        )
        self.alignments_ = fields @ self.bound_.influence
        return self.alignments_
