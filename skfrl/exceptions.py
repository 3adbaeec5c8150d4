"""Exceptions raised by skfrl."""

from __future__ import annotations

__all__ = ["TrainingDivergedError"]


class TrainingDivergedError(FloatingPointError, ValueError):
    """Training of a model diverged: its loss became non-finite or exploded.

    A :class:`FloatingPointError` (a numerical failure) and a
    :class:`ValueError` (the usual cause is the input: unscaled features or
    too large a learning rate), so that code catching either sees it. The
    message says what happened and what to change (``lr``,
    ``max_grad_norm``, scaling ``X``).

    .. versionadded:: 0.1

    Examples
    --------
    >>> from skfrl.datasets import make_biased_classification
    >>> from skfrl.exceptions import TrainingDivergedError
    >>> from skfrl.models import AdversarialFairRepresentation
    >>> X, y, s = make_biased_classification(n_samples=200, random_state=0)
    >>> model = AdversarialFairRepresentation(lr=1e3, max_epochs=3, random_state=0)
    >>> try:
    ...     model.fit(X, y, sensitive_features=s)
    ... except TrainingDivergedError as exc:
    ...     print("diverged:", isinstance(exc, ValueError))
    diverged: True
    """
