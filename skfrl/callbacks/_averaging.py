"""Exponential moving average of a model's weights (a stabiliser)."""

from __future__ import annotations

import contextlib
import math

import torch
from skorch.callbacks import Callback

__all__ = ["WeightAveraging"]


class WeightAveraging(Callback):
    """Expose an exponential moving average (EMA) of the weights after training.

    Adversarial fair-representation training is a two-player game whose
    iterates oscillate: the leakage of the last iterate depends on the
    epoch training stops at. Averaging the iterates damps the oscillation
    (Polyak averaging; Yazici et al. 2019 for GANs). During training the
    callback keeps an EMA of every floating-point entry of the module's
    ``state_dict`` with a time constant of ``epochs`` epochs; when training
    ends the module holds the average, which ``transform`` and ``predict``
    use. The raw iterate is kept, so a warm-started ``fit`` continues the
    raw trajectory (with its optimizer state) and the average with it.

    skfrl's neural models add this callback, under the name
    ``"weight_averaging"``, when their ``averaging_epochs`` parameter is set.

    .. versionadded:: 0.1

    Parameters
    ----------
    epochs : float, default=5.0
        Time constant of the average, in epochs: the weight of a step decays
        by ``1/e`` after about ``epochs`` epochs. Early steps use the
        bias-corrected decay ``min(decay, (1 + t) / (10 + t))``.

    Attributes
    ----------
    average_ : dict of str to Tensor or None
        The averaged ``state_dict`` entries.
    n_steps_ : int
        Optimisation steps averaged so far.

    Examples
    --------
    >>> from skfrl.callbacks import WeightAveraging
    >>> from skfrl.datasets import make_biased_classification
    >>> from skfrl.models import CFair
    >>> X, y, s = make_biased_classification(n_samples=200, random_state=0)
    >>> frl = CFair(max_epochs=3, averaging_epochs=1.0, random_state=0)
    >>> frl = frl.fit(X, y, sensitive_features=s)
    >>> isinstance(dict(frl.callbacks_)["weight_averaging"], WeightAveraging)
    True
    """

    def __init__(self, epochs: float = 5.0):
        self.epochs = epochs

    def initialize(self):
        if not (isinstance(self.epochs, int | float) and self.epochs > 0):
            raise ValueError(
                f"WeightAveraging: epochs must be a number > 0, got {self.epochs!r}."
            )
        self.average_ = None
        self.raw_weights_ = None
        self.n_steps_ = 0
        return self

    @staticmethod
    def _entries(net) -> dict:
        return {
            k: v
            for k, v in net.module_.state_dict().items()
            if torch.is_floating_point(v)
        }

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        n_rows = X["X"].shape[0] if isinstance(X, dict) else len(X)
        steps_per_epoch = max(1, math.ceil(n_rows / net.batch_size))
        self.decay_ = max(0.0, 1.0 - 1.0 / (self.epochs * steps_per_epoch))
        if self.raw_weights_ is not None and self.average_ is not None:
            # Warm start: the module holds the previous average; continue the
            # raw trajectory, which the optimizer state belongs to.
            net.module_.load_state_dict(self.raw_weights_, strict=False)
        if self.average_ is None:
            self.average_ = {
                k: v.detach().clone() for k, v in self._entries(net).items()
            }

    def on_batch_end(self, net, training=False, **kwargs):
        if not training:
            return
        decay = min(self.decay_, (1.0 + self.n_steps_) / (10.0 + self.n_steps_))
        self.n_steps_ += 1
        with torch.no_grad():
            for key, value in self._entries(net).items():
                self.average_[key].mul_(decay).add_(value.detach(), alpha=1 - decay)

    def on_train_end(self, net, **kwargs):
        if self.average_ is None:
            return
        self.raw_weights_ = {
            k: v.detach().clone() for k, v in self._entries(net).items()
        }
        net.module_.load_state_dict(self.average_, strict=False)

    @contextlib.contextmanager
    def swapped(self, net):
        """Temporarily load the average into ``net.module_`` (during training)."""
        if self.average_ is None:
            yield net
            return
        raw = {k: v.detach().clone() for k, v in self._entries(net).items()}
        net.module_.load_state_dict(self.average_, strict=False)
        try:
            yield net
        finally:
            net.module_.load_state_dict(raw, strict=False)
