"""Representation map: 2-D projections of representations coloured by group."""

from __future__ import annotations

import numbers
from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.utils import check_random_state

from ..utils import get_representation, has_representation, sensitive_frame
from ..utils._sklearn_compat import Interval, ordered_options, validate_params

__all__ = ["plot_representation_map"]

#: More distinct values than this and a numeric ``s`` is coloured as continuous.
_MAX_GROUPS = 10


def _representation_of(model, X):
    if isinstance(model, np.ndarray | pd.DataFrame | list):
        return model
    if has_representation(model):
        return get_representation(model, X)
    if hasattr(model, "transform"):
        return model.transform(X)
    raise TypeError(
        "models must hold fitted FRL models (or Pipelines with one), "
        f"transformers or representation arrays; got {type(model).__name__}."
    )


def _group_labels(sensitive_features, n: int) -> np.ndarray:
    frame = sensitive_frame(sensitive_features)
    if len(frame) != n:
        raise ValueError(
            f"sensitive_features has {len(frame)} rows but X has {n}; they must "
            "describe the same samples."
        )
    if frame.shape[1] == 1:
        return frame.iloc[:, 0].to_numpy()
    # Several attributes: intersectional groups, as fairlearn forms them.
    return frame.astype(str).agg(", ".join, axis=1).to_numpy()


def _project(Z: np.ndarray, method: str, seed: int) -> np.ndarray:
    if Z.shape[1] == 1:
        return np.column_stack([Z[:, 0], np.zeros(len(Z))])
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(Z)
    perplexity = float(min(30, max(2, (len(Z) - 1) // 3)))
    return TSNE(
        n_components=2, init="pca", perplexity=perplexity, random_state=seed
    ).fit_transform(Z)


@validate_params(
    {
        "X": ["array-like", None],
        "sensitive_features": ["array-like"],
        "method": [ordered_options(["pca", "tsne"])],
        "max_samples": [Interval(numbers.Integral, 2, None, closed="left"), None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def plot_representation_map(
    models,
    X,
    sensitive_features,
    *,
    method: str = "pca",
    max_samples: int | None = 2000,
    random_state=None,
    axes=None,
):
    """Draw 2-D maps of representations coloured by sensitive group.

    One panel per model, side by side (e.g. the clean and the poisoned
    model): each model's representation ``Z`` of the same rows of ``X`` is
    projected to 2-D by PCA or t-SNE (fitted per panel, since every model
    has its own space) and the points are coloured by ``s``. Groups that
    form separate clouds are groups the representation tells apart.

    .. versionadded:: 0.1

    Parameters
    ----------
    models : estimator, array-like or dict of str to either
        Fitted FRL models, Pipelines holding one (the representation is the
        output of their last FRL step, as for
        :func:`~skfrl.metrics.make_leakage_scorer`), or representations
        ``Z`` of ``X`` given directly.
    X : DataFrame or array-like of shape (n_samples, n_features)
        Data to represent (ignored for arrays given as ``models``).
    sensitive_features : array-like of shape (n_samples,) or \
(n_samples, n_attributes)
        Colours: groups (several attributes are crossed), or a continuous
        colour scale for a numeric attribute with many values.
    method : {"pca", "tsne"}, default="pca"
        Projection; t-SNE is slower and its distances are only local.
    max_samples : int or None, default=2000
        Rows drawn at random (the same in every panel); all when None.
    random_state : int, RandomState instance or None, default=None
        Seed of the subsample and of the projection.
    axes : array-like of matplotlib Axes, default=None
        One Axes per model; a new figure when None.

    Returns
    -------
    fig : matplotlib Figure
        The figure holding the panels.

    Examples
    --------
    >>> import numpy as np
    >>> from skfrl.plotting import plot_representation_map
    >>> rng = np.random.default_rng(0)
    >>> s = rng.integers(0, 2, size=100)
    >>> Z_clean = rng.normal(size=(100, 4))
    >>> Z_poisoned = Z_clean + 2 * s[:, None]
    >>> fig = plot_representation_map(
    ...     {"clean": Z_clean, "poisoned": Z_poisoned}, None, s, random_state=0)
    >>> [ax.get_title() for ax in fig.axes]
    ['clean', 'poisoned']
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    # One model or a dict of them: no constraint describes the entries.
    if not isinstance(models, Mapping):
        models = {"representation": models}
    if not models:
        raise ValueError("models must hold at least one model or representation.")
    reps = {
        name: np.asarray(_representation_of(model, X), dtype=np.float64)
        for name, model in models.items()
    }
    n = {len(Z) for Z in reps.values()}
    if len(n) != 1:
        raise ValueError(
            f"The representations have different numbers of rows {sorted(n)}."
        )
    n = n.pop()
    for name, Z in reps.items():
        if Z.ndim != 2:
            raise ValueError(f"The representation of {name!r} must be 2-D.")
    groups = _group_labels(sensitive_features, n)
    rng = check_random_state(random_state)
    rows = np.arange(n)
    if max_samples is not None and n > max_samples:
        rows = np.sort(rng.choice(n, size=max_samples, replace=False))
    seed = int(rng.randint(np.iinfo(np.int32).max))
    groups = groups[rows]

    created = axes is None
    if created:
        # Shared axes: the spread of the groups compares across panels.
        fig, axes = plt.subplots(
            1,
            len(reps),
            figsize=(4.5 * len(reps), 4.2),
            squeeze=False,
            sharex=True,
            sharey=True,
        )
        axes = axes[0]
    else:
        axes = np.atleast_1d(np.asarray(axes, dtype=object)).ravel()
        if len(axes) != len(reps):
            raise ValueError(f"axes must hold {len(reps)} Axes, got {len(axes)}.")
        fig = axes[0].figure
    uniques = pd.unique(groups)
    continuous = len(uniques) > _MAX_GROUPS and pd.api.types.is_numeric_dtype(
        pd.Series(groups)
    )
    label = "PC" if method == "pca" else "t-SNE"
    order = {g: i for i, g in enumerate(sorted(uniques, key=str))}
    cycle = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0", "C1"])
    palette = [cycle[i % len(cycle)] for i in range(len(order))]
    for ax, (name, Z) in zip(axes, reps.items(), strict=True):
        P = _project(Z[rows], method, seed)
        if continuous:
            points = ax.scatter(P[:, 0], P[:, 1], c=groups, s=8, cmap="viridis")
            fig.colorbar(points, ax=ax, label="sensitive feature")
        else:
            # One scatter in a random order, so no group is drawn over the
            # others just because it comes last.
            colors = np.array(
                [palette[order[g]] for g in groups], dtype=object
            ).tolist()
            draw = np.random.default_rng(seed).permutation(len(P))
            ax.scatter(
                P[draw, 0],
                P[draw, 1],
                s=8,
                alpha=0.6,
                c=[colors[i] for i in draw],
            )
        ax.set_title(name)
        ax.set_xlabel(f"{label} 1")
        ax.set_ylabel(f"{label} 2")
    if not continuous:
        handles = [
            Line2D([], [], ls="", marker="o", color=palette[order[g]], label=str(g))
            for g in sorted(uniques, key=str)
        ]
        axes[0].legend(handles=handles, title="group")
    if created:
        fig.tight_layout()
    return fig
