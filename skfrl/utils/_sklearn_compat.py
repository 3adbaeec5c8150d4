"""The only place skfrl imports private scikit-learn API.

scikit-learn's parameter-validation helpers live in a private module. They are
the de-facto standard for ``_parameter_constraints`` in scikit-learn-contrib
projects; keeping the import here means a change in scikit-learn breaks one
module, and ``tests/utils/test_sklearn_compat.py`` fails loudly when it does.
"""

from sklearn.utils._param_validation import (  # noqa: F401
    HasMethods,
    Interval,
    StrOptions,
    validate_parameter_constraints,
)

__all__ = [
    "HasMethods",
    "Interval",
    "StrOptions",
    "check_params",
    "validate_parameter_constraints",
]


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
