"""Torch modules: MLPs, a batch of parallel MLPs and gradient reversal."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence

import torch
from torch import nn

__all__ = [
    "MLP",
    "GradientReversal",
    "ParallelMLP",
    "grad_reverse",
    "reversal_override",
]


class _GradReverseFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output.neg() * ctx.scale, None


def grad_reverse(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Identity in the forward pass, gradient times ``-scale`` backward.

    .. versionadded:: 0.1

    Parameters
    ----------
    x : Tensor
        Input.
    scale : float, default=1.0
        Reversal scale (``lambda`` of Ganin & Lempitsky, 2015).

    Returns
    -------
    Tensor
        ``x`` itself, with the reversed gradient attached.

    Examples
    --------
    >>> import torch
    >>> from skfrl.nn import grad_reverse
    >>> x = torch.ones(2, requires_grad=True)
    >>> grad_reverse(x, 0.5).sum().backward()
    >>> x.grad
    tensor([-0.5000, -0.5000])
    """
    override = getattr(_REVERSAL, "function", None)
    if override is not None:
        return override.apply(x, float(scale))
    return _GradReverseFn.apply(x, float(scale))


#: Per-thread override of gradient reversal. The attacks' exact training
#: field (skfrl.attacks) evaluates the loss with reversal nodes replaced by
#: identities or stop-gradients; per thread, so that a model training in
#: another thread of the process (a threaded Dask worker) is never affected.
_REVERSAL = threading.local()


@contextlib.contextmanager
def reversal_override(function):
    """Replace gradient reversal by ``function`` in this thread, for a block.

    Inside the block, :func:`grad_reverse` (and so every
    :class:`GradientReversal` layer and skfrl model) calls
    ``function.apply(x, scale)`` instead of the reversal, in the current
    thread only: models training in other threads are not affected. skfrl's
    attacks use it to evaluate a model's training loss with reversal nodes
    replaced by identities or stop-gradients, whose recombination gives
    exact derivatives of the training field.

    .. versionadded:: 0.1

    Parameters
    ----------
    function : object with an ``apply(x, scale)`` method
        E.g. a ``torch.autograd.Function`` subclass.

    Examples
    --------
    >>> import torch
    >>> from skfrl.nn import grad_reverse, reversal_override
    >>> class Detach:
    ...     @staticmethod
    ...     def apply(x, scale):
    ...         return x.detach()
    >>> x = torch.ones(2, requires_grad=True)
    >>> with reversal_override(Detach):
    ...     y = grad_reverse(x)
    >>> y.requires_grad
    False
    """
    saved = getattr(_REVERSAL, "function", None)
    _REVERSAL.function = function
    try:
        yield function
    finally:
        _REVERSAL.function = saved


class GradientReversal(nn.Module):
    """Gradient-reversal layer (Ganin & Lempitsky, ICML 2015).

    .. versionadded:: 0.1

    Parameters
    ----------
    scale : float, default=1.0
        Gradients flowing back through the layer are multiplied by ``-scale``.

    Examples
    --------
    >>> import torch
    >>> from skfrl.nn import GradientReversal
    >>> layer = GradientReversal(2.0)
    >>> x = torch.ones(3, requires_grad=True)
    >>> layer(x).sum().backward()
    >>> x.grad
    tensor([-2., -2., -2.])
    """

    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.scale = float(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return grad_reverse(x, self.scale)

    def extra_repr(self) -> str:  # noqa: D102
        return f"scale={self.scale}"


class MLP(nn.Sequential):
    """Multi-layer perceptron with ReLU activations.

    .. versionadded:: 0.1

    Parameters
    ----------
    in_features : int
        Input width.
    hidden_sizes : sequence of int
        Widths of the hidden layers; empty for a linear map.
    out_features : int
        Output width.
    dropout : float, default=0.0
        Dropout after every hidden activation.
    input_dropout : float, default=0.0
        Dropout applied to the input.

    Examples
    --------
    >>> import torch
    >>> from skfrl.nn import MLP
    >>> MLP(4, (8,), 2)(torch.zeros(5, 4)).shape
    torch.Size([5, 2])
    """

    def __init__(
        self,
        in_features: int,
        hidden_sizes: Sequence[int],
        out_features: int,
        *,
        dropout: float = 0.0,
        input_dropout: float = 0.0,
    ):
        layers: list[nn.Module] = []
        if input_dropout > 0:
            layers.append(nn.Dropout(input_dropout))
        width = in_features
        for size in hidden_sizes:
            layers += [nn.Linear(width, size), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, out_features))
        super().__init__(*layers)


class ParallelMLP(nn.Module):
    """``n_heads`` independent one-hidden-layer MLPs evaluated as one batch.

    Parallel adversaries (AdvXMultVAE, Escobedo et al. 2024) are many small
    heads on the same input; stacking their weights turns ``n_heads`` small
    matrix products into one batched product.

    .. versionadded:: 0.1

    Parameters
    ----------
    n_heads : int
        Number of independent heads.
    in_features : int
        Input width.
    hidden_size : int
        Hidden width of every head (0 for linear heads).
    out_features : int
        Output width of every head.
    input_dropout : float, default=0.0
        Dropout on the input, drawn independently for every head.

    Examples
    --------
    >>> import torch
    >>> from skfrl.nn import ParallelMLP
    >>> ParallelMLP(3, 4, 8, 2)(torch.zeros(5, 4)).shape
    torch.Size([3, 5, 2])
    """

    def __init__(
        self,
        n_heads: int,
        in_features: int,
        hidden_size: int,
        out_features: int,
        *,
        input_dropout: float = 0.0,
    ):
        super().__init__()
        self.n_heads = n_heads
        self.input_dropout = input_dropout
        dims = [in_features] + ([hidden_size] if hidden_size > 0 else [])
        dims.append(out_features)
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(dims[:-1], dims[1:], strict=True):
            # Same initialisation as nn.Linear, one head at a time.
            bound = fan_in**-0.5
            self.weights.append(
                nn.Parameter(
                    torch.empty(n_heads, fan_in, fan_out).uniform_(-bound, bound)
                )
            )
            self.biases.append(
                nn.Parameter(torch.empty(n_heads, 1, fan_out).uniform_(-bound, bound))
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the heads' outputs, shape ``(n_heads, n_samples, out)``."""
        h = x.unsqueeze(0).expand(self.n_heads, -1, -1)
        if self.input_dropout > 0 and self.training:
            h = nn.functional.dropout(h, self.input_dropout, training=True)
        n_layers = len(self.weights)
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.baddbmm(b, h, w)
            if i < n_layers - 1:
                h = torch.relu(h)
        return h
