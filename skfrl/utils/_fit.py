"""Fitting an estimator or a Pipeline with sensitive features."""

from __future__ import annotations

from sklearn import get_config
from sklearn.pipeline import Pipeline

__all__ = ["fit_with_sensitive"]


def _accepts_sensitive(estimator) -> bool:
    import inspect

    return "sensitive_features" in inspect.signature(estimator.fit).parameters


def fit_with_sensitive(estimator, X, y, sensitive_features):
    """Fit ``estimator`` passing ``sensitive_features`` where it is consumed.

    With metadata routing enabled, ``sensitive_features`` goes through
    scikit-learn's routing (the consuming steps must request it). Without
    routing, a Pipeline receives it as ``<step>__sensitive_features`` for
    every step whose ``fit`` takes it, and a plain estimator as a keyword
    when its ``fit`` takes it.

    Parameters
    ----------
    estimator : estimator or Pipeline
        Unfitted estimator.
    X, y : array-like
        Training data.
    sensitive_features : array-like
        Protected attribute(s).

    Returns
    -------
    estimator
        The fitted estimator.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skfrl.utils import fit_with_sensitive
    >>> clf = fit_with_sensitive(LogisticRegression(), [[0], [1]], [0, 1], [0, 1])
    >>> clf.predict([[1]])
    array([1])
    """
    if get_config().get("enable_metadata_routing", False):
        return estimator.fit(X, y, sensitive_features=sensitive_features)
    if isinstance(estimator, Pipeline):
        params = {
            f"{name}__sensitive_features": sensitive_features
            for name, step in estimator.steps
            if step not in (None, "passthrough") and _accepts_sensitive(step)
        }
        return estimator.fit(X, y, **params)
    if _accepts_sensitive(estimator):
        return estimator.fit(X, y, sensitive_features=sensitive_features)
    return estimator.fit(X, y)
