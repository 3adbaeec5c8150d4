"""A fitted model's training loss and field, with exact derivatives.

The field is the update direction the model's training follows; through
gradient reversal, autograd gets the field right but its derivatives wrong
(see :class:`_Split`). :class:`TrainingGraph` evaluates it so that every
derivative order is exact, at the module's parameters or at any others.
"""

from __future__ import annotations

import torch

from ..nn import reversal_override
from ._rows import TrainingRows, _frl_step

__all__ = ["TrainingGraph", "encode_at", "flat_gradient"]


def flat_gradient(
    output: torch.Tensor,
    params,
    *,
    create_graph: bool = False,
    retain_graph: bool | None = None,
) -> torch.Tensor:
    """Gradient of a scalar with respect to ``params``, as one flat vector.

    Parameters the output does not reach (e.g. adversaries under an
    objective on the representation only) contribute zeros, so the vector
    always has one entry per parameter value, in the order of ``params``.

    .. versionadded:: 0.1

    Parameters
    ----------
    output : Tensor
        A scalar.
    params : sequence of Tensor
        The tensors to differentiate with respect to.
    create_graph : bool, default=False
        Keep the graph of the derivative (for higher-order derivatives).
    retain_graph : bool or None, default=None
        Keep the graph of ``output`` (default: ``create_graph``).

    Returns
    -------
    Tensor of shape (n_params,)

    Examples
    --------
    >>> import torch
    >>> from skfrl.inspection import flat_gradient
    >>> a = torch.ones(2, requires_grad=True)
    >>> b = torch.ones(3, requires_grad=True)
    >>> flat_gradient((2 * a).sum(), [a, b]).tolist()
    [2.0, 2.0, 0.0, 0.0, 0.0]
    """
    params = list(params)
    grads = torch.autograd.grad(
        output,
        params,
        create_graph=create_graph,
        retain_graph=retain_graph,
        allow_unused=True,
    )
    return torch.cat(
        [
            (torch.zeros_like(p) if g is None else g).reshape(-1)
            for g, p in zip(grads, params, strict=True)
        ]
    )


class _Split:
    """Stand-in for gradient reversal: identity for some scales, a stop for others.

    Gradient reversal (identity forward, ``-scale`` backward) gives the right
    training field but the wrong *derivative* of that field: autograd
    differentiates the adversaries' input through the reversal node's
    backward again, so ``d F_adv / d theta_enc`` comes out multiplied by
    ``-scale`` instead of 1 (and the encoder block's adversary curvature by
    ``scale**2`` instead of ``-scale``). :class:`TrainingGraph` instead
    evaluates the loss with reversal nodes as plain identities
    (``passing``) or stop-gradients (otherwise) and recombines the passes,
    which keeps every derivative order exact.
    """

    def __init__(self, passing):
        self.passing = passing
        self.scales: list[float] = []
        self.inputs: list[torch.Tensor] = []

    def apply(self, x: torch.Tensor, scale: float) -> torch.Tensor:
        scale = float(scale)
        self.scales.append(scale)
        self.inputs.append(x)
        if self.passing is None or scale in self.passing:
            return x
        return x.detach()


class _LossOf(torch.nn.Module):
    """The model's training loss as a module, for ``torch.func.functional_call``.

    Evaluating the loss at parameter values other than the module's own
    (e.g. unrolled training steps) swaps them in for every access to
    ``frl.module_`` made by ``infer`` and ``get_loss``.
    """

    def __init__(self, frl):
        super().__init__()
        self.module = frl.module_
        self._frl = [frl]  # a list: not registered as a submodule

    def forward(self, batch, y):
        frl = self._frl[0]
        return frl.get_loss(frl.infer(batch), y, X=batch, training=True)


class _EncodeOf(torch.nn.Module):
    """``frl.module_.encode`` as a module's forward (for functional calls)."""

    def __init__(self, frl):
        super().__init__()
        self.module = frl.module_

    def forward(self, x):
        return self.module.encode(x)


