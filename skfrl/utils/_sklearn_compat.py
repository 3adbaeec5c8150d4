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

__all__ = ["HasMethods", "Interval", "StrOptions", "validate_parameter_constraints"]
