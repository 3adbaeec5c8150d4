"""Robustness metrics: hand-computed values and input validation."""

import math

import numpy as np
import pandas as pd
import pytest

from skfrl.metrics import (
    PoisonAmplification,
    attack_success_rate,
    minority_removal_rate,
    poison_amplification,
    sanitizer_precision_recall,
    worst_group_accuracy,
)


def test_worst_group_accuracy_cells_and_groups():
    y_true = np.array([0, 0, 1, 1, 0, 1, 1, 1])
    y_pred = np.array([0, 1, 1, 1, 0, 0, 1, 0])
    s = np.array(["a", "a", "a", "a", "b", "b", "b", "b"])
    # Groups: a -> 3/4, b -> 2/4.
    assert (
        worst_group_accuracy(y_true, y_pred, sensitive_features=s, groups="sensitive")
        == 0.5
    )
    # Cells: (a,0) 1/2, (a,1) 2/2, (b,0) 1/1, (b,1) 1/3.
    assert worst_group_accuracy(y_true, y_pred, sensitive_features=s) == pytest.approx(
        1 / 3
    )


def test_worst_group_accuracy_joint_attributes():
    y = np.array([1, 1, 1, 1])
    pred = np.array([1, 0, 1, 1])
    s = pd.DataFrame({"sex": ["f", "f", "m", "m"], "race": ["x", "y", "x", "y"]})
    assert worst_group_accuracy(y, pred, sensitive_features=s) == 0.0
    assert worst_group_accuracy(y, pred, sensitive_features=s["sex"]) == 0.5


def test_worst_group_accuracy_errors():
    with pytest.raises(ValueError, match="groups"):
        worst_group_accuracy([0, 1], [0, 1], sensitive_features=[0, 1], groups="x")
    with pytest.raises(ValueError, match="y_pred"):
        worst_group_accuracy([0, 1, 1], [0, 1], sensitive_features=[0, 1, 1])
    with pytest.raises(ValueError, match="sensitive_features"):
        worst_group_accuracy([0, 1], [0, 1], sensitive_features=[0, 1, 0])
    with pytest.raises(ValueError, match="continuous"):
        worst_group_accuracy(
            np.zeros(20), np.zeros(20), sensitive_features=np.linspace(0, 1, 20)
        )


def test_attack_success_rate():
    assert attack_success_rate([1, 1, 0, 1], 1) == 0.75
    assert (
        attack_success_rate(
            np.array(["yes", "no", "yes"]), "yes", y_true=["no", "no", "yes"]
        )
        == 0.5
    )
    with pytest.raises(ValueError, match="target label"):
        attack_success_rate([1, 1], 1, y_true=[1, 1])
    with pytest.raises(ValueError, match="y_true"):
        attack_success_rate([1, 1], 1, y_true=[0])
    with pytest.raises(ValueError, match="NaN"):
        attack_success_rate([1.0, np.nan], 1)


def test_poison_amplification():
    w = np.array([1, 1, 1, 1, 5, 5, 1, 5])
    poison = np.array([0, 0, 0, 0, 0, 0, 1, 1], dtype=bool)
    res = poison_amplification(w, poison)
    assert isinstance(res, PoisonAmplification)
    assert res.row_share == 0.25
    assert res.weight_share == pytest.approx(6 / 20)
    assert res.amplification == pytest.approx((6 / 20) / 0.25)
    assert res.upweighted_poison_share == pytest.approx(1 / 3)
    flat = poison_amplification(np.ones(8), poison)
    assert flat.amplification == 1.0 and math.isnan(flat.upweighted_poison_share)
    with pytest.raises(ValueError, match="no poisons"):
        poison_amplification(w, np.zeros(8, bool))
    with pytest.raises(ValueError, match="non-negative"):
        poison_amplification(-w, poison)
    with pytest.raises(ValueError, match="poison_mask"):
        poison_amplification(w, poison[:-1])
    with pytest.raises(ValueError, match="boolean"):
        poison_amplification(w, np.full(8, 2))


def test_minority_removal_rate():
    removed = np.array([1, 0, 0, 0, 1, 1, 0, 1], dtype=bool)
    s = np.array(["a", "a", "a", "a", "a", "b", "b", "b"])
    poison = np.array([0, 0, 0, 0, 1, 0, 0, 1], dtype=bool)
    # Without poisons: a 2/5, b 2/3; the minority is b.
    assert minority_removal_rate(removed, s) == pytest.approx(2 / 3)
    # Poisons do not count: a 1/4, b 1/2.
    assert minority_removal_rate(removed, s, poison_mask=poison) == 0.5
    rates = minority_removal_rate(removed, s, poison_mask=poison, per_group=True)
    assert rates.to_dict() == {"a": 0.25, "b": 0.5}
    with pytest.raises(ValueError, match="legitimate"):
        minority_removal_rate(removed, s, poison_mask=np.ones(8, bool))
    with pytest.raises(ValueError, match="sensitive_features"):
        minority_removal_rate(removed, s[:-1])


def test_sanitizer_precision_recall():
    removed = np.array([1, 1, 1, 0, 0, 0], dtype=bool)
    poison = np.array([1, 0, 0, 1, 0, 0], dtype=bool)
    assert sanitizer_precision_recall(removed, poison) == (1 / 3, 0.5)
    p, r = sanitizer_precision_recall(np.zeros(6, bool), poison)
    assert math.isnan(p) and r == 0.0
    p, r = sanitizer_precision_recall(removed, np.zeros(6, bool))
    assert p == 0.0 and math.isnan(r)
    with pytest.raises(ValueError, match="poison_mask"):
        sanitizer_precision_recall(removed, poison[:3])


def test_minority_removal_rate_with_several_attributes():
    removed = np.array([True, False, False, False, True, False, False])
    S = pd.DataFrame(
        {"sex": ["f", "f", "m", "m", "m", "m", "m"], "race": list("aabbbbb")}
    )
    # Joint groups (f, a) with 2 rows and (m, b) with 5: the smaller loses 1/2.
    assert minority_removal_rate(removed, S) == 0.5
    per_group = minority_removal_rate(removed, S, per_group=True)
    assert len(per_group) == 2 and per_group.min() == 0.2
