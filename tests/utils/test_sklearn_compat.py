"""Fail loudly if the private scikit-learn API skfrl relies on changes."""

import numbers

import pytest

from skfrl.utils._sklearn_compat import (
    Interval,
    StrOptions,
    validate_parameter_constraints,
)


def test_parameter_validation_contract():
    constraints = {
        "a": [Interval(numbers.Integral, 1, None, closed="left")],
        "b": [StrOptions({"x", "y"})],
    }
    validate_parameter_constraints(constraints, {"a": 2, "b": "x"}, caller_name="C")
    with pytest.raises(ValueError, match="'a' parameter of C must be"):
        validate_parameter_constraints(constraints, {"a": 0, "b": "x"}, caller_name="C")
    with pytest.raises(ValueError, match="'b' parameter of C"):
        validate_parameter_constraints(constraints, {"a": 1, "b": "z"}, caller_name="C")
