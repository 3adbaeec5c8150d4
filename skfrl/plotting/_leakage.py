"""Leakage bars: how much each model's representation leaks ``s``."""

from __future__ import annotations

import numbers
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..utils._sklearn_compat import validate_params

__all__ = ["plot_leakage_bars"]


def _mean_sd(value) -> tuple[float, float]:
    values = np.atleast_1d(np.asarray(value, dtype=np.float64)).ravel()
    values = values[~np.isnan(values)]
    if values.size == 0:
        return np.nan, 0.0
    sd = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return float(values.mean()), sd


@validate_params(
    {
        "leakage": [Mapping, pd.Series, pd.DataFrame],
        "reference": [numbers.Real, Mapping, None],
        "ylabel": [str],
        "annotate": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def plot_leakage_bars(
    leakage,
    *,
    ax=None,
    reference=None,
    ylabel: str = "leakage",
    annotate: bool = True,
):
    """Bar chart of leakage per model, with spread over folds or seeds.

    .. versionadded:: 0.1

    Parameters
    ----------
    leakage : dict, Series or DataFrame
        A mapping or Series ``{model: value}`` draws one bar per model; a
        value may be a list of values (e.g. one per fold), drawn as their
        mean with a one-standard-deviation error bar. A DataFrame (index:
        models, columns: e.g. attacks or metrics) draws grouped bars, one
        colour per column; its cells may be lists too.
    ax : matplotlib Axes, default=None
        Axes to draw on; a new figure when None.
    reference : float or dict of str to float, default=None
        Horizontal reference lines, e.g. ``{"chance": 0.5, "raw features":
        0.93}`` for a probe AUC; a float is labelled "reference".
    ylabel : str, default="leakage"
        Label of the y axis, e.g. ``"probe ROC AUC for s"``.
    annotate : bool, default=True
        Write each bar's mean above it.

    Returns
    -------
    ax : matplotlib Axes
        The axes drawn on.

    Examples
    --------
    >>> from skfrl.plotting import plot_leakage_bars
    >>> ax = plot_leakage_bars(
    ...     {"clean": [0.61, 0.63, 0.62], "eng 10%": [0.70, 0.74, 0.72]},
    ...     reference={"chance": 0.5}, ylabel="probe ROC AUC for sex")
    >>> [tick.get_text() for tick in ax.get_xticklabels()]
    ['clean', 'eng 10%']
    """
    import matplotlib.pyplot as plt

    if isinstance(leakage, pd.DataFrame):
        frame = leakage
    else:
        series = pd.Series(dict(leakage.items()), dtype=object)
        frame = series.to_frame(name=None)
    if frame.empty:
        raise ValueError("leakage holds no values to draw.")
    if reference is not None and not isinstance(reference, Mapping):
        reference = {"reference": float(reference)}
    if ax is None:
        width = max(4.0, 1.1 * len(frame) * max(1, frame.shape[1] / 2) + 1.5)
        _, ax = plt.subplots(figsize=(min(width, 12.0), 4))
    n_models, n_series = frame.shape
    x = np.arange(n_models)
    bar_width = 0.8 / n_series
    for j, column in enumerate(frame.columns):
        stats = [_mean_sd(v) for v in frame[column]]
        means = np.array([m for m, _ in stats])
        sds = np.array([s for _, s in stats])
        offset = (j - (n_series - 1) / 2) * bar_width
        bars = ax.bar(
            x + offset,
            means,
            bar_width,
            yerr=sds if np.any(sds > 0) else None,
            capsize=3,
            label=None if column is None else str(column),
        )
        if annotate:
            ax.bar_label(bars, labels=[f"{m:.3g}" for m in means], padding=2)
    tops = [m + s for column in frame.columns for m, s in map(_mean_sd, frame[column])]
    tops += list((reference or {}).values())
    top = np.nanmax(tops) if len(tops) else 1.0
    if np.isfinite(top) and top > 0:
        # Head room for the bar labels and the legend above the bars.
        ax.set_ylim(0, top * 1.25)
    for k, (name, value) in enumerate((reference or {}).items()):
        ax.axhline(value, color="0.3", ls=[":", "--", "-."][k % 3], lw=1, label=name)
    ax.set_xticks(x, [str(i) for i in frame.index])
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    if n_series > 1 or reference:
        ax.legend(loc="upper center", ncol=min(4, n_series + len(reference or {})))
    return ax
