"""Fitting an estimator or a Pipeline with sensitive features."""

from __future__ import annotations

import numbers

from sklearn import get_config
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import has_fit_parameter

from ._representation import split_representation
from ._sklearn_compat import HasMethods, Interval, validate_params

__all__ = ["check_fine_tune", "fine_tune", "fit_with_sensitive"]


def _accepts_sensitive(estimator) -> bool:
    return has_fit_parameter(estimator, "sensitive_features")


def _takes_sensitive_anywhere(estimator) -> bool:
    if isinstance(estimator, Pipeline):
        return any(
            _takes_sensitive_anywhere(step)
            for _, step in estimator.steps
            if step not in (None, "passthrough")
        )
    if _accepts_sensitive(estimator):
        return True
    # Other meta-estimators (e.g. a search): whatever they wrap may take it.
    return hasattr(estimator, "get_metadata_routing") and any(
        hasattr(estimator, name) for name in ("estimator", "estimators", "steps")
    )


@validate_params(
    {"estimator": [HasMethods(["fit"])]},
    # The caller's estimator is fitted inside: its parameters get validated.
    prefer_skip_nested_validation=False,
)
def fit_with_sensitive(estimator, X, y, sensitive_features):
    """Fit ``estimator`` passing ``sensitive_features`` where it is consumed.

    With metadata routing enabled, ``sensitive_features`` goes through
    scikit-learn's routing (the consuming steps must request it), unless no
    step of ``estimator`` can take it (e.g. a plain ``LogisticRegression``
    or a scaler + classifier Pipeline), which is then fitted without it. Without
    routing, a Pipeline receives it as ``<step>__sensitive_features`` for
    every step whose ``fit`` takes it, and a plain estimator as a keyword
    when its ``fit`` takes it.

    .. versionadded:: 0.1

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
        # Routing decides which steps get it; but an estimator in which no
        # step can take sensitive features would refuse the keyword.
        if _takes_sensitive_anywhere(estimator):
            return estimator.fit(X, y, sensitive_features=sensitive_features)
        return estimator.fit(X, y)
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


@validate_params({"input_name": [str]}, prefer_skip_nested_validation=True)
def check_fine_tune(estimator, epochs=None, *, input_name: str = "epochs") -> None:
    """Refuse, before any work, what :func:`fine_tune` would refuse.

    Fine-tuning continues one of skfrl's neural models (or a Pipeline with
    one as a step) for ``epochs`` more epochs; the check does not need the
    model to be fitted yet, so an evaluation can run it before training the
    clean model it will continue.

    .. versionadded:: 0.1

    Parameters
    ----------
    estimator : BaseFairNet or Pipeline
        The model to continue (fitted or not).
    epochs : int or None, default=None
        Epochs of continued training; None: the model's ``max_epochs``.
    input_name : str, default="epochs"
        Name of ``epochs`` in error messages (e.g. ``"fine_tune_epochs"``).

    Raises
    ------
    TypeError
        ``epochs`` not an int, or ``estimator`` without a neural FRL step.
    ValueError
        ``epochs < 1``.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skfrl.utils import check_fine_tune
    >>> check_fine_tune(LogisticRegression())
    Traceback (most recent call last):
    ...
    TypeError: fine-tuning (skfrl.utils.fine_tune) continues a fitted skfrl ...
    """
    # Not a constraint of its own: the messages name ``input_name``, the
    # caller's name for ``epochs``.
    if epochs is not None:
        if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral):
            raise TypeError(f"{input_name} must be an int or None, got {epochs!r}.")
        if epochs < 1:
            raise ValueError(f"{input_name} must be >= 1, got {epochs}.")
    try:
        split_representation(estimator, neural=True)
    except TypeError:
        raise TypeError(
            "fine-tuning (skfrl.utils.fine_tune) continues a fitted skfrl neural FRL "
            "model (a "
            "BaseFairNet subclass) or a Pipeline with one as a step; got "
            f"{type(estimator).__name__}."
        ) from None


def _neural_step(model):
    """(index in the Pipeline or None, fitted neural FRL step) of ``model``.

    ``model`` has passed :func:`check_fine_tune`; only its fit is checked.
    """
    from sklearn.exceptions import NotFittedError

    try:
        pre, step = split_representation(model, neural=True, fitted=True)
    except NotFittedError:
        raise TypeError(
            "fine-tuning continues a fitted skfrl neural FRL model; fit "
            f"{type(model).__name__} first."
        ) from None
    if not isinstance(model, Pipeline):
        return None, step
    return (0 if pre is None else len(pre.steps)), step


@validate_params(
    {"epochs": [Interval(numbers.Integral, 1, None, closed="left"), None]},
    # The downstream steps are refitted inside: their parameters get validated.
    prefer_skip_nested_validation=False,
)
def fine_tune(estimator, X, y, sensitive_features, *, epochs: int | None = None):
    """Continue training a fitted model on new data, for ``epochs`` epochs.

    The threat model of Liu et al. (2024), Assumption 2: the victim is well
    trained before the poisons arrive and keeps training on clean +
    poisoned data (periodic re-training on new data, fine-tuning). The FRL
    model continues from its current weights and optimizer state
    (``warm_start=True``); steps before it (preprocessing) stay as fitted, so
    the features keep their encoding; steps after it (a downstream
    classifier) are refitted on the new representation. ``estimator`` is
    not modified.

    .. versionadded:: 0.1

    Parameters
    ----------
    estimator : BaseFairNet or Pipeline
        A fitted skfrl neural model, or a fitted Pipeline with one as a step.
    X, y : array-like
        Data to continue on (raw, as the Pipeline's first step expects).
    sensitive_features : array-like
        Protected attribute(s) of ``X``.
    epochs : int or None, default=None
        Epochs of continued training; None: the model's ``max_epochs``.

    Returns
    -------
    fine_tuned : estimator
        A fitted copy of ``estimator``.

    Examples
    --------
    >>> from skfrl.datasets import make_biased_classification
    >>> from skfrl.models import CFair
    >>> from skfrl.utils import fine_tune
    >>> X, y, s = make_biased_classification(n_samples=200, random_state=0)
    >>> clean = CFair(max_epochs=2, random_state=0).fit(X, y, sensitive_features=s)
    >>> tuned = fine_tune(clean, X, y, s, epochs=1)
    >>> len(clean.history), len(tuned.history)
    (2, 3)
    """
    import copy

    check_fine_tune(estimator, epochs)
    idx, step = _neural_step(estimator)
    if epochs is None:
        epochs = int(step.get_params()["max_epochs"])
    model = copy.deepcopy(estimator)
    frl = model if idx is None else model.steps[idx][1]
    params = frl.get_params(deep=False)
    saved = {"warm_start": params["warm_start"], "max_epochs": params["max_epochs"]}
    Xt = X if idx is None or idx == 0 else model[:idx].transform(X)
    frl.set_params(warm_start=True, max_epochs=int(epochs))
    try:
        frl.fit(Xt, y, sensitive_features=sensitive_features)
    finally:
        frl.set_params(**saved)
    if idx is not None and idx + 1 < len(model.steps):
        rest = Pipeline(model.steps[idx + 1 :])
        fit_with_sensitive(rest, frl.transform(Xt), y, sensitive_features)
    return model
