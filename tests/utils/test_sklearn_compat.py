"""Fail loudly if the private scikit-learn API skfrl relies on changes."""

import inspect
import numbers

import numpy as np
import pytest
from sklearn import get_config

from skfrl.utils._sklearn_compat import (
    HasMethods,
    Hidden,
    Interval,
    InvalidParameterError,
    Options,
    RealNotInt,
    StrOptions,
    ordered_options,
    validate_parameter_constraints,
    validate_params,
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


@validate_params(
    {
        "a": [Interval(numbers.Integral, 1, None, closed="left")],
        "x": [Interval(RealNotInt, 0, 1, closed="neither"), Hidden(None)],
        "kind": [ordered_options(["z", "a"]), Options(int, {0, 1})],
        "flag": ["boolean"],
        "random_state": ["random_state"],
        "cv": ["cv_object"],
        "data": ["array-like"],
        "probe": [HasMethods(["fit"]), None],
    },
    prefer_skip_nested_validation=True,
)
def _decorated(
    a, *, x=None, kind="z", flag=False, random_state=None, cv=5, data=(), probe=None
):
    """Docstring of the decorated function."""
    return get_config()["skip_parameter_validation"]


def test_validate_params_contract():
    # Name, docstring and signature survive (numpydoc, inspect, the CLI).
    assert _decorated.__name__ == "_decorated"
    assert _decorated.__doc__ == "Docstring of the decorated function."
    assert list(inspect.signature(_decorated).parameters)[:2] == ["a", "x"]
    assert _decorated._skl_parameter_constraints["a"]
    # Inside, nested validation is skipped (prefer_skip_nested_validation).
    assert _decorated(1, x=0.5, kind=0, cv=[(np.arange(2), np.arange(2))]) is True
    assert get_config()["skip_parameter_validation"] is False
    with pytest.raises(InvalidParameterError) as info:
        _decorated(0)
    # Both a ValueError and a TypeError, naming parameter, function and value.
    assert isinstance(info.value, ValueError) and isinstance(info.value, TypeError)
    assert str(info.value) == (
        "The 'a' parameter of _decorated must be an int in the range [1, inf). "
        "Got 0 instead."
    )
    for kwargs, name in [
        ({"x": 1}, "x"),  # RealNotInt: an int is refused
        ({"x": float("nan")}, "x"),
        ({"kind": "q"}, "kind"),
        ({"flag": 1}, "flag"),
        ({"random_state": "seed"}, "random_state"),
        ({"cv": 1}, "cv"),
        ({"cv": "five"}, "cv"),
        ({"data": 3.0}, "data"),
        ({"probe": object()}, "probe"),
    ]:
        with pytest.raises(ValueError, match=f"'{name}' parameter of _decorated"):
            _decorated(1, **kwargs)
    # Hidden constraints are accepted but not listed.
    with pytest.raises(ValueError) as info:
        _decorated(1, x=2.0)
    assert "None" not in str(info.value)


def test_ordered_options_keep_their_order():
    with pytest.raises(ValueError) as info:
        _decorated(1, kind="q")
    assert "a str among {'z', 'a'} or " in str(info.value)
    options = ordered_options(["roc_auc", "ber", "mae", "r2"])
    assert str(options) == "a str among {'roc_auc', 'ber', 'mae', 'r2'}"
    assert options.is_satisfied_by("mae") and not options.is_satisfied_by(["mae"])


def test_inner_parameter_errors_name_the_decorated_function():
    # scikit-learn names the decorated function in an inner parameter error
    # (as for a function that wraps an estimator); skfrl's messages rely on it.
    @validate_params({}, prefer_skip_nested_validation=False)
    def outer():
        validate_parameter_constraints(
            {"b": [StrOptions({"x"})]}, {"b": "z"}, caller_name="Inner"
        )

    with pytest.raises(ValueError, match="'b' parameter of .*outer must be"):
        outer()
