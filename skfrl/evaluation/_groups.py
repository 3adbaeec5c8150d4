"""Per-group metrics of clean and poisoned models with fairlearn's MetricFrame."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    count,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import accuracy_score, balanced_accuracy_score
from sklearn.utils.validation import check_consistent_length

from ..utils._sklearn_compat import validate_params

__all__ = ["group_metric_frame"]


def _default_metrics(y) -> dict[str, Callable]:
    metrics: dict[str, Callable] = {"accuracy": accuracy_score}
    labels = np.unique(np.asarray(y))
    if len(labels) == 2:
        # The greater label is the favourable outcome (1 of 0/1, ">50K" ...).
        pos = labels[-1]
        metrics.update(
            balanced_accuracy=balanced_accuracy_score,
            selection_rate=functools.partial(selection_rate, pos_label=pos),
            true_positive_rate=functools.partial(true_positive_rate, pos_label=pos),
            false_positive_rate=functools.partial(false_positive_rate, pos_label=pos),
        )
    metrics["count"] = count
    return metrics


def _stack(data, n_copies: int):
    if isinstance(data, pd.DataFrame | pd.Series):
        return pd.concat([data] * n_copies, ignore_index=True)
    return np.concatenate([np.asarray(data)] * n_copies, axis=0)


@validate_params(
    {
        "X": ["array-like"],
        "y": ["array-like"],
        "sensitive_features": ["array-like"],
        "metrics": [callable, Mapping, None],
        "response_method": [str],
    },
    # The caller's metric functions run inside: their own checks stay on.
    prefer_skip_nested_validation=False,
)
def group_metric_frame(
    estimators,
    X,
    y,
    *,
    sensitive_features,
    metrics=None,
    response_method: str = "predict",
) -> MetricFrame:
    """Compute fitted classifiers' metrics by sensitive group (a MetricFrame).

    Each estimator predicts ``X`` (``response_method``) and fairlearn's
    :class:`~fairlearn.metrics.MetricFrame` computes ``metrics`` overall and
    per group of ``sensitive_features``. With several estimators (a dict,
    e.g. ``{"clean": ..., "eng 10%": ...}``), their names become a control
    feature ``"model"``: ``frame.by_group`` is indexed by (model, group),
    ``frame.overall`` by model, and ``frame.difference()`` gives each
    model's largest gap between groups, so clean and poisoned models are
    compared in one table.

    For a representation model, pass the downstream classifier, e.g. a
    ``Pipeline(preprocessor, FRL model, LogisticRegression())`` (as fitted by
    :func:`cross_validate_robustness` with ``return_estimators=True``), or
    the FRL model itself when it has a task head.

    .. versionadded:: 0.1

    Parameters
    ----------
    estimators : estimator or dict of str to estimator
        Fitted classifier(s).
    X : DataFrame or array-like of shape (n_samples, n_features)
        Evaluation data (a clean test set).
    y : array-like of shape (n_samples,)
        True labels.
    sensitive_features : array-like of shape (n_samples,) or \
(n_samples, n_attributes)
        Groups; several columns are crossed into intersectional groups.
    metrics : callable or dict of str to callable, default=None
        ``metric(y_true, y_pred)`` functions. ``None``: accuracy, and for a
        binary ``y`` balanced accuracy, selection rate, true and false
        positive rates (the greater label is the positive one), plus the
        group sizes (``count``).
    response_method : str, default="predict"
        Estimator method returning predicted labels.

    Returns
    -------
    frame : fairlearn.metrics.MetricFrame
        Per-group metrics (``by_group``), overall values (``overall``),
        between-group ``difference()`` and ``ratio()``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.dummy import DummyClassifier
    >>> from skfrl.evaluation import group_metric_frame
    >>> X = np.zeros((6, 1))
    >>> y = np.array([0, 1, 1, 0, 1, 1])
    >>> s = np.array(["a", "a", "a", "b", "b", "b"])
    >>> always_1 = DummyClassifier(strategy="constant", constant=1).fit(X, y)
    >>> always_0 = DummyClassifier(strategy="constant", constant=0).fit(X, y)
    >>> frame = group_metric_frame(
    ...     {"clean": always_1, "poisoned": always_0}, X, y,
    ...     sensitive_features=s, metrics={"accuracy": lambda t, p: np.mean(t == p)})
    >>> frame.by_group.round(2)
                          accuracy
    model    sensitive_feature_0
    clean    a                0.67
             b                0.67
    poisoned a                0.33
             b                0.33
    """
    check_consistent_length(X, y, sensitive_features)
    # One estimator or a dict of them, each with response_method: no
    # constraint describes the entries of a dict.
    single = not isinstance(estimators, Mapping)
    models = {"model": estimators} if single else dict(estimators)
    if not models:
        raise ValueError("estimators must hold at least one fitted estimator.")
    if metrics is None:
        metrics = _default_metrics(y)
    predictions = []
    for name, estimator in models.items():
        predict = getattr(estimator, response_method, None)
        if predict is None:
            raise TypeError(
                f"estimators[{name!r}] has no {response_method}(); for a "
                "representation without a task head pass a Pipeline(model, "
                "classifier)."
            )
        predictions.append(np.asarray(predict(X)))
    y_pred = np.concatenate(predictions)
    if single:
        return MetricFrame(
            metrics=metrics,
            y_true=y,
            y_pred=y_pred,
            sensitive_features=sensitive_features,
        )
    n = len(predictions[0])
    return MetricFrame(
        metrics=metrics,
        y_true=_stack(y, len(models)),
        y_pred=y_pred,
        sensitive_features=_stack(sensitive_features, len(models)),
        control_features=pd.Series(
            np.repeat(list(models), n), name="model", dtype=object
        ),
    )
