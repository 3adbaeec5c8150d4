"""The victim's training field, with exact derivatives through gradient reversal.

Shared by the ENG attack (:mod:`._eng`), the poison-count bound
(:mod:`._bound`) and the gradient sanitiser of :mod:`skfrl.defenses`: a
batch of encoded rows with their label and sensitive codes (:class:`_Rows`),
and the update direction the victim's training follows on it
(:class:`_Graph`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from skorch.history import History

from ..nn import reversal_override


def _flat(grads, params) -> torch.Tensor:
    # Parameters a loss does not reach (e.g. adversaries under the FLD
    # objective) contribute zero gradient.
    return torch.cat(
        [
            (torch.zeros_like(p) if g is None else g).reshape(-1)
            for g, p in zip(grads, params, strict=True)
        ]
    )


@contextlib.contextmanager
def _scratch_history(net):
    """Let a model's ``get_loss`` record into a throwaway history."""
    saved = net.history_
    net.history_ = History()
    net.history_.new_epoch()
    net.history_.new_batch()
    try:
        yield
    finally:
        net.history_ = saved


@dataclass
class _Rows:
    """Encoded rows with their label and sensitive codes (the loss's batch)."""

    E: np.ndarray
    y: np.ndarray
    s_cat: np.ndarray | None
    s_cont: np.ndarray | None

    def __len__(self) -> int:
        return len(self.E)

    def take(self, idx) -> _Rows:
        return _Rows(
            self.E[idx],
            self.y[idx],
            None if self.s_cat is None else self.s_cat[idx],
            None if self.s_cont is None else self.s_cont[idx],
        )

    def concat(self, other: _Rows) -> _Rows:
        def cat(a, b):
            return None if a is None else np.concatenate([a, b])

        return _Rows(
            np.concatenate([self.E, other.E]),
            np.concatenate([self.y, other.y]),
            cat(self.s_cat, other.s_cat),
            cat(self.s_cont, other.s_cont),
        )


def _codes(frl, y, S: pd.DataFrame, name: str):
    """Label codes and the batch's sensitive entries, as the victim trained."""
    y = np.asarray(y)
    classes = getattr(frl, "classes_", None)
    if classes is not None:
        unknown = ~np.isin(y, classes)
        if unknown.any():
            raise ValueError(
                f"{name} holds labels the victim never saw: "
                f"{np.unique(y[unknown])[:5].tolist()}."
            )
        y_codes = np.searchsorted(classes, y)
    else:  # no task head: the loss ignores y
        y_codes = np.unique(y, return_inverse=True)[1]
    cat, cont = [], []
    for j, attr in enumerate(frl.sensitive_attributes_):
        col = S.iloc[:, j].to_numpy()
        if attr.kind == "categorical":
            unknown = ~np.isin(col, attr.classes)
            if unknown.any():
                raise ValueError(
                    f"{name} holds groups the victim never saw in attribute "
                    f"{attr.name!r}: {pd.unique(col[unknown])[:5].tolist()}."
                )
            cat.append(np.searchsorted(attr.classes, col))
        else:
            cont.append(
                (col.astype(np.float64) - frl.sensitive_mean_[len(cont)])
                / frl.sensitive_scale_[len(cont)]
            )
    s_cat = np.column_stack(cat).astype(np.int64) if cat else None
    s_cont = np.column_stack(cont).astype(np.float32) if cont else None
    return y_codes.astype(np.int64), s_cat, s_cont


class _Split:
    """Stand-in for gradient reversal: identity for some scales, a stop for others.

    Gradient reversal (identity forward, ``-scale`` backward) gives the right
    training field but the wrong *derivative* of that field: autograd
    differentiates the adversaries' input through the reversal node's
    backward again, so ``d F_adv / d theta_enc`` comes out multiplied by
    ``-scale`` instead of 1 (and the encoder block's adversary curvature by
    ``scale**2`` instead of ``-scale``). :class:`_Graph` instead evaluates the
    loss with reversal nodes as plain identities (``passing``) or
    stop-gradients (otherwise) and recombines the passes, which keeps every
    derivative order exact.
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


@contextlib.contextmanager
def _reversal_as(split: _Split):
    # For one loss evaluation, in this thread only.
    with reversal_override(split):
        yield split


class _LossOf(torch.nn.Module):
    """The victim's training loss as a module, for ``torch.func.functional_call``.

    Evaluating the loss at parameter values other than the module's own
    (the unrolled steps of :class:`~skfrl.attacks.PoisonGenerator`) swaps
    them in for every access to ``frl.module_`` made by ``infer`` and
    ``get_loss``.
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


def encode_at(frl, params: list, E: torch.Tensor) -> torch.Tensor:
    """The representation of encoded rows ``E`` under parameter values ``params``."""
    names = [n for n, p in frl.module_.named_parameters() if p.requires_grad]
    values = {f"module.{n}": v for n, v in zip(names, params, strict=True)}
    return torch.func.functional_call(_EncodeOf(frl), values, (E,))


class _Graph:
    """The victim's training loss and field, on any rows.

    The field is the update direction training follows: the gradient of the
    loss for parameters without gradient reversal, and for encoder
    parameters upstream of a reversal node of scale ``c`` the task gradient
    minus ``c`` times the adversaries' gradient. It equals autograd's
    gradient of the training loss; unlike it, its own derivatives (the
    curvature ``J``) are exact (see :class:`_Split`).
    """

    def __init__(self, frl, probe: _Rows):
        self.frl = frl
        named = [(n, p) for n, p in frl.module_.named_parameters() if p.requires_grad]
        self.names = [n for n, _ in named]
        self.params = [p for _, p in named]
        split = _Split(None)
        with _reversal_as(split):
            self._loss(probe)
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

    def _loss(self, rows: _Rows, E: torch.Tensor | None = None, params=None):
        frl = self.frl
        batch = {"X": torch.as_tensor(rows.E) if E is None else E}
        if rows.s_cat is not None:
            batch["s_cat"] = torch.as_tensor(rows.s_cat)
        if rows.s_cont is not None:
            batch["s_cont"] = torch.as_tensor(rows.s_cont)
        y = torch.as_tensor(rows.y)
        with _scratch_history(frl):
            if params is None:
                out = frl.infer(batch)
                return frl.get_loss(out, y, X=batch, training=True)
            values = {f"module.{n}": v for n, v in zip(self.names, params, strict=True)}
            return torch.func.functional_call(_LossOf(frl), values, (batch, y))

    def _grad(self, loss, create_graph, params=None) -> torch.Tensor:
        targets = self.params if params is None else params
        grads = torch.autograd.grad(
            loss, targets, create_graph=create_graph, allow_unused=True
        )
        return _flat(grads, targets)

    def field(self, rows, E=None, create_graph=False, params=None) -> torch.Tensor:
        """The training field on ``rows`` (at ``params`` instead of the module's)."""
        if not self.scales:
            return self._grad(self._loss(rows, E, params), create_graph, params)

        def run(passing):
            with _reversal_as(_Split(passing)):
                return self._grad(self._loss(rows, E, params), create_graph, params)

        blocked = run(frozenset())
        up, down = blocked, blocked
        for scale in self.scales:
            adv = run(frozenset([scale])) - blocked  # adversaries' own gradient
            up = up - scale * adv
            down = down + adv
        return torch.where(self.upstream, up, down)
