"""The only place skfrl imports private scikit-learn API.

scikit-learn's parameter-validation helpers live in a private module. They are
the de-facto standard for ``_parameter_constraints`` and ``validate_params``
in scikit-learn-contrib projects; keeping the import here means a change in
scikit-learn breaks one module, and ``tests/utils/test_sklearn_compat.py``
fails loudly when it does.
"""

from collections.abc import Iterable

from sklearn.utils._param_validation import (  # noqa: F401
    HasMethods,
    Hidden,
    Interval,
    InvalidParameterError,
    Options,
    RealNotInt,
    StrOptions,
    validate_parameter_constraints,
    validate_params,
)

__all__ = [
    "HasMethods",
    "Hidden",
    "Interval",
    "InvalidParameterError",
    "Options",
    "RealNotInt",
    "StrOptions",
    "check_params",
    "ordered_options",
    "validate_parameter_constraints",
    "validate_params",
]


def ordered_options(options: Iterable[str]) -> StrOptions:
    """:class:`StrOptions` whose error message lists ``options`` in order.

    scikit-learn takes the options as a set, so a message lists them in an
    order that changes with Python's string hashing from run to run; a
    dict's keys view is a set too, in insertion order.

    Parameters
    ----------
    options : iterable of str
        The accepted strings, in the order messages list them.

    Returns
    -------
    StrOptions
        The constraint, for ``validate_params`` or ``_parameter_constraints``.

    Examples
    --------
    >>> from skfrl.utils._sklearn_compat import ordered_options
    >>> metric = ordered_options(["roc_auc", "ber", "mae"])
    >>> metric.is_satisfied_by("ber"), metric.is_satisfied_by("auc")
    (True, False)
    >>> str(metric)
    "a str among {'roc_auc', 'ber', 'mae'}"
    """
    return StrOptions(dict.fromkeys(options).keys())


def check_params(estimator) -> None:
    """Validate ``estimator``'s parameters against its ``_parameter_constraints``.

    Raises scikit-learn's ``InvalidParameterError`` (a ``ValueError`` and
    ``TypeError``) naming the parameter and what was expected.

    Examples
    --------
    >>> from skfrl.attacks import RandomPoisoning
    >>> from skfrl.utils._sklearn_compat import check_params
    >>> check_params(RandomPoisoning(budget=0.1))
    >>> check_params(RandomPoisoning(budget=-1))
    Traceback (most recent call last):
    ...
    sklearn.utils._param_validation.InvalidParameterError: The 'budget' parameter...
    """
    constraints = estimator._parameter_constraints
    validate_parameter_constraints(
        constraints,
        {name: getattr(estimator, name) for name in constraints},
        caller_name=type(estimator).__name__,
    )