def _trainable(frl):
    return [(n, p) for n, p in frl.module_.named_parameters() if p.requires_grad]


def encode_at(estimator, params, E: torch.Tensor) -> torch.Tensor:
    """The representation of inputs ``E`` under other parameter values.

    Evaluates the FRL model's encoder with ``params`` in place of its
    trainable parameters (the module itself is left alone), so that the
    representation stays differentiable with respect to ``params``.

    .. versionadded:: 0.1

    Parameters
    ----------
    estimator : BaseFairNet or Pipeline
        A fitted skfrl neural FRL model, or a Pipeline with one as a step.
    params : sequence of Tensor
        One tensor per trainable parameter of the model's module, in
        ``named_parameters()`` order (e.g. :attr:`TrainingGraph.params`
        moved along some direction).
    E : Tensor of shape (n_samples, n_features)
        Inputs of the FRL step.

    Returns
    -------
    Z : Tensor of shape (n_samples, n_components)

    Examples
    --------
    >>> import torch
    >>> from skfrl.datasets import make_biased_classification
    >>> from skfrl.inspection import encode_at
    >>> from skfrl.models import AdversarialFairRepresentation
    >>> X, y, s = make_biased_classification(n_samples=100, random_state=0)
    >>> victim = AdversarialFairRepresentation(max_epochs=1, n_components=2,
    ...                                        random_state=0)
    >>> victim = victim.fit(X, y, sensitive_features=s)
    >>> params = [p.detach() for p in victim.module_.parameters()]
    >>> E = torch.as_tensor(X[:5], dtype=torch.float32)
    >>> Z = encode_at(victim, params, E)
    >>> bool(torch.allclose(Z, victim.module_.encode(E)))
    True
    """
    frl = _frl_step(estimator)
    names = [n for n, _ in _trainable(frl)]
    values = {f"module.{n}": v for n, v in zip(names, params, strict=True)}
    return torch.func.functional_call(_EncodeOf(frl), values, (E,))


