"""A plain-words verdict from the intervals of :func:`summarize`."""

from __future__ import annotations

import numbers
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..utils._sklearn_compat import Interval, validate_params

__all__ = ["robustness_verdict"]


def _budget_text(budget: float) -> str:
    budget = float(budget)
    if budget < 1:
        return f"{100 * budget:g} %"
    return f"{int(budget)} poison{'s' if budget != 1 else ''}"


@validate_params(
    {
        "summary": [pd.DataFrame],
        "harm": [Mapping],
        "labels": [Mapping, None],
        "reference": [str],
        "confidence": [Interval(numbers.Real, 0, 1, closed="neither")],
        "precision": [Interval(numbers.Integral, 0, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def robustness_verdict(
    summary: pd.DataFrame,
    *,
    harm: Mapping[str, int],
    labels: Mapping[str, str] | None = None,
    reference: str = "clean",
    confidence: float = 0.95,
    precision: int = 3,
) -> list[str]:
    """Say in plain words which attacks changed which metric beyond noise.

    Reads the paired changes and their intervals from :func:`summarize` and
    returns one sentence per (attack, budget) with a change whose interval
    excludes 0, harmful changes first, then one sentence on what this
    evaluation could have detected: the median half-width of the intervals
    of each metric (a change smaller than that would not have been called
    significant), and how to tighten it.

    .. versionadded:: 0.1

    Parameters
    ----------
    summary : DataFrame
        Output of :func:`summarize` (columns ``attack``, ``budget``,
        ``metric``, ``change``, ``ci_low``, ``ci_high``, ``significant``).
    harm : dict of str to {1, -1}
        The metrics to judge, with the direction that hurts: ``1`` when an
        increase is harmful (leakage, a fairness gap), ``-1`` when a
        decrease is (accuracy). Other metrics are ignored.
    labels : dict of str to str or None, default=None
        Readable names of the metrics (e.g. ``"probe ROC AUC for sex"``);
        the metric's own name otherwise.
    reference : str, default="clean"
        Name of the unattacked reference in ``summary``.
    confidence : float, default=0.95
        The confidence level ``summary`` was computed with (for the text).
    precision : int, default=3
        Decimals of the numbers.

    Returns
    -------
    sentences : list of str
        Markdown sentences (bold attack names), harmful findings first.

    Examples
    --------
    >>> import pandas as pd
    >>> from skfrl.evaluation import robustness_verdict
    >>> summary = pd.DataFrame({
    ...     "attack": ["clean", "eng"], "budget": [0.0, 0.05],
    ...     "metric": ["auc", "auc"], "change": [0.0, 0.06],
    ...     "ci_low": [0.0, 0.02], "ci_high": [0.0, 0.10],
    ...     "significant": [False, True]})
    >>> import textwrap
    >>> for line in robustness_verdict(summary, harm={"auc": 1}):
    ...     print(textwrap.fill(line, 70))
    **eng at 5 %** raised auc by +0.060 (95 % interval +0.020 to +0.100):
    beyond noise, in the harmful direction.
    Smallest change this evaluation could detect (median half-width of
    the 95 % intervals): auc ±0.040. More repeats or more rows narrow the
    intervals.
    """
    # The frame's columns and the directions in harm: no constraint sees them.
    needed = {"attack", "budget", "metric", "change", "ci_low", "ci_high"}
    missing = needed - set(summary.columns)
    if missing:
        raise ValueError(
            f"summary lacks the columns {sorted(missing)}; pass the output of "
            "skfrl.evaluation.summarize."
        )
    bad = {m: d for m, d in harm.items() if d not in (1, -1)}
    if bad:
        raise ValueError(f"harm: directions must be 1 or -1, got {bad}.")
    labels = dict(labels or {})
    level = f"{100 * confidence:g} %"
    f = f"{{:+.{precision}f}}"
    rows = summary[
        (summary["attack"] != reference) & summary["metric"].isin(list(harm))
    ]
    harmful, helpful = [], []
    for (attack, budget), group in rows.groupby(["attack", "budget"], sort=False):
        found = {True: [], False: []}
        for _, row in group.iterrows():
            low, high = row["ci_low"], row["ci_high"]
            if not (np.isfinite(low) and np.isfinite(high)) or low <= 0 <= high:
                continue
            direction = 1 if row["change"] > 0 else -1
            verb = "raised" if direction > 0 else "lowered"
            name = labels.get(row["metric"], row["metric"])
            text = (
                f"{verb} {name} by {f.format(row['change'])} ({level} interval "
                f"{f.format(low)} to {f.format(high)})"
            )
            found[direction == harm[row["metric"]]].append(text)
        head = f"**{attack} at {_budget_text(budget)}**"
        if found[True]:
            harmful.append(
                f"{head} " + "; ".join(found[True]) + ": beyond noise, in the "
                "harmful direction."
            )
        if found[False]:
            helpful.append(
                f"{head} " + "; ".join(found[False]) + ": beyond noise, but in "
                "the direction opposite to the attack's purpose."
            )
    sentences = harmful + helpful
    if not sentences:
        sentences.append(
            "No attack changed any judged metric beyond noise: every "
            f"{level} interval of the change against the clean model "
            "contains 0."
        )
    width = (rows["ci_high"] - rows["ci_low"]) / 2
    detect = width.groupby(rows["metric"], sort=False).median().dropna()
    if len(detect):
        parts = [f"{labels.get(m, m)} ±{w:.{precision}f}" for m, w in detect.items()]
        sentences.append(
            "Smallest change this evaluation could detect (median half-width of "
            f"the {level} intervals): "
            + ", ".join(parts)
            + ". More repeats or more rows narrow the intervals."
        )
    return sentences
