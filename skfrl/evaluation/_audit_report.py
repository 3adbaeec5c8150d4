"""The report folder of an audit: Markdown, HTML, CSV files and settings.

:func:`write_audit_report` turns the output of :func:`run_audit` into the
folder that ``skfrl audit`` writes: ``report.md`` and ``report.html``
(verdict, tables, figures, per-group metrics), ``results.csv``,
``summary.csv`` and ``settings.json`` (options, data, versions, time).
"""

from __future__ import annotations

import json
import numbers
import os
import platform
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from ..utils._sklearn_compat import Interval, validate_params
from ._groups import group_metric_frame
from ._registry import (
    ATTACKS,
    DEFENSES,
    DOWNSTREAM,
    METRICS,
    PROTOCOLS,
    metric_harm,
    metric_labels,
)
from ._report import Report, escape_markdown
from ._robustness import summarize
from ._verdict import _budget_text, robustness_verdict

__all__ = ["summary_table", "verdict", "write_audit_report"]


def _raw_feature_reference(X, y, s, test_indices, seed: int) -> dict:
    """Probe AUC for s and accuracy from the preprocessed raw features.

    With several attributes, the AUC of the most leaking one.
    """
    from sklearn.linear_model import LogisticRegression

    from ..datasets import make_preprocessor
    from ..metrics import representation_leakage

    aucs, accs = [], []
    for test in test_indices:
        train = np.setdiff1d(np.arange(len(X)), test)
        pre = make_preprocessor(X).fit(X.iloc[train])
        R_train, R_test = pre.transform(X.iloc[train]), pre.transform(X.iloc[test])
        clf = LogisticRegression(max_iter=1000).fit(R_train, y.iloc[train])
        accs.append(clf.score(R_test, y.iloc[test]))
        # Several attributes: the most leaking one, as the leakage scorers do.
        s_test = s.iloc[test]
        columns = [s_test[c] for c in s_test] if s_test.ndim == 2 else [s_test]
        aucs.append(
            max(
                representation_leakage(R_test, col, cv=3, random_state=seed)
                for col in columns
            )
        )
    return {"probe_auc_s": float(np.mean(aucs)), "accuracy": float(np.mean(accs))}


def _versions() -> dict:
    """Versions of Python and the libraries the results depend on."""
    import fairlearn
    import joblib
    import matplotlib
    import sklearn
    import skorch
    import torch

    import skfrl

    return {
        "skfrl": skfrl.__version__,
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "torch": torch.__version__,
        "skorch": skorch.__version__,
        "fairlearn": fairlearn.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "joblib": joblib.__version__,
        "matplotlib": matplotlib.__version__,
    }


def summary_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Wide table: one row per (attack, budget), 'mean ± sd (change)' cells."""
    rows = []
    for (attack, budget), part in summary.groupby(["attack", "budget"], sort=False):
        row = {"attack": attack, "budget": _budget_text(budget)}
        for rec in part.itertuples():
            cell = f"{rec.mean:.3f} ± {0 if np.isnan(rec.sd) else rec.sd:.3f}"
            if attack != "clean":
                cell += f" ({rec.change:+.3f})"
            row[rec.metric] = cell
        rows.append(row)
    return pd.DataFrame(rows)


def verdict(
    summary: pd.DataFrame, sensitive: str, confidence: float = 0.95
) -> list[str]:
    """The audit's verdict sentences, for the report and the console."""
    present = set(summary["metric"])
    return robustness_verdict(
        summary,
        harm={m: d for m, d in metric_harm().items() if m in present},
        labels=metric_labels(sensitive),
        confidence=confidence,
    )


def _description(table, name: str, default: str = "") -> str:
    """The description of ``name`` in a registry ``table``, else ``default``."""
    return table[name].description if name in table else default


def _code(text) -> str:
    """Text for a Markdown code span: verbatim, backticks replaced."""
    return str(text).replace("`", "'")