class TrainingGraph:
    """A fitted FRL model's training loss and training field, on any rows.

    The *training field* is the update direction the model's training
    follows: the gradient of its training loss for parameters without
    gradient reversal and, for encoder parameters upstream of a reversal
    node of scale ``c``, the task gradient minus ``c`` times the
    adversaries' gradient. It equals autograd's gradient of the training
    loss; unlike it, its own derivatives (the curvature ``J`` of the field,
    or the derivative of a row's field with respect to its features) are
    exact: the loss is evaluated with the reversal nodes as identities or
    stop-gradients (through :func:`skfrl.nn.reversal_override`, in the
    calling thread only) and the passes recombined.

    The loss is the model's own ``get_loss`` on the batch its training
    builds (:class:`TrainingRows`), in the module's current mode (switch
    dropout off with ``estimator.module_.eval()`` first).

    .. versionadded:: 0.1

    Parameters
    ----------
    estimator : BaseFairNet or Pipeline
        A fitted skfrl neural FRL model, or a Pipeline with one (its FRL
        step is used; rows are that step's inputs).
    probe : TrainingRows
        A few rows on which the loss is evaluated once to find the
        reversal nodes and the parameters upstream of them.

    Attributes
    ----------
    estimator : BaseFairNet
        The FRL model.
    names : list of str
        Names of the trainable parameters of its module.
    params : list of Tensor
        The trainable parameters; flat vectors (fields, gradients) follow
        their order.
    scales : list of float
        The distinct gradient-reversal scales met in the loss.
    upstream : Tensor of bool of shape (n_params,) or None
        Entries of the flat parameter vector upstream of a reversal node
        (None without reversal).

    See Also
    --------
    PerSampleField : A row's centred field.
    influence : The first-order effect of training rows on an objective.

    Examples
    --------
    >>> import torch
    >>> from skfrl.datasets import make_biased_classification
    >>> from skfrl.inspection import TrainingGraph, training_rows
    >>> from skfrl.models import AdversarialFairRepresentation
    >>> X, y, s = make_biased_classification(n_samples=100, random_state=0)
    >>> victim = AdversarialFairRepresentation(max_epochs=2, random_state=0)
    >>> victim = victim.fit(X, y, sensitive_features=s)
    >>> rows = training_rows(victim, X, y, sensitive_features=s)
    >>> graph = TrainingGraph(victim, rows.take(slice(0, 8)))
    >>> field = graph.field(rows)
    >>> field.shape == (sum(p.numel() for p in graph.params),)
    True
    """

    def __init__(self, estimator, probe: TrainingRows):
        frl = _frl_step(estimator)
        self.estimator = frl
        named = _trainable(frl)
        self.names = [n for n, _ in named]
        self.params = [p for _, p in named]
        split = _Split(None)
        with reversal_override(split):
            self.loss(probe)
        self.scales = sorted(set(split.scales))
        self.upstream = None
        if self.scales:
            grads = torch.autograd.grad(
                sum(x.sum() for x in split.inputs), self.params, allow_unused=True
            )
            self.upstream = torch.cat(
                [
                    torch.full((p.numel(),), g is not None, dtype=torch.bool)
                    for g, p in zip(grads, self.params, strict=True)
                ]
            )

    def loss(
        self, rows: TrainingRows, E: torch.Tensor | None = None, params=None
    ) -> torch.Tensor:
        """The model's training loss on ``rows``.

        Parameters
        ----------
        rows : TrainingRows
            The batch.
        E : Tensor or None, default=None
            Inputs to use instead of ``rows.E`` (e.g. a tensor to
            differentiate the loss with respect to).
        params : sequence of Tensor or None, default=None
            Parameter values to use instead of the module's (in the order
            of :attr:`params`).

        Returns
        -------
        Tensor
            A scalar.
        """
        frl = self.estimator
        batch = {"X": torch.as_tensor(rows.E) if E is None else E}
        if rows.s_cat is not None:
            batch["s_cat"] = torch.as_tensor(rows.s_cat)
        if rows.s_cont is not None:
            batch["s_cont"] = torch.as_tensor(rows.s_cont)
        y = torch.as_tensor(rows.y)
        # get_loss has no side effects: the model's history stays untouched.
        if params is None:
            out = frl.infer(batch)
            return frl.get_loss(out, y, X=batch, training=True)
        values = {f"module.{n}": v for n, v in zip(self.names, params, strict=True)}
        return torch.func.functional_call(_LossOf(frl), values, (batch, y))

    def _field_of(self, rows, E, create_graph, params) -> torch.Tensor:
        targets = self.params if params is None else params
        return flat_gradient(
            self.loss(rows, E, params), targets, create_graph=create_graph
        )

    def field(
        self,
        rows: TrainingRows,
        E: torch.Tensor | None = None,
        create_graph: bool = False,
        params=None,
    ) -> torch.Tensor:
        """The training field on ``rows``.

        Parameters
        ----------
        rows : TrainingRows
            The batch.
        E : Tensor or None, default=None
            Inputs to use instead of ``rows.E``.
        create_graph : bool, default=False
            Keep the graph of the field, to differentiate it (with respect
            to the parameters, ``E`` or ``params``).
        params : sequence of Tensor or None, default=None
            Parameter values to use instead of the module's; the field is
            then the derivative with respect to them.

        Returns
        -------
        Tensor of shape (n_params,)
        """
        if not self.scales:
            return self._field_of(rows, E, create_graph, params)

        def run(passing):
            with reversal_override(_Split(passing)):
                return self._field_of(rows, E, create_graph, params)

        blocked = run(frozenset())
        up, down = blocked, blocked
        for scale in self.scales:
            adv = run(frozenset([scale])) - blocked  # adversaries' own gradient
            up = up - scale * adv
            down = down + adv
        return torch.where(self.upstream, up, down)
