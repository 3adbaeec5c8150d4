"""plot_leakage_history: one line of leakage per epoch and net."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.axes import Axes
from skorch.history import History

from skfrl.callbacks import LeakageMonitor
from skfrl.datasets import make_biased_classification
from skfrl.models import AdversarialFairRepresentation
from skfrl.plotting import plot_leakage_history


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def make_history(values, every=1):
    history = History()
    for epoch, value in enumerate(values, start=1):
        history.new_epoch()
        history.record("epoch", epoch)
        if epoch % every == 0:
            history.record("leakage", value)
    return history


@pytest.fixture(scope="module")
def nets():
    X, y, s = make_biased_classification(
        n_samples=120, n_features=6, n_informative=3, random_state=0
    )
    X = X.astype(np.float32)
    fitted = []
    for every, metric in [(1, "roc_auc"), (2, "roc_auc"), (4, "balanced_accuracy")]:
        net = AdversarialFairRepresentation(
            n_components=2,
            hidden_layer_sizes=(8,),
            n_adversaries=1,
            adversary_steps=1,
            batch_size=32,
            max_epochs=4,
            callbacks=[
                ("leak", LeakageMonitor(X[80:], s[80:], every=every, metric=metric))
            ],
            random_state=0,
        )
        fitted.append(net.fit(X[:80], y[:80], sensitive_features=s[:80]))
    return fitted


def test_one_line_per_net(nets):
    ax = plot_leakage_history(nets[:2], labels=["every epoch", "every 2nd"])
    assert isinstance(ax, Axes)
    lines = ax.get_lines()
    assert len(lines) == 2
    np.testing.assert_array_equal(lines[0].get_xdata(), [1, 2, 3, 4])
    np.testing.assert_array_equal(lines[1].get_xdata(), [2, 4])
    np.testing.assert_allclose(lines[0].get_ydata(), nets[0].history[:, "leakage"])
    assert ax.get_ylabel() == "held-out probe ROC AUC"
    assert ax.get_xlabel() == "epoch"
    _, labels = ax.get_legend_handles_labels()
    assert labels == ["every epoch", "every 2nd"]


def test_single_net_has_no_legend(nets):
    ax = plot_leakage_history(nets[0])
    assert len(ax.get_lines()) == 1
    assert ax.get_legend() is None


def test_ylabel_follows_the_monitors_metric(nets):
    ax = plot_leakage_history(nets[2])
    assert ax.get_ylabel() == "held-out probe balanced accuracy"
    # Monitors with different metrics: the history key.
    ax = plot_leakage_history(nets[1:])
    assert ax.get_ylabel() == "leakage"


def test_histories_dict_and_ylabel():
    runs = {"adv": make_history([0.8, 0.7, 0.75]), "cfair": make_history([0.6, 0.5])}
    fig, ax = plt.subplots()
    out = plot_leakage_history(runs, ax=ax, ylabel="probe AUC for sex")
    assert out is ax
    assert len(ax.get_lines()) == 2
    assert ax.get_ylabel() == "probe AUC for sex"
    _, labels = ax.get_legend_handles_labels()
    assert labels == ["adv", "cfair"]


def test_list_of_histories_skips_unrecorded_epochs():
    ax = plot_leakage_history(
        [make_history([0.9, 0.8, 0.7, 0.6], every=2), make_history([0.5, 0.4])]
    )
    lines = ax.get_lines()
    assert len(lines) == 2
    np.testing.assert_array_equal(lines[0].get_xdata(), [2, 4])
    np.testing.assert_allclose(lines[0].get_ydata(), [0.8, 0.6])


def test_custom_name_gives_its_label():
    history = History()
    history.new_epoch()
    history.record("bacc", 0.6)
    ax = plot_leakage_history(history, name="bacc")
    assert ax.get_ylabel() == "bacc"
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [1])


def test_errors():
    with pytest.raises(ValueError, match="recorded no 'auc'"):
        plot_leakage_history(make_history([0.5]), name="auc")
    with pytest.raises(ValueError, match="labels has 1 entries"):
        plot_leakage_history([make_history([0.5]), make_history([0.6])], labels=["a"])
    with pytest.raises(TypeError, match="histories"):
        plot_leakage_history(3.0)