def _change_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Wide table of paired changes: 'change [low, high]', * when beyond noise."""
    rows = []
    attacked = summary[summary["attack"] != "clean"]
    for (attack, budget), part in attacked.groupby(["attack", "budget"], sort=False):
        row = {"attack": attack, "budget": _budget_text(budget)}
        for rec in part.itertuples():
            if np.isnan(rec.ci_low):
                cell = f"{rec.change:+.3f}"
            else:
                cell = f"{rec.change:+.3f} [{rec.ci_low:+.3f}, {rec.ci_high:+.3f}]"
            row[rec.metric] = cell + (" *" if rec.significant else "")
        rows.append(row)
    return pd.DataFrame(rows)


def _group_tables(fitted, models_of, X, y, s):
    """Per-group metrics and gaps over all folds (mean ± sd)."""
    by_group, gaps = [], []
    for fold, test in enumerate(fitted.test_indices):
        frame = group_metric_frame(
            models_of(fold), X.iloc[test], y.iloc[test], sensitive_features=s.iloc[test]
        )
        by_group.append(frame.by_group)
        diff = frame.difference().drop(columns="count", errors="ignore")
        ratio = frame.ratio().drop(columns="count", errors="ignore")
        gaps.append(pd.concat({"difference": diff, "ratio": ratio}, axis=1))

    def mean_sd(frames, keys):
        # The folds' rows share their index: grouping by it averages the folds.
        grouped = pd.concat(frames).groupby(level=keys, sort=False)
        mean, sd = grouped.mean(), grouped.std().fillna(0.0)
        return mean, sd

    mean, sd = mean_sd(by_group, list(range(by_group[0].index.nlevels)))
    table = mean.copy().astype(object)
    for col in mean.columns:
        if col == "count":
            table[col] = mean[col].round().astype(int)
        else:
            table[col] = [
                f"{m:.3f} ± {d:.3f}" for m, d in zip(mean[col], sd[col], strict=True)
            ]
    gap_mean, gap_sd = mean_sd(gaps, [0])
    gap_table = pd.DataFrame(index=gap_mean.index)
    for col in gap_mean.columns:
        gap_table[" ".join(col[::-1])] = [
            f"{m:.3f} ± {d:.3f}"
            for m, d in zip(gap_mean[col], gap_sd[col], strict=True)
        ]
    ratio_col = ("ratio", "selection_rate")
    if ratio_col in gap_mean.columns:
        gap_table["four-fifths rule"] = np.where(
            gap_mean[ratio_col] < 0.8, "fails", "passes"
        )
    return table.reset_index(), gap_table.reset_index()


@validate_params(
    {
        "results": [pd.DataFrame],
        "fitted": [Mapping],
        "context": [Mapping],
        "out": [str, os.PathLike],
        "elapsed": [Interval(numbers.Real, 0, None, closed="left")],
        "argv": [list, None],
    },
    prefer_skip_nested_validation=True,
)
def write_audit_report(
    results: pd.DataFrame,
    fitted,
    context: dict,
    out: str | Path,
    *,
    elapsed: float,
    argv: list[str] | None = None,
) -> Path:
    """Write the report folder of an audit; return the path of ``report.md``.

    The folder that ``skfrl audit`` writes, from the output of
    :func:`run_audit`: ``report.md`` and ``report.html`` (the threat model,
    a verdict from the intervals of :func:`summarize`, tables of every
    metric and of its change against the clean model, figures and
    per-group metrics of fairlearn's ``MetricFrame``), ``results.csv``,
    ``summary.csv`` and ``settings.json`` (options, data description,
    library versions, time). The figures are drawn with matplotlib's
    current backend and closed; the ``skfrl`` command selects ``Agg``.

    .. versionadded:: 0.1

    Parameters
    ----------
    results : DataFrame
        Tidy results, the first output of :func:`run_audit`.
    fitted : Bunch
        Fitted estimators and test indices, its second output.
    context : dict
        Data and settings, its third output.
    out : str or Path
        Report folder, created if missing; files in it are overwritten.
    elapsed : float
        Seconds the evaluation took (reported and recorded).
    argv : list of str or None, default=None
        Command-line arguments, recorded in ``settings.json``.

    Returns
    -------
    path : Path
        The Markdown report, ``out / "report.md"``.

    See Also
    --------
    run_audit : Run the audit whose report this writes.

    Examples
    --------
    >>> import tempfile
    >>> import time
    >>> from pathlib import Path
    >>> from skfrl.evaluation import run_audit, write_audit_report
    >>> start = time.perf_counter()
    >>> audit = run_audit(
    ...     "german", sensitive="sex", attacks="random", budgets="0,0.1", cv=2,
    ...     max_samples=200, max_epochs=1, n_jobs=1, repeats=1)
    >>> elapsed = time.perf_counter() - start
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = write_audit_report(*audit, Path(folder) / "report", elapsed=elapsed)
    ...     print(path.name, sorted(p.suffix for p in path.parent.iterdir()))
    report.md ['.csv', '.csv', '.html', '.json', '.md', '.png', '.png', '.png']
    """
    import matplotlib.pyplot as plt

    from ..plotting import (
        plot_leakage_bars,
        plot_representation_map,
        plot_robustness_curve,
    )

    folder = Path(out)
    settings, info = context["settings"], context["data"]
    X, y, s = context["X"], context["y"], context["s"]
    summary = summarize(results)
    attacks = [a for a in pd.unique(results["attack"]) if a != "clean"]
    top = max(settings["budgets"], key=float)
    raw = _raw_feature_reference(X, y, s, fitted.test_indices, settings["random_state"])

    sensitive_name = str(info["sensitive"])
    labels = metric_labels(sensitive_name)
    present = [m for m in pd.unique(results["metric"]) if m in labels]
    confidence = 0.95
    n_splits = results["fold"].nunique()
    repeats = int(settings.get("repeats", 1))
    protocol = settings.get("protocol", "retrain")
    esc = escape_markdown

    report = Report(f"skfrl audit: {settings['model']} on {Path(info['source']).name}")
    report.paragraph(
        f"**Threat model: `{protocol}`**: {PROTOCOLS[protocol].description}. "
        f"Sensitive attribute: `{_code(sensitive_name)}`; positive label: "
        f"`{_code(str(info.get('positive_label', '?')))}`."
    )
    report.heading("Verdict")
    report.paragraph(
        "Each attack's change against the clean model, paired by fold over "
        f"{n_splits} folds ({settings['cv']}-fold cross-validation x {repeats} "
        f"repeat{'s' if repeats != 1 else ''}), with "
        f"{100 * confidence:g} % intervals (corrected resampled t of Nadeau "
        "and Bengio, which accounts for folds sharing training rows). "
        "Beyond noise = the interval excludes 0."
    )
    report.bullets(verdict(summary, sensitive_name, confidence=confidence))
    if protocol == "retrain":
        report.paragraph(
            "Liu et al. (2024) assume the victim is well trained before the "
            "attack; `--protocol fine-tune` audits that setting. "
            "Tighten the intervals with `--repeats` or `--max-samples`."
        )
    report.heading("Setting")
    report.paragraph(
        f"How well does a **{settings['model']}** fair representation of "
        f"`{_code(info['source'])}` keep the sensitive attribute "
        f"`{_code(sensitive_name)}` out of its representation when part of its "
        f"training data is poisoned? In each fold the attacks poison the "
        "training part only, the model (preprocessor, FRL model, downstream "
        "classifier) is trained on it and scored on the clean test part. "
        "Budget 0 is the unattacked model."
    )
    dropped = info.get("rows_dropped") or {}
    dropped_text = (
        "; rows dropped: "
        + ", ".join(f"{n} ({esc(why)})" for why, n in dropped.items() if n)
        if any(dropped.values())
        else "; no rows dropped for missing values"
    )
    report.bullets(
        [
            f"data: {info['n_rows_used']} rows used of {info['n_rows_available']}"
            + (
                " (stratified subsample by target and group)"
                if info["n_rows_used"] < info["n_rows_available"]
                else ""
            )
            + dropped_text
            + f", {info['n_features']} feature columns, groups "
            + ", ".join(f"{esc(str(k))}: {v}" for k, v in info["groups"].items()),
            "positive label of the target: "
            f"`{_code(str(info.get('positive_label', '?')))}` (selection rates "
            "and true/false positive rates refer to it)",
            "attacks: "
            + "; ".join(f"`{a}`: {_description(ATTACKS, a, a)}" for a in attacks),
            "budgets: "
            + ", ".join(_budget_text(b) for b in settings["budgets"])
            + " of the training part",
            f"model: `{settings['model']}`, {settings['max_epochs']} epochs, "
            f"{settings['n_components']}-dimensional representation, seed "
            f"{settings['random_state']}",
            "downstream classifier: "
            + _description(DOWNSTREAM, settings.get("downstream", "logistic")),
            f"defense: `{settings.get('defense', 'none')}`: "
            + _description(DEFENSES, settings.get("defense", "none")),
            f"run time: {elapsed:.0f} s",
        ]
    )

    report.heading("Results")
    report.paragraph(
        "Mean ± standard deviation over folds. An attack works when leakage "
        "or the fairness gaps go **up** (or accuracy down)."
    )
    report.table(summary_table(summary))
    report.paragraph(
        f"Change against the clean model, paired by fold: mean [{100 * confidence:g} "
        "% interval]; * = beyond noise."
    )
    report.table(_change_table(summary))
    report.bullets(
        [
            f"`{name}`: {metric.description}; higher = {metric.higher_means}"
            for name, metric in METRICS.items()
            if name in present
        ]
    )
    if "worst_probe_auc_s" in present:
        report.paragraph(
            "A linear probe alone understates leakage: a representation can "
            "hide s from a logistic regression and still reveal it to a "
            "non-linear classifier. `worst_probe_auc_s` is the largest ROC AUC "
            "of three cross-validated probes (logistic regression, a small MLP "
            "and gradient-boosted trees)."
        )
    report.paragraph(
        "For reference, the raw (preprocessed) features, without any "
        f"representation: probe AUC for s {raw['probe_auc_s']:.3f}, accuracy "
        f"{raw['accuracy']:.3f} (same folds)."
    )

    n_cols = min(3, len(present))
    n_rows = -(-len(present) // n_cols)
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(5 * n_cols, 3.8 * n_rows), squeeze=False
    )
    for ax, metric in zip(axes.ravel(), present, strict=False):
        plot_robustness_curve(results, metric, ax=ax, ylabel=labels[metric])
        ax.set_title(labels[metric])
    for ax in axes.ravel()[len(present) :]:
        ax.set_visible(False)
    fig.tight_layout()
    report.figure(
        fig,
        "robustness_curves.png",
        "Every metric against the poisoning budget, one line per attack, "
        "from the clean model at budget 0; error bars: sd over folds.",
    )
    plt.close(fig)
    figures = ["robustness_curves.png"]

    auc = results[results["metric"] == "probe_auc_s"]
    bars = {"clean": auc.loc[auc["attack"] == "clean", "value"].to_list()}
    for attack in attacks:
        rows = auc[(auc["attack"] == attack) & (auc["budget"] == float(top))]
        bars[f"{attack} {_budget_text(top)}"] = rows["value"].to_list()
    ax = plot_leakage_bars(
        bars,
        reference={"chance (0.5)": 0.5, "raw features": raw["probe_auc_s"]},
        ylabel=labels["probe_auc_s"],
    )
    ax.set_title(f"Leakage of {sensitive_name} per model")
    report.figure(
        ax.figure,
        "leakage_bars.png",
        f"Probe AUC for s of the clean model and of each attack at "
        f"{_budget_text(top)}, mean ± sd over folds.",
    )
    plt.close(ax.figure)
    figures.append("leakage_bars.png")

    def models_of(fold):
        found = {"clean": fitted.estimators[("clean", 0.0, fold)]}
        for attack in attacks:
            key = (attack, float(top), fold)
            if key in fitted.estimators:
                found[f"{attack} {_budget_text(top)}"] = fitted.estimators[key]
        return found

    test = fitted.test_indices[0]
    fig = plot_representation_map(
        models_of(0),
        X.iloc[test],
        s.iloc[test],
        max_samples=1500,
        random_state=settings["random_state"],
    )
    report.figure(
        fig,
        "representation_map.png",
        "PCA of the representation Z of fold 0's test rows, coloured by group, "
        "for the clean model and each attack at the largest budget (shared "
        "axes).",
    )
    plt.close(fig)
    figures.append("representation_map.png")

    report.heading("Per-group metrics (all folds)")
    by_group, gaps = _group_tables(fitted, models_of, X, y, s)
    report.paragraph(
        "fairlearn `MetricFrame` of the downstream classifier on each fold's "
        "clean test rows: metrics by group for each model, mean ± sd over the "
        f"{n_splits} folds."
    )
    report.table(by_group)
    report.paragraph(
        "Largest gap between groups (difference) and smallest ratio of the "
        "groups' values, mean ± sd over folds. The four-fifths rule asks the "
        "selection-rate ratio to be at least 0.8; `fails` marks models whose "
        "mean ratio is below it."
    )
    report.table(gaps)

    report.heading("Files")
    report.bullets(
        [
            "`report.md` and `report.html`: this report",
            "`results.csv`: one row per attack, budget, fold, repeat and metric "
            "(raw metric values, fit and attack times, number of poisons)",
            "`summary.csv`: mean, sd, change versus clean with its standard "
            "error, interval (`ci_low`, `ci_high`) and `significant`, per attack, "
            "budget and metric",
            "`settings.json`: options, data, library versions and time",
            *[f"`{name}`: figure of this report" for name in figures],
        ]
    )

    folder.mkdir(parents=True, exist_ok=True)
    results.to_csv(folder / "results.csv", index=False)
    summary.to_csv(folder / "summary.csv", index=False)
    paths = report.write(folder)
    record = {
        "command": "skfrl audit",
        "argv": list(argv) if argv is not None else None,
        "settings": settings,
        "data": info,
        "raw_feature_reference": raw,
        "versions": _versions(),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "wall_time_s": round(elapsed, 1),
    }
    (folder / "settings.json").write_text(
        json.dumps(record, indent=2, default=str), encoding="utf-8"
    )
    return paths["markdown"]
