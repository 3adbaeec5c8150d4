"""Per-sample training fields: how hard each row pulls a fitted model."""

from __future__ import annotations

import contextlib
import numbers

import numpy as np
import torch
from sklearn.utils import check_random_state

from ..utils import seed_from, torch_rng
from ..utils._sklearn_compat import Interval, ordered_options, validate_params
from ._graph import TrainingGraph
from ._rows import TrainingRows, _frl_step, training_rows

__all__ = ["PerSampleField", "per_sample_fields"]

_PER_SAMPLE = ("marginal", "single")


@contextlib.contextmanager
def _evaluating(frl):
    """The model's module in eval mode (no dropout) for a block, then as before."""
    module = frl.module_
    was_training = module.training
    frl._set_training(False)
    try:
        yield
    finally:
        module.train(was_training)


def _reference_size(frl, n: int, reference_size: int | None) -> int:
    """Rows of the reference batch: by default the model's batch size."""
    if reference_size is not None:
        return reference_size
    batch_size = getattr(frl, "batch_size", n)
    # -1 (or None): the whole data set in one batch, as skorch trains.
    return n if batch_size is None or batch_size <= 0 else batch_size


class PerSampleField:
    """The centred per-sample training field ``g(x)``: a row's pull on the fit.

    To first order, adding a row ``x`` with weight ``eps`` to the training
    data moves the stationary point of the training field by
    ``-eps (J)^-1 g(x)``; ``g(x)`` is measured through a
    :class:`TrainingGraph`:

    - ``per_sample="single"``: ``g(x) = F(x) - F_ref``, with ``F(x)`` the
      field of the loss on a batch of one and ``F_ref`` the mean field of
      the ``reference`` rows;
    - ``per_sample="marginal"``: ``g(x) = (b + 1) (F(R + x) - F(R))`` on the
      reference batch ``R`` of ``b`` rows. It equals the former for a loss
      that averages per-sample terms and also covers losses that weight
      samples by group frequencies or compare groups within a batch.

    .. versionadded:: 0.1

    Parameters
    ----------
    graph : TrainingGraph
        The model's training graph.
    reference : TrainingRows
        ``"marginal"``: the reference batch ``R`` (typically the model's
        batch size of training rows); ``"single"``: the rows whose mean
        field is subtracted (typically the training rows).
    per_sample : {"marginal", "single"}, default="marginal"
        How a row's field is measured, see above.
    reference_field : Tensor or None, default=None
        ``graph.field(reference)`` when already computed (it is computed
        otherwise).

    Attributes
    ----------
    reference_field : Tensor of shape (n_params,)
        The field of the reference rows.

    Examples
    --------
    >>> from skfrl.datasets import make_biased_classification
    >>> from skfrl.inspection import PerSampleField, TrainingGraph, training_rows
    >>> from skfrl.models import AdversarialFairRepresentation
    >>> X, y, s = make_biased_classification(n_samples=100, random_state=0)
    >>> victim = AdversarialFairRepresentation(max_epochs=2, random_state=0)
    >>> victim = victim.fit(X, y, sensitive_features=s)
    >>> rows = training_rows(victim, X, y, sensitive_features=s)
    >>> graph = TrainingGraph(victim, rows.take(slice(0, 8)))
    >>> g = PerSampleField(graph, rows.take(slice(0, 32)))
    >>> fields = g.stack(rows.take(slice(0, 5)))
    >>> fields.shape == (5, sum(p.numel() for p in graph.params))
    True
    """

    def __init__(
        self,
        graph: TrainingGraph,
        reference: TrainingRows,
        *,
        per_sample: str = "marginal",
        reference_field: torch.Tensor | None = None,
    ):
        if per_sample not in _PER_SAMPLE:
            raise ValueError(
                f"per_sample must be one of {list(_PER_SAMPLE)}, got {per_sample!r}."
            )
        self.graph = graph
        self.reference = reference
        self.per_sample = per_sample
        if reference_field is None:
            reference_field = graph.field(reference).detach()
        self.reference_field = reference_field

    def __call__(
        self,
        row: TrainingRows,
        E: torch.Tensor | None = None,
        create_graph: bool = False,
    ) -> torch.Tensor:
        """``g(x)`` of one row.

        Parameters
        ----------
        row : TrainingRows
            One row.
        E : Tensor of shape (1, n_features) or None, default=None
            Its inputs instead of ``row.E`` (e.g. a tensor to differentiate
            ``g`` with respect to).
        create_graph : bool, default=False
            Keep the graph of ``g``.

        Returns
        -------
        Tensor of shape (n_params,)
        """
        if self.per_sample == "single":
            return self.graph.field(row, E, create_graph) - self.reference_field
        rows = self.reference.concat(row)
        E_all = None
        if E is not None:
            E_all = torch.cat([torch.as_tensor(self.reference.E), E])
        b = len(self.reference)
        return (b + 1) * (
            self.graph.field(rows, E_all, create_graph) - self.reference_field
        )

    def stack(self, rows: TrainingRows) -> np.ndarray:
        """``g(x)`` of every row, one row each, in float64.

        Parameters
        ----------
        rows : TrainingRows

        Returns
        -------
        ndarray of shape (n_rows, n_params)
        """
        out = np.empty((len(rows), int(self.reference_field.numel())), dtype=np.float64)
        for i in range(len(rows)):
            out[i] = self(rows.take(slice(i, i + 1))).detach().numpy()
        return out


