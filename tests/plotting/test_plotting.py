"""The figures, drawn headless (the Agg backend is set in conftest.py)."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from sklearn.decomposition import PCA

from skfrl.datasets import make_biased_classification
from skfrl.models import AdversarialFairRepresentation
from skfrl.plotting import (
    plot_leakage_bars,
    plot_representation_map,
    plot_robustness_curve,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def results():
    rows = []
    for fold in range(3):
        rows.append(("clean", 0.0, fold, "auc", 0.6 + 0.01 * fold))
        for attack, slope in [("eng", 1.0), ("random", 0.1)]:
            for budget in (0.05, 0.1):
                rows.append((attack, budget, fold, "auc", 0.6 + slope * budget))
    return pd.DataFrame(rows, columns=["attack", "budget", "fold", "metric", "value"])


def test_robustness_curve_starts_every_attack_at_clean(results):
    ax = plot_robustness_curve(results, "auc", sign=-1, ylabel="neg auc")
    assert isinstance(ax, Axes)
    handles, labels = ax.get_legend_handles_labels()
    assert labels == ["eng", "random"]
    line = handles[0].lines[0]
    x, y = line.get_data()
    assert len(x) == 3 and x[0] < 0.01  # clean (dodged a little) then 2 budgets
    np.testing.assert_allclose(y, [-0.61, -0.65, -0.7])
    assert ax.get_ylabel() == "neg auc"
    assert "%" in ax.xaxis.get_major_formatter()(0.05, 0)


def test_robustness_curve_on_given_axes_and_attack_subset(results):
    fig, ax = plt.subplots()
    out = plot_robustness_curve(results, "auc", attacks=["random"], ax=ax, dodge=0)
    assert out is ax
    assert ax.get_legend_handles_labels()[1] == ["random"]
    with pytest.raises(ValueError, match="metric"):
        plot_robustness_curve(results, "accuracy")
    with pytest.raises(ValueError, match="attacks"):
        plot_robustness_curve(results, "auc", attacks=["nraa"])
    with pytest.raises(TypeError, match="results"):
        plot_robustness_curve(np.zeros(3), "auc")


def test_representation_map_clean_vs_poisoned_side_by_side():
    X, y, s = make_biased_classification(n_samples=150, random_state=0)
    frl = AdversarialFairRepresentation(max_epochs=2, random_state=0).fit(
        X, y, sensitive_features=s
    )
    fig = plot_representation_map(
        {"clean": frl, "poisoned": X[:, :4], "pca": PCA(3).fit(X)},
        X,
        s,
        max_samples=100,
        random_state=0,
    )
    assert isinstance(fig, Figure)
    assert [ax.get_title() for ax in fig.axes] == ["clean", "poisoned", "pca"]
    assert len(fig.axes[0].collections[0].get_offsets()) == 100
    assert fig.axes[0].get_legend() is not None
    assert fig.axes[0].get_xlabel() == "PC 1"


def test_representation_map_tsne_continuous_and_errors():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(60, 3))
    age = rng.uniform(20, 70, size=60)
    fig = plot_representation_map(Z, None, age, method="tsne", random_state=0)
    assert fig.axes[0].get_xlabel() == "t-SNE 1"
    assert len(fig.axes) == 2  # the panel and its colour bar
    with pytest.raises(ValueError, match="method"):
        plot_representation_map(Z, None, age, method="umap")
    with pytest.raises(ValueError, match="rows"):
        plot_representation_map(Z, None, age[:10])
    with pytest.raises(TypeError, match="models"):
        plot_representation_map({"x": object()}, None, age)


def test_leakage_bars_single_and_grouped():
    ax = plot_leakage_bars(
        {"clean": [0.6, 0.62], "eng 10%": 0.7}, reference={"chance": 0.5}
    )
    assert isinstance(ax, Axes)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["clean", "eng 10%"]
    heights = [p.get_height() for p in ax.patches]
    np.testing.assert_allclose(heights, [0.61, 0.7])
    frame = pd.DataFrame(
        {"clean": [0.6, 0.7], "eng": [0.65, 0.8]}, index=["cfair", "adversarial"]
    )
    ax = plot_leakage_bars(frame, reference=0.5, ylabel="AUC")
    assert len(ax.patches) == 4
    assert ax.get_legend_handles_labels()[1] == ["reference", "clean", "eng"]
    with pytest.raises(TypeError, match="leakage"):
        plot_leakage_bars([0.1, 0.2])
    with pytest.raises(ValueError, match="no values"):
        plot_leakage_bars({})
