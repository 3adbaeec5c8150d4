"""Robustness curve: a metric against the poisoning budget, per attack."""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from ..evaluation import CLEAN, summarize
from ..utils._sklearn_compat import validate_params

__all__ = ["plot_robustness_curve"]


@validate_params(
    {
        "results": [pd.DataFrame],
        "metric": [str],
        "attacks": ["array-like", None],
        "reference": [str],
        "sign": [numbers.Real],
        "ylabel": [str, None],
        "dodge": [numbers.Real],
    },
    prefer_skip_nested_validation=True,
)
def plot_robustness_curve(
    results: pd.DataFrame,
    metric: str,
    *,
    attacks=None,
    ax=None,
    reference: str = CLEAN,
    sign: float = 1.0,
    ylabel: str | None = None,
    dodge: float = 0.01,
):
    """Plot a metric against the poisoning budget, one line per attack.

    Each point is the mean over folds, with an error bar of one standard
    deviation over folds. Every attack's line starts at the clean model
    (budget 0, the ``reference`` rows), which is also drawn as a dotted
    horizontal line.

    .. versionadded:: 0.1

    Parameters
    ----------
    results : DataFrame
        Tidy output of :func:`skfrl.evaluation.cross_validate_robustness`.
    metric : str
        Value of the ``metric`` column to plot.
    attacks : list of str, default=None
        Attacks to draw (all when None), in this order.
    ax : matplotlib Axes, default=None
        Axes to draw on; a new figure when None.
    reference : str, default="clean"
        Attack name of the unattacked rows.
    sign : float, default=1.0
        Factor applied to the values, e.g. ``-1`` to show the raw leakage of
        a skfrl leakage scorer (whose scores are negated, greater is
        better).
    ylabel : str, default=None
        Label of the y axis (``metric`` when None).
    dodge : float, default=0.01
        Sideways shift between the attacks' lines, as a share of the budget
        range, so that their error bars stay visible; 0 for none.

    Returns
    -------
    ax : matplotlib Axes
        The axes drawn on.

    Examples
    --------
    >>> import pandas as pd
    >>> from skfrl.plotting import plot_robustness_curve
    >>> results = pd.DataFrame({
    ...     "attack": ["clean"] * 2 + ["eng"] * 4,
    ...     "budget": [0.0, 0.0, 0.05, 0.05, 0.1, 0.1],
    ...     "fold": [0, 1, 0, 1, 0, 1],
    ...     "metric": ["auc"] * 6,
    ...     "value": [0.60, 0.62, 0.65, 0.66, 0.70, 0.73]})
    >>> ax = plot_robustness_curve(results, "auc")
    >>> ax.get_legend_handles_labels()[1]
    ['eng']
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import PercentFormatter

    # The frame's columns: no constraint describes them.
    if "metric" not in results.columns:
        raise TypeError(
            "results must be the DataFrame returned by cross_validate_robustness."
        )
    rows = results[results["metric"] == metric]
    if rows.empty:
        raise ValueError(
            f"metric={metric!r} is not in results; its metrics are "
            f"{list(pd.unique(results['metric']))}."
        )
    summary = summarize(rows, reference=reference)
    summary[["mean", "sd"]] = summary[["mean", "sd"]] * sign
    summary["sd"] = summary["sd"].abs().fillna(0.0)
    names = [a for a in pd.unique(summary["attack"]) if a != reference]
    if attacks is not None:
        unknown = sorted(set(attacks) - set(names))
        if unknown:
            raise ValueError(
                f"attacks {unknown} are not in results; available: {names}."
            )
        names = list(attacks)
    clean = summary[summary["attack"] == reference]
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    if not clean.empty:
        ax.axhline(clean["mean"].iloc[0], color="0.5", ls=":", lw=1)
    budgets = summary["budget"].to_numpy(float)
    # Lines are shifted sideways a little so that error bars do not hide
    # each other.
    step = dodge * (budgets.max() - budgets.min() if len(budgets) else 0.0)
    for i, name in enumerate(names):
        part = summary[summary["attack"] == name].sort_values("budget")
        part = pd.concat([clean, part]) if not clean.empty else part
        shift = (i - (len(names) - 1) / 2) * step
        ax.errorbar(
            part["budget"].to_numpy(float) + shift,
            part["mean"].to_numpy(float),
            yerr=part["sd"].to_numpy(float),
            marker="o",
            capsize=3,
            label=name,
        )
    if not names and not clean.empty:
        ax.errorbar([0.0], clean["mean"], yerr=clean["sd"], marker="o", label=reference)
    if len(budgets) and np.all(budgets < 1):
        ax.xaxis.set_major_formatter(PercentFormatter(xmax=1))
        ax.set_xlabel("poisoning budget (share of the training part)")
    else:
        ax.set_xlabel("poisoning budget (number of poisons)")
    ax.set_ylabel(ylabel or metric)
    ax.grid(alpha=0.3)
    if names:
        ax.legend(title="attack", loc="best")
    return ax