@validate_params(
    {
        "X": ["array-like"],
        "y": ["array-like"],
        "sensitive_features": ["array-like", None],
        "per_sample": [ordered_options(_PER_SAMPLE)],
        "reference_size": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def per_sample_fields(
    victim,
    X,
    y,
    *,
    sensitive_features=None,
    per_sample: str = "marginal",
    reference_size: int | None = None,
    random_state=None,
) -> np.ndarray:
    """Centred per-sample training fields of a fitted model on its rows.

    ``g(x)`` of every row of ``(X, y, sensitive_features)``
    (:class:`PerSampleField`): how hard, and in which direction, each row
    pulls the fitted parameters. Long fields mark rows with a large
    first-order effect on the fit (e.g. poisons, see
    :class:`~skfrl.defenses.GradientFilter`).

    The module is evaluated in eval mode, with torch's generator seeded
    from ``random_state`` (the caller's is left as it was).

    .. versionadded:: 0.1

    Parameters
    ----------
    victim : BaseFairNet or Pipeline
        A fitted skfrl neural FRL model, or a fitted Pipeline
        ``[preprocessing ->] model [-> downstream]``.
    X : DataFrame or array-like of shape (n_samples, n_features)
        Raw rows, as the Pipeline receives them.
    y : array-like of shape (n_samples,)
        Labels.
    sensitive_features : array-like of shape (n_samples,) or \
(n_samples, n_attributes), default=None
        The attributes the model was fitted with.
    per_sample : {"marginal", "single"}, default="marginal"
        ``"marginal"``: each row is added to a reference batch of
        ``reference_size`` random rows; ``"single"``: each row's loss on
        its own, minus the mean field of all rows.
    reference_size : int or None, default=None
        Rows of the reference batch (``"marginal"``); None uses the model's
        ``batch_size``.
    random_state : int, RandomState instance or None, default=None
        Draws the reference batch and seeds torch.

    Returns
    -------
    fields : ndarray of shape (n_samples, n_params)
        One flat field per row, over the trainable parameters of the
        model's module (in ``named_parameters()`` order).

    See Also
    --------
    influence : Which way of pulling raises an objective.

    Examples
    --------
    >>> import numpy as np
    >>> from skfrl.datasets import make_biased_classification
    >>> from skfrl.inspection import per_sample_fields
    >>> from skfrl.models import AdversarialFairRepresentation
    >>> X, y, s = make_biased_classification(n_samples=100, random_state=0)
    >>> victim = AdversarialFairRepresentation(max_epochs=2, random_state=0)
    >>> victim = victim.fit(X, y, sensitive_features=s)
    >>> fields = per_sample_fields(victim, X, y, sensitive_features=s,
    ...                            random_state=0)
    >>> norms = np.linalg.norm(fields, axis=1)
    >>> norms.shape, bool(np.all(norms > 0))
    ((100,), True)
    """
    rows = training_rows(victim, X, y, sensitive_features=sensitive_features)
    frl = _frl_step(victim)
    rng = check_random_state(random_state)
    n = len(rows)
    ref_size = _reference_size(frl, n, reference_size)
    ref_idx = np.sort(rng.choice(n, size=min(ref_size, n), replace=False))
    torch_seed = seed_from(rng)
    with _evaluating(frl), torch_rng(torch_seed):
        graph = TrainingGraph(frl, rows.take(np.arange(min(n, 8))))
        reference = rows.take(ref_idx) if per_sample == "marginal" else rows
        return PerSampleField(graph, reference, per_sample=per_sample).stack(rows)
