"""Where an estimator's fair representation comes from: one helper for all."""

from __future__ import annotations

from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from ._sklearn_compat import validate_params

__all__ = [
    "get_representation",
    "has_representation",
    "is_fair_representation",
    "representation_pipeline",
    "split_representation",
]


def is_fair_representation(estimator) -> bool:
    """Whether ``estimator`` is an skfrl fair-representation model.

    Such a model's ``transform`` returns the learned representation ``Z``.
    Third-party models can opt in by setting the class attribute
    ``_skfrl_representation = True``.

    .. versionadded:: 0.1

    Parameters
    ----------
    estimator : object
        Any object.

    Returns
    -------
    bool

    Examples
    --------
    >>> from sklearn.decomposition import PCA
    >>> from skfrl.utils import is_fair_representation
    >>> is_fair_representation(PCA())
    False
    """
    return bool(getattr(estimator, "_skfrl_representation", False)) and hasattr(
        estimator, "transform"
    )


def _is_step(estimator, neural: bool) -> bool:
    if not neural:
        return is_fair_representation(estimator)
    from .._base import BaseFairNet  # the base imports utils: resolve late

    return isinstance(estimator, BaseFairNet)


def _inner(estimator):
    """The fitted estimator inside an skfrl wrapper (e.g. PoisonedEstimator)."""
    if getattr(estimator, "_skfrl_wrapper", False) and hasattr(estimator, "estimator_"):
        return estimator.estimator_
    return None


@validate_params({"neural": ["boolean"]}, prefer_skip_nested_validation=True)
def has_representation(estimator, *, neural: bool = False) -> bool:
    """Whether ``estimator`` is, holds or wraps a fair-representation step.

    .. versionadded:: 0.1

    Parameters
    ----------
    estimator : object
        An FRL model, a (nested) Pipeline, or an skfrl wrapper such as
        :class:`~skfrl.attacks.PoisonedEstimator` once fitted.
    neural : bool, default=False
        Count only skfrl's neural models (:class:`~skfrl.BaseFairNet`
        subclasses), the ones whose training an attack can look into.

    Returns
    -------
    bool

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skfrl.models import CFair
    >>> from skfrl.utils import has_representation
    >>> has_representation(make_pipeline(StandardScaler(), CFair()))
    True
    """
    if _is_step(estimator, neural):
        return True
    inner = _inner(estimator)
    if inner is not None:
        return has_representation(inner, neural=neural)
    return isinstance(estimator, Pipeline) and any(
        has_representation(step, neural=neural) for _, step in estimator.steps
    )


@validate_params(
    {"neural": ["boolean"], "fitted": ["boolean"], "input_name": [str]},
    prefer_skip_nested_validation=True,
)
def split_representation(
    estimator, *, neural: bool = False, fitted: bool = False, input_name="estimator"
):
    """Split a model into the steps before its FRL step and that step.

    The FRL step of a Pipeline is its **last** step that is (or holds) a
    fair-representation model: steps after it (a downstream classifier)
    are not part of the representation.

    .. versionadded:: 0.1

    Parameters
    ----------
    estimator : estimator
        An FRL model or a Pipeline with one as a step.
    neural : bool, default=False
        Require one of skfrl's neural models (:class:`~skfrl.BaseFairNet`).
    fitted : bool, default=False
        Require the FRL step to be fitted (``NotFittedError`` otherwise).
    input_name : str, default="estimator"
        Name of ``estimator`` in error messages.

    Returns
    -------
    preprocessing : Pipeline or None
        The steps before the FRL step (None when there are none).
    step : estimator
        The FRL step.

    Raises
    ------
    TypeError
        If ``estimator`` holds no such step.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skfrl.models import CFair
    >>> from skfrl.utils import split_representation
    >>> pre, step = split_representation(make_pipeline(StandardScaler(), CFair()))
    >>> type(pre[0]).__name__, type(step).__name__
    ('StandardScaler', 'CFair')
    """
    pre, step = None, None
    if _is_step(estimator, neural):
        step = estimator
    elif isinstance(estimator, Pipeline):
        for idx in range(len(estimator.steps) - 1, -1, -1):
            if _is_step(estimator.steps[idx][1], neural):
                pre, step = (estimator[:idx] if idx else None), estimator.steps[idx][1]
                break
    if step is None:
        what = (
            "one of skfrl's neural FRL models (a BaseFairNet subclass)"
            if neural
            else "a fair-representation model (an skfrl FRL model, or one whose "
            "class sets _skfrl_representation = True)"
        )
        found = (
            f"a Pipeline with steps {[type(st).__name__ for _, st in estimator.steps]}"
            if isinstance(estimator, Pipeline)
            else type(estimator).__name__
        )
        raise TypeError(
            f"{input_name} must be {what} or a Pipeline with one as a step; got "
            f"{found}."
        )
    if fitted:
        try:
            check_is_fitted(step)
        except NotFittedError as exc:
            raise NotFittedError(
                f"{input_name} is not fitted: fit {type(step).__name__} first."
            ) from exc
    return pre, step


