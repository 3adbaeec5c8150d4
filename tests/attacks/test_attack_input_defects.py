"""Regression tests for input-validation defects of the attacks and fld_torch."""

import numpy as np
import pandas as pd
import pytest
import torch

from skfrl.attacks import (
    AnchorAttack,
    DirtyLabelBackdoor,
    LabelFlipping,
    PoisonGenerator,
    RandomPoisoning,
    fld_torch,
)
from skfrl.datasets import make_biased_classification
from skfrl.models import AdversarialFairRepresentation


class _NeverFitted(AdversarialFairRepresentation):
    """A victim whose fit fails: validation must refuse the data first."""

    def fit(self, *args, **kwargs):
        raise AssertionError("the victim was fitted before the data were checked")


def _attacks():
    return [
        RandomPoisoning(budget=0.1, random_state=0),
        LabelFlipping(budget=0.1, random_state=0),
        AnchorAttack(budget=0.1, random_state=0),
        DirtyLabelBackdoor(budget=0.1, random_state=0),
        PoisonGenerator(_NeverFitted(max_epochs=1), n_steps=1, random_state=0),
    ]


ATTACK_IDS = [
    "RandomPoisoning",
    "LabelFlipping",
    "AnchorAttack",
    "DirtyLabelBackdoor",
    "PoisonGenerator",
]


@pytest.fixture(scope="module")
def data():
    return make_biased_classification(n_samples=100, random_state=0)


@pytest.mark.parametrize("index", range(5), ids=ATTACK_IDS)
@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_dataframe_with_inf_is_refused(data, index, value):
    X, y, s = data
    frame = pd.DataFrame(X, columns=[f"c{i}" for i in range(X.shape[1])])
    frame.iloc[3, 2] = value
    with pytest.raises(ValueError, match=r"X contains infinite values.*'c2'"):
        _attacks()[index].fit_resample(frame, y, sensitive_features=s)


def test_dataframe_inf_check_covers_float32_and_nullable_floats(data):
    X, y, s = data
    frame = pd.DataFrame(X, columns=[f"c{i}" for i in range(X.shape[1])])
    frame["c1"] = frame["c1"].astype(np.float32)
    frame["c4"] = frame["c4"].astype("Float64")
    frame["cat"] = pd.Categorical(np.where(y == 1, "a", "b"))
    # Finite mixed frames still work ...
    RandomPoisoning(budget=0.1, random_state=0).fit_resample(
        frame, y, sensitive_features=s
    )
    for col in ("c1", "c4"):
        bad = frame.copy()
        bad.loc[5, col] = np.inf
        with pytest.raises(ValueError, match=f"infinite values.*'{col}'"):
            RandomPoisoning(budget=0.1).fit_resample(bad, y, sensitive_features=s)


@pytest.mark.parametrize("index", range(5), ids=ATTACK_IDS)
@pytest.mark.parametrize("budget", [True, False, np.True_])
def test_boolean_budget_is_refused(data, index, budget):
    X, y, s = data
    attack = _attacks()[index].set_params(budget=budget)
    with pytest.raises((TypeError, ValueError), match=r"'budget'.*not a bool"):
        attack.fit_resample(X, y, sensitive_features=s)


def test_integer_and_fraction_budgets_still_work(data):
    X, y, s = data
    for budget, n_poison in [
        (1, 1),
        (np.int64(3), 3),
        (0.1, 10),
        (np.float64(0.2), 20),
    ]:
        attack = RandomPoisoning(budget=budget, random_state=0)
        attack.fit_resample(X, y, sensitive_features=s)
        assert attack.n_poison_ == n_poison


@pytest.mark.parametrize("attack_cls", [LabelFlipping, DirtyLabelBackdoor])
def test_one_class_is_refused_by_relabelling_attacks(data, attack_cls):
    X, _, s = data
    y = np.zeros(len(X), dtype=int)
    msg = f"{attack_cls.__name__} needs at least two classes in y, got one class"
    with pytest.raises(ValueError, match=msg):
        attack_cls(budget=0.1, random_state=0).fit_resample(X, y, sensitive_features=s)


@pytest.mark.parametrize("index", range(5), ids=ATTACK_IDS)
@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_infinite_labels_are_refused(data, index, value):
    X, y, s = data
    y = y.astype(float)
    y[5] = value
    with pytest.raises(ValueError, match="y contains infinite values"):
        _attacks()[index].fit_resample(X, y, sensitive_features=s)


