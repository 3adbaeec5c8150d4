"""Property-based fuzzing of the public API (hypothesis).

For arbitrary finite inputs every public fit / fit_resample / metric either
returns finite output or raises a ValueError / TypeError (skfrl's
TrainingDivergedError is both a FloatingPointError and a ValueError);
never NaN or inf, never another exception type, and never a change to the
caller's arrays.
"""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from skfrl.attacks import AnchorAttack, LabelFlipping, RandomPoisoning
from skfrl.defenses import KNNConsistencyFilter
from skfrl.metrics import (
    balanced_error_rate,
    fld_score,
    mutual_information_lower_bound,
    representation_leakage,
    worst_group_accuracy,
)
from skfrl.models import (
    ICVAE,
    VFAE,
    AdversarialFairRepresentation,
    AdversarialVAE,
    CFair,
    LearnedFairRepresentation,
)

np.set_printoptions(precision=20)
SETTINGS = settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Finite values over many orders of magnitude, tiny and huge included.
FINITE = st.one_of(
    st.floats(-10, 10, allow_nan=False),
    st.floats(-1e30, 1e30, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, 1e-300, -1e-300, 1e300, -1e300]),
)


@st.composite
def data(draw, min_rows=2, max_rows=24, max_cols=4):
    n = draw(st.integers(min_rows, max_rows))
    d = draw(st.integers(1, max_cols))
    X = draw(arrays(np.float64, (n, d), elements=FINITE))
    y = draw(arrays(np.int64, (n,), elements=st.integers(0, 1)))
    s = draw(arrays(np.int64, (n,), elements=st.integers(0, 1)))
    return X, y, s


def _finite(out) -> bool:
    if isinstance(out, tuple):
        return all(_finite(o) for o in out)
    arr = np.asarray(out)
    if arr.dtype.kind not in "biufc":
        return True
    return bool(np.all(np.isfinite(arr)))


def _check(func, *args):
    copies = [np.array(a, copy=True) for a in args]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = func(*args)
    except (ValueError, TypeError) as exc:
        assert str(exc), "errors must say what is wrong"
        return
    finally:
        for a, c in zip(args, copies, strict=True):
            np.testing.assert_array_equal(a, c)  # never mutated
    assert _finite(out), f"{func} returned non-finite output"


METRICS = {
    "fld_score": lambda X, y, s: fld_score(X, s),
    "representation_leakage": lambda X, y, s: representation_leakage(
        X, s, cv=2, random_state=0
    ),
    "representation_leakage_log_loss": lambda X, y, s: representation_leakage(
        X, s, metric="log_loss", cv=2, random_state=0
    ),
    "mutual_information_lower_bound": lambda X, y, s: mutual_information_lower_bound(
        X, s, cv=2, random_state=0
    ),
    "balanced_error_rate": lambda X, y, s: balanced_error_rate(s, y),
    "worst_group_accuracy": lambda X, y, s: worst_group_accuracy(
        y, (X[:, 0] > 0).astype(int), sensitive_features=s
    ),
}


@pytest.mark.parametrize("name", METRICS)
@SETTINGS
@given(d=data())
def test_metrics_are_finite_or_refuse(name, d):
    _check(METRICS[name], *d)


ATTACKS = {
    "random": lambda: RandomPoisoning(budget=0.2, random_state=0),
    "anchor": lambda: AnchorAttack(budget=0.2, random_state=0),
    "label_flip": lambda: LabelFlipping(budget=0.2, random_state=0),
}


@pytest.mark.parametrize("name", ATTACKS)
@SETTINGS
@given(d=data())
def test_attacks_are_finite_or_refuse(name, d):
    attack = ATTACKS[name]()
    _check(lambda X, y, s: attack.fit_resample(X, y, sensitive_features=s), *d)


MODELS = {
    "cfair": lambda: CFair(max_epochs=1, random_state=0),
    "adversarial": lambda: AdversarialFairRepresentation(max_epochs=1, random_state=0),
    "icvae": lambda: ICVAE(max_epochs=1, random_state=0),
    "vfae": lambda: VFAE(max_epochs=1, random_state=0),
    "lfr": lambda: LearnedFairRepresentation(max_epochs=1, random_state=0),
    "advvae": lambda: AdversarialVAE(max_epochs=1, random_state=0),
}


@pytest.mark.parametrize("name", MODELS)
@SETTINGS
@given(d=data())
def test_models_are_finite_or_refuse(name, d):
    model = MODELS[name]()

    def fit_transform(X, y, s):
        model.fit(X, y, sensitive_features=s)
        return model.transform(X)

    _check(fit_transform, *d)


@SETTINGS
@given(d=data(min_rows=4))
def test_sanitiser_is_finite_or_refuses(d):
    sanitiser = KNNConsistencyFilter(n_neighbors=3)
    _check(lambda X, y, s: sanitiser.fit_resample(X, y, sensitive_features=s), *d)