def get_representation(estimator, X):
    """The representation ``Z`` a fitted model gives ``X``.

    ``Z`` is the output of the model's last fair-representation step: the
    model itself, the last FRL step of a (nested) Pipeline (the steps before
    it transform ``X`` first, the steps after it are ignored), or the model
    inside a fitted skfrl wrapper.

    .. versionadded:: 0.1

    Parameters
    ----------
    estimator : estimator
        A fitted FRL model, Pipeline or wrapper.
    X : array-like of shape (n_samples, n_features)
        Input of ``estimator``.

    Returns
    -------
    Z : ndarray of shape (n_samples, n_components)

    Raises
    ------
    TypeError
        If ``estimator`` holds no fair-representation step.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skfrl.models import CFair
    >>> from skfrl.utils import get_representation
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 3)).astype("float32")
    >>> y, s = (X[:, 0] > 0).astype(int), (X[:, 1] > 0).astype(int)
    >>> pipe = make_pipeline(CFair(max_epochs=2, n_components=4), LogisticRegression())
    >>> pipe = pipe.fit(X, y, cfair__sensitive_features=s)
    >>> get_representation(pipe, X).shape
    (60, 4)
    """
    if is_fair_representation(estimator):
        return estimator.transform(X)
    inner = _inner(estimator)
    if inner is not None:
        return get_representation(inner, X)
    if isinstance(estimator, Pipeline):
        for idx in range(len(estimator.steps) - 1, -1, -1):
            step = estimator.steps[idx][1]
            if has_representation(step):
                Xt = estimator[:idx].transform(X) if idx > 0 else X
                return get_representation(step, Xt)
    raise TypeError(
        "A fitted fair-representation model is needed: an skfrl FRL model, or a "
        "Pipeline with one as a step (steps after it, e.g. a classifier, are "
        "ignored; the representation is the output of the last FRL step). "
        "Third-party transformers opt in with the class attribute "
        f"_skfrl_representation = True. Got {type(estimator).__name__}: "
        f"{estimator!r}."
    )


def representation_pipeline(model):
    """``model`` up to and including its last FRL step.

    A Pipeline that ends in a downstream classifier has no ``transform``;
    what an attack crafts against, and what leakage is measured on, is the
    Pipeline cut after its last fair-representation step. Anything else
    (an FRL model, a transformer) comes back as it is.

    .. versionadded:: 0.1

    Parameters
    ----------
    model : estimator

    Returns
    -------
    estimator

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skfrl.models import CFair
    >>> from skfrl.utils import representation_pipeline
    >>> pipe = make_pipeline(CFair(), LogisticRegression())
    >>> representation_pipeline(pipe).steps[-1][0]
    'cfair'
    """
    if hasattr(model, "transform") or not isinstance(model, Pipeline):
        return model
    for idx in range(len(model.steps) - 1, -1, -1):
        if is_fair_representation(model.steps[idx][1]):
            return model[: idx + 1]
    return model