def test_infinite_labels_in_object_arrays_and_series_are_refused(data):
    X, y, s = data
    y_obj = y.astype(object)
    y_obj[0] = float("inf")
    with pytest.raises(ValueError, match="y contains infinite values"):
        LabelFlipping(budget=0.1).fit_resample(X, y_obj, sensitive_features=s)
    y_series = pd.Series(y.astype(np.float32))
    y_series.iloc[1] = -np.inf
    with pytest.raises(ValueError, match="y contains infinite values"):
        DirtyLabelBackdoor(budget=0.1).fit_resample(X, y_series, sensitive_features=s)


def test_string_and_float_labels_still_work(data):
    X, y, s = data
    y_str = np.where(y == 1, "good", "bad")
    _, y_aug, _ = LabelFlipping(budget=0.1, random_state=0).fit_resample(
        X, y_str, sensitive_features=s
    )
    assert set(y_aug) == {"good", "bad"}
    _, y_aug, _ = DirtyLabelBackdoor(budget=0.1, random_state=0).fit_resample(
        X, y.astype(float), sensitive_features=s
    )
    assert np.isfinite(y_aug).all()


# -- fld_torch ---------------------------------------------------------------------
def _fld_reference(Z, s, eps=1e-3):
    """The formula of fld_torch before validation was added."""
    d = Z.shape[1]
    z0, z1 = Z[s == 0], Z[s == 1]
    mu0, mu1 = z0.mean(0), z1.mean(0)
    c0 = (z0 - mu0).T @ (z0 - mu0) / max(len(z0) - 1, 1)
    c1 = (z1 - mu1).T @ (z1 - mu1) / max(len(z1) - 1, 1)
    within = c0 + c1
    ridge = eps * torch.clamp(torch.diagonal(within).mean().detach(), min=1e-12)
    diff = (mu1 - mu0).unsqueeze(1)
    sol = torch.linalg.solve(within + ridge * torch.eye(d, dtype=Z.dtype), diff)
    return (diff * sol).sum()


def _fld_data(n=20, d=3):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, d, generator=g), torch.arange(n) % 2


def test_fld_torch_unchanged_on_valid_input():
    Z, s = _fld_data()
    for codes in (s, s.bool(), s.float(), s.to(torch.int32)):
        assert torch.equal(fld_torch(Z, codes), _fld_reference(Z, codes))
    Z64 = Z.double()
    assert torch.equal(fld_torch(Z64, s, eps=0.1), _fld_reference(Z64, s, eps=0.1))


@pytest.mark.parametrize(
    ("make", "exc", "match"),
    [
        (lambda Z, s: (Z.numpy(), s), TypeError, "Z must be a torch.Tensor"),
        (lambda Z, s: (Z[:, 0], s), ValueError, "Z must be 2-D"),
        (lambda Z, s: (Z[:, :0], s), ValueError, "Z must be 2-D"),
        (lambda Z, s: (Z.long(), s), TypeError, "Z must be a floating-point"),
        (lambda Z, s: (Z, s.numpy()), TypeError, "s must be a torch.Tensor"),
        (lambda Z, s: (Z, s[:10]), ValueError, r"s must be 1-D.*\(20\)"),
        (lambda Z, s: (Z, s[:, None]), ValueError, "s must be 1-D"),
        (lambda Z, s: (Z, s * 2), ValueError, "codes 0 and 1 only"),
        (lambda Z, s: (Z, torch.zeros(20)), ValueError, "got 20 and 0"),
        (
            lambda Z, s: (Z, torch.tensor([1] + [0] * 19)),
            ValueError,
            "at least 2 rows in each group",
        ),
    ],
)
def test_fld_torch_refuses_invalid_input(make, exc, match):
    Z, s = make(*_fld_data())
    with pytest.raises(exc, match=match):
        fld_torch(Z, s)


@pytest.mark.parametrize("eps", [-1.0, float("nan"), float("inf"), True, "1e-3"])
def test_fld_torch_refuses_invalid_eps(eps):
    Z, s = _fld_data()
    with pytest.raises(ValueError, match="eps must be a finite real number"):
        fld_torch(Z, s, eps=eps)
