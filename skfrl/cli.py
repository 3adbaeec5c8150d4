"""Command-line interface: ``skfrl audit``.

The audit measures how a fair representation holds up under data
poisoning: for every cross-validation fold, attack and budget it poisons
the training part, refits the model (a preprocessor, an FRL model and a
downstream logistic regression) and scores it on the clean test part, next
to the unattacked model (budget 0). It writes a report folder:
``report.md`` and ``report.html`` (tables and figures), ``results.csv``
(the tidy results), ``summary.csv`` and ``settings.json`` (options, data,
versions, time).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["main", "run_audit", "write_report"]

_DATASETS = {
    "adult": ("load_adult", ("sex", "race")),
    "german": ("load_german", ("sex", "age")),
    "compas": ("load_compas", ("race", "sex")),
    "drug": ("load_drug_consumption", ("gender", "age", "ethnicity")),
}

_MODELS = {
    "cfair": ("CFair", {"mode": "balanced"}),
    "cfair-eo": ("CFair", {"mode": "eo"}),
    "adversarial": ("AdversarialFairRepresentation", {}),
    "icvae-s": ("ICVAE", {"supervised": True}),
    "icvae-us": ("ICVAE", {"supervised": False}),
    "vfae": ("VFAE", {}),
    "lfr": ("LearnedFairRepresentation", {}),
    "advvae": ("AdversarialVAE", {}),
}

_ATTACKS = {
    "eng": "ENG gradient-matching attack (PoisonGenerator) against the model",
    "nraa": "non-random anchoring attack (AnchorAttack, Mehrabi et al. 2021)",
    "raa": "random anchoring attack (AnchorAttack)",
    "random": "random poisoning (resampled rows with feature noise)",
    "label_flip": "copies of training rows with flipped labels",
}

#: Reported metrics: name -> (description, higher means).
_METRICS = {
    "accuracy": ("accuracy of the downstream classifier", "better task"),
    "probe_auc_s": (
        "ROC AUC of a logistic probe predicting s from Z (0.5 = no leakage)",
        "more leakage",
    ),
    "fld_s": ("Fisher linear separability of s in Z (0 = none)", "more leakage"),
    "dp_difference": (
        "demographic-parity gap of the downstream predictions (0 = parity)",
        "less fair",
    ),
    "eo_difference": (
        "equalized-odds gap of the downstream predictions (0 = equal odds)",
        "less fair",
    ),
}

DEFAULTS = {
    "dataset": "adult",
    "model": "cfair",
    "attacks": "eng,nraa,random",
    "budgets": "0,0.05,0.1",
    "cv": 3,
    "max_samples": 5000,
    "max_epochs": 20,
    "n_components": 8,
    "n_jobs": -1,
    "random_state": 0,
    "out": "report",
    "defense": "none",
}

# Sanitisers of skfrl.defenses offered by --defense, with what they do.
_DEFENSES = {
    "none": "no sanitiser",
    "knn": "k-NN label consistency filter (removes 5 % of the training rows)",
    "loss": "cross-validated loss filter (removes 5 % of the training rows)",
    "spectral": "spectral-signature filter on a fair representation (removes 5 %)",
    "gradient": "per-sample gradient-norm filter through the audited model's "
    "training loss (removes 5 %)",
    "jtt": "Just Train Twice: the rows a quick model gets wrong are repeated "
    "5 times (group robustness, not a sanitiser)",
    "dro": "KL-DRO over label x group cells in the model's task and adversary "
    "losses (group_weighting='dro'; cfair, cfair-eo and adversarial only)",
}


def _make_defense(name: str, estimator):
    """The sanitiser or resampler of ``name`` (a key of ``_DEFENSES``)."""
    from . import defenses

    if name in ("none", "dro"):  # DRO is a training option of the model
        return None
    if name == "knn":
        return defenses.KNNConsistencyFilter(contamination=0.05)
    if name == "loss":
        return defenses.LossFilter(contamination=0.05)
    if name == "gradient":
        # The audited pipeline up to its FRL step: preprocessor -> model.
        return defenses.GradientFilter(estimator[:-1], contamination=0.05)
    if name == "jtt":
        return defenses.JTTReweighter(output="resample")
    return defenses.SpectralSignatureFilter(contamination=0.05)


# -- data -----------------------------------------------------------------------
def _load_dataset(dataset: str, sensitive: str | None):
    from . import datasets

    if dataset not in _DATASETS:
        raise ValueError(
            f"--dataset must be one of {', '.join(_DATASETS)}; got {dataset!r}"
        )
    loader_name, options = _DATASETS[dataset]
    sensitive = sensitive or options[0]
    if sensitive not in options:
        raise ValueError(
            f"--sensitive for {dataset} must be one of {', '.join(options)}; "
            f"got {sensitive!r}"
        )
    X, y, s = getattr(datasets, loader_name)(sensitive=sensitive, return_X_y_s=True)
    return X, y, s, {"source": dataset, "sensitive": sensitive, "target": "target"}


def _load_csv(path: str, target: str | None, sensitive: str | None):
    if not target or not sensitive:
        raise ValueError("--data needs --target COLUMN and --sensitive COLUMN")
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"--data: no such file {path!r}")
    try:
        frame = pd.read_csv(file)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"--data: cannot read {path!r} as CSV ({exc})") from None
    for option, column in (("--target", target), ("--sensitive", sensitive)):
        if column not in frame.columns:
            shown = ", ".join(map(str, frame.columns[:12]))
            more = ", ..." if frame.shape[1] > 12 else ""
            raise ValueError(
                f"{option}: column {column!r} is not in {file.name} (columns: "
                f"{shown}{more})"
            )
    if target == sensitive:
        raise ValueError("--target and --sensitive must be different columns")
    n_before = len(frame)
    frame = frame.dropna()
    if len(frame) == 0:
        raise ValueError(f"--data: every row of {file.name} has a missing value")
    labels = np.sort(frame[target].unique().astype(str))
    if len(labels) != 2:
        raise ValueError(
            f"--target: column {target!r} must have exactly 2 values for the "
            f"fairness metrics; it has {len(labels)}"
        )
    # fairlearn's rates need 0/1 labels: the greater value (sorted as text,
    # e.g. "yes" over "no", 1 over 0) is the positive class.
    y = (frame[target].astype(str) == labels[1]).astype(int).rename(target)
    s = frame[sensitive]
    X = frame.drop(columns=[target, sensitive])
    if X.shape[1] == 0:
        raise ValueError("--data: no feature columns besides target and sensitive")
    # Text columns are one-hot encoded; category dtype fixes their columns.
    for column in X.columns:
        if not pd.api.types.is_numeric_dtype(X[column]):
            X[column] = X[column].astype(str).astype("category")
    info = {
        "source": str(file),
        "sensitive": sensitive,
        "target": target,
        "rows_dropped_missing": int(n_before - len(frame)),
        "positive_label": str(labels[1]),
    }
    return X.reset_index(drop=True), y.reset_index(drop=True), s, info


def _subsample(X, y, s, n: int | None, seed: int):
    """At most ``n`` rows, stratified by the joint (y, s) cells."""
    from sklearn.model_selection import train_test_split

    if not n or n >= len(X):
        return (
            X.reset_index(drop=True),
            y.reset_index(drop=True),
            s.reset_index(drop=True),
        )
    cells = y.astype(str).to_numpy() + "|" + pd.Series(s).astype(str).to_numpy()
    counts = pd.Series(cells).value_counts()
    strata = cells if counts.min() >= 2 else None
    idx, _ = train_test_split(
        np.arange(len(X)), train_size=n, stratify=strata, random_state=seed
    )
    idx = np.sort(idx)
    return (
        X.iloc[idx].reset_index(drop=True),
        y.iloc[idx].reset_index(drop=True),
        s.iloc[idx].reset_index(drop=True),
    )


def _check_groups(y, s, *, cv: int, attacks: list[str]) -> None:
    n_labels = pd.Series(y).nunique()
    if n_labels != 2:
        raise ValueError(
            f"the target must have exactly 2 values for the fairness metrics; "
            f"it has {n_labels}"
        )
    groups = pd.Series(s).value_counts()
    if len(groups) < 2:
        raise ValueError("--sensitive: the column has a single value")
    if len(groups) > 20:
        raise ValueError(
            f"--sensitive: the column has {len(groups)} values; audits need a "
            "categorical attribute (bin a continuous one first)"
        )
    if "eng" in attacks and len(groups) != 2:
        raise ValueError(
            f"--attacks eng targets a binary sensitive attribute; it has "
            f"{len(groups)} values (drop eng or merge groups)"
        )
    if groups.min() < 2 * cv:
        raise ValueError(
            f"--sensitive: group {groups.idxmin()!r} has {groups.min()} rows, too "
            f"few for --cv {cv}"
        )


# -- options --------------------------------------------------------------------
def _split_list(value: str, option: str) -> list[str]:
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items:
        raise ValueError(f"{option} is empty")
    return items


def _parse_budgets(value: str) -> list:
    budgets = []
    for item in _split_list(value, "--budgets"):
        try:
            number = float(item)
        except ValueError:
            raise ValueError(f"--budgets: {item!r} is not a number") from None
        if number >= 1:
            if not number.is_integer():
                raise ValueError(
                    f"--budgets: {item} is neither a fraction in [0, 1) nor a "
                    "whole number of poisons"
                )
            budgets.append(int(number))
        elif number < 0:
            raise ValueError(f"--budgets: {item} is negative")
        else:
            budgets.append(number)
    return budgets


def _parse_attacks(value: str) -> list[str]:
    names = _split_list(value, "--attacks")
    unknown = [name for name in names if name not in _ATTACKS]
    if unknown:
        raise ValueError(
            f"--attacks: unknown {', '.join(unknown)}; choose from "
            f"{', '.join(_ATTACKS)}"
        )
    return list(dict.fromkeys(names))


def _make_attack(name: str):
    from .attacks import AnchorAttack, LabelFlipping, PoisonGenerator, RandomPoisoning

    if name == "eng":
        # victim=None: the evaluation attacks each fold's own model.
        return PoisonGenerator(None)
    if name == "nraa":
        return AnchorAttack("non_random")
    if name == "raa":
        return AnchorAttack("random")
    if name == "random":
        return RandomPoisoning()
    return LabelFlipping()


_DOWNSTREAM = {
    "logistic": "logistic regression",
    "pgd": "MLP adversarially trained with PGD on the representation "
    "(RobustMLPClassifier, eps 0.1)",
    "l2l": "MLP adversarially trained with a learned attacker on the "
    "representation (RobustMLPClassifier, eps 0.1)",
}


def _make_model(
    name: str, X, *, max_epochs: int, n_components: int, downstream="logistic"
):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from . import models
    from .datasets import make_preprocessor
    from .defenses import RobustMLPClassifier

    class_name, params = _MODELS[name]
    frl = getattr(models, class_name)(
        max_epochs=max_epochs, n_components=n_components, **params
    )
    return Pipeline(
        [
            ("preprocessor", make_preprocessor(X)),
            ("frl", frl),
            (
                "classifier",
                LogisticRegression(max_iter=1000)
                if downstream == "logistic"
                else RobustMLPClassifier(attack=downstream, eps=0.1),
            ),
        ]
    )


def _scoring(seed: int) -> dict:
    from .metrics import make_fairness_scorer, make_leakage_scorer

    return {
        "accuracy": "accuracy",
        "probe_auc_s": make_leakage_scorer("roc_auc", cv=3, random_state=seed),
        "fld_s": make_leakage_scorer("fld"),
        "dp_difference": make_fairness_scorer("demographic_parity_difference"),
        "eo_difference": make_fairness_scorer("equalized_odds_difference"),
    }


# -- the audit ------------------------------------------------------------------
def run_audit(
    dataset: str = DEFAULTS["dataset"],
    *,
    data: str | None = None,
    target: str | None = None,
    sensitive: str | None = None,
    model: str = DEFAULTS["model"],
    attacks: str | list[str] = DEFAULTS["attacks"],
    budgets: str | list = DEFAULTS["budgets"],
    cv: int = DEFAULTS["cv"],
    max_samples: int | None = DEFAULTS["max_samples"],
    max_epochs: int = DEFAULTS["max_epochs"],
    n_components: int = DEFAULTS["n_components"],
    n_jobs: int | None = DEFAULTS["n_jobs"],
    random_state: int = DEFAULTS["random_state"],
    progress: bool = False,
    defense: str = DEFAULTS["defense"],
    downstream: str = "logistic",
):
    """Cross-validate a fair representation under poisoning attacks.

    The programmatic form of ``skfrl audit``: loads the data, builds
    ``Pipeline(make_preprocessor, FRL model, LogisticRegression)`` and runs
    :func:`skfrl.evaluation.cross_validate_robustness` with the metrics of
    the report, reported as raw values (not negated): ``accuracy``,
    ``probe_auc_s``, ``fld_s``, ``dp_difference``, ``eo_difference``.

    Parameters
    ----------
    dataset : {"adult", "german", "compas", "drug"}, default="adult"
        Bundled or ``SKFRL_DATA`` data set (ignored when ``data`` is given).
    data : str or None, default=None
        Path of a CSV file to audit instead; needs ``target`` and
        ``sensitive`` column names.
    target : str or None, default=None
        Target column of ``data``.
    sensitive : str or None, default=None
        Sensitive attribute (the data set's first option when None).
    model : str, default="cfair"
        One of ``cfair``, ``cfair-eo``, ``adversarial``, ``icvae-s``,
        ``icvae-us``, ``vfae``, ``lfr``, ``advvae``.
    attacks : str or list of str, default="eng,nraa,random"
        Attacks among ``eng``, ``nraa``, ``raa``, ``random``, ``label_flip``.
    budgets : str or list, default="0,0.05,0.1"
        Poisoning budgets (fractions, or whole numbers of poisons); 0 is the
        clean reference.
    cv : int, default=3
        Cross-validation folds.
    max_samples : int or None, default=5000
        Subsample (stratified by target and group) to at most this many
        rows; None or 0 for all.
    max_epochs : int, default=20
        Training epochs of the FRL model.
    n_components : int, default=8
        Dimension of the representation.
    n_jobs : int or None, default=-1
        Parallel work units (-1: all cores).
    random_state : int, default=0
        Seed of the subsample, the folds, the models and the attacks.
    progress : bool, default=False
        Show a progress bar.
    defense : {"none", "knn", "loss", "spectral", "gradient", "jtt", "dro"}, \
default="none"
        Defense of :mod:`skfrl.defenses` applied to every training part
        after poisoning (the clean reference included).
    downstream : {"logistic", "pgd", "l2l"}, default="logistic"
        Classifier on the representation: a logistic regression, or a
        :class:`~skfrl.defenses.RobustMLPClassifier` trained adversarially
        with PGD or a learned attacker.

    Returns
    -------
    results : DataFrame
        Tidy results (attack, budget, fold, metric, value, ...).
    fitted : Bunch
        Fitted estimators and test indices (see
        :func:`~skfrl.evaluation.cross_validate_robustness`).
    context : dict
        The data (``X``, ``y``, ``s``), the settings and data description.

    Examples
    --------
    >>> from skfrl.cli import run_audit
    >>> results, fitted, context = run_audit(
    ...     "german", attacks="random", budgets="0,0.1", cv=2,
    ...     max_epochs=2)  # doctest: +SKIP
    >>> sorted(results["attack"].unique())  # doctest: +SKIP
    ['clean', 'random']
    """
    from .evaluation import cross_validate_robustness

    if model not in _MODELS:
        raise ValueError(f"--model must be one of {', '.join(_MODELS)}; got {model!r}")
    if downstream not in _DOWNSTREAM:
        raise ValueError(
            f"--downstream must be one of {', '.join(_DOWNSTREAM)}; got {downstream!r}"
        )
    if defense not in _DEFENSES:  # fail before any data are loaded
        raise ValueError(
            f"--defense must be one of {', '.join(_DEFENSES)}; got {defense!r}"
        )
    attack_names = _parse_attacks(attacks) if isinstance(attacks, str) else attacks
    budget_list = _parse_budgets(budgets) if isinstance(budgets, str) else budgets
    if 0 not in budget_list:
        budget_list = [0, *budget_list]
    if not isinstance(cv, int) or cv < 2:
        raise ValueError(f"--cv must be an integer >= 2; got {cv!r}")
    if max_epochs < 1:
        raise ValueError(f"--max-epochs must be >= 1; got {max_epochs}")
    if n_components < 1:
        raise ValueError(f"--n-components must be >= 1; got {n_components}")
    if max_samples is not None and max_samples < 0:
        raise ValueError(f"--max-samples must be >= 0; got {max_samples}")

    if data is not None:
        X, y, s, info = _load_csv(data, target, sensitive)
    else:
        X, y, s, info = _load_dataset(dataset, sensitive)
    if max_samples and max_samples < 10 * cv:
        raise ValueError(f"--max-samples {max_samples} is too small for --cv {cv}")
    n_total = len(X)
    X, y, s = _subsample(X, y, s, max_samples, random_state)
    _check_groups(y, s, cv=cv, attacks=attack_names)
    info.update(
        n_rows_available=int(n_total),
        n_rows_used=int(len(X)),
        n_features=int(X.shape[1]),
        groups={str(k): int(v) for k, v in pd.Series(s).value_counts().items()},
    )

    estimator = _make_model(
        model,
        X,
        max_epochs=max_epochs,
        n_components=n_components,
        downstream=downstream,
    )
    if defense == "dro":
        frl = estimator.named_steps["frl"]
        if "group_weighting" not in frl.get_params():
            raise ValueError(
                "--defense dro needs --model cfair, cfair-eo or adversarial; "
                f"got {model!r}"
            )
        frl.set_params(group_weighting="dro", dro_groups="label_sensitive")
    sanitiser = _make_defense(defense, estimator)
    scorers = _scoring(random_state)
    results, fitted = cross_validate_robustness(
        estimator,
        X,
        y,
        sensitive_features=s,
        attacks={name: _make_attack(name) for name in attack_names},
        budgets=budget_list,
        scoring=scorers,
        cv=cv,
        n_jobs=n_jobs,
        random_state=random_state,
        return_estimators=True,
        verbose=int(progress),
        defense=sanitiser,
    )
    # Report raw metrics (e.g. probe AUC), not scikit-learn's negated scores.
    signs = {name: getattr(sc, "sign", 1) for name, sc in scorers.items()}
    results["value"] = results["value"] * results["metric"].map(signs)
    settings = {
        "model": model,
        "attacks": attack_names,
        "budgets": budget_list,
        "cv": cv,
        "max_samples": max_samples,
        "max_epochs": max_epochs,
        "n_components": n_components,
        "n_jobs": n_jobs,
        "random_state": random_state,
        "defense": defense,
        "downstream": downstream,
    }
    context = {"X": X, "y": y, "s": s, "data": info, "settings": settings}
    return results, fitted, context


def _raw_feature_reference(X, y, s, test_indices, seed: int) -> dict:
    """Probe AUC for s and accuracy from the preprocessed raw features."""
    from sklearn.linear_model import LogisticRegression

    from .datasets import make_preprocessor
    from .metrics import representation_leakage

    aucs, accs = [], []
    for test in test_indices:
        train = np.setdiff1d(np.arange(len(X)), test)
        pre = make_preprocessor(X).fit(X.iloc[train])
        R_train, R_test = pre.transform(X.iloc[train]), pre.transform(X.iloc[test])
        clf = LogisticRegression(max_iter=1000).fit(R_train, y.iloc[train])
        accs.append(clf.score(R_test, y.iloc[test]))
        aucs.append(
            representation_leakage(R_test, s.iloc[test], cv=3, random_state=seed)
        )
    return {"probe_auc_s": float(np.mean(aucs)), "accuracy": float(np.mean(accs))}


def _versions() -> dict:
    import fairlearn
    import joblib
    import matplotlib
    import sklearn
    import skorch
    import torch

    from . import __version__

    return {
        "skfrl": __version__,
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


def _budget_label(budget) -> str:
    budget = float(budget)
    return f"{100 * budget:g}%" if budget < 1 else f"{budget:g} poisons"


def _summary_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Wide table: one row per (attack, budget), 'mean ± sd (change)' cells."""
    rows = []
    for (attack, budget), part in summary.groupby(["attack", "budget"], sort=False):
        row = {"attack": attack, "budget": _budget_label(budget)}
        for rec in part.itertuples():
            cell = f"{rec.mean:.3f} ± {0 if np.isnan(rec.sd) else rec.sd:.3f}"
            if attack != "clean":
                cell += f" ({rec.change:+.3f})"
            row[rec.metric] = cell
        rows.append(row)
    return pd.DataFrame(rows)


def write_report(results, fitted, context, out, *, elapsed: float, argv=None):
    """Write the audit report folder; returns the path of ``report.md``.

    Parameters
    ----------
    results : DataFrame
        Tidy results, the first output of :func:`run_audit`.
    fitted : Bunch
        Fitted estimators and test indices, its second output.
    context : dict
        Data and settings, its third output.
    out : str or Path
        Report folder (created if missing).
    elapsed : float
        Seconds the evaluation took.
    argv : list of str or None, default=None
        Command-line arguments, recorded in ``settings.json``.

    Returns
    -------
    Path
        The Markdown report.

    Examples
    --------
    >>> from skfrl.cli import run_audit, write_report
    >>> out = run_audit("german", budgets="0,0.1", cv=2)  # doctest: +SKIP
    >>> write_report(*out, "report", elapsed=1.0)  # doctest: +SKIP
    PosixPath('report/report.md')
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .evaluation import group_metric_frame, summarize
    from .evaluation._report import Report
    from .plotting import (
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

    report = Report(f"skfrl audit: {settings['model']} on {Path(info['source']).name}")
    report.paragraph(
        f"How well does a **{settings['model']}** fair representation of "
        f"`{info['source']}` keep the sensitive attribute `{info['sensitive']}` "
        f"out of its representation when part of its training data is "
        f"poisoned? {settings['cv']}-fold cross-validation: in each fold the "
        "attacks poison the training part only, the model (preprocessor, FRL "
        "model, downstream logistic regression) is refitted from scratch, and it "
        "is scored on the clean test part. Budget 0 is the unattacked model."
    )
    report.bullets(
        [
            f"data: {info['n_rows_used']} rows used of {info['n_rows_available']}"
            + (
                " (stratified subsample by target and group)"
                if info["n_rows_used"] < info["n_rows_available"]
                else ""
            )
            + f", {info['n_features']} feature columns, groups "
            + ", ".join(f"{k}: {v}" for k, v in info["groups"].items()),
            "attacks: " + "; ".join(f"`{a}`: {_ATTACKS.get(a, a)}" for a in attacks),
            "budgets: "
            + ", ".join(_budget_label(b) for b in settings["budgets"])
            + " of the training part",
            f"model: `{settings['model']}`, {settings['max_epochs']} epochs, "
            f"{settings['n_components']}-dimensional representation, seed "
            f"{settings['random_state']}",
            "downstream classifier: "
            + _DOWNSTREAM.get(settings.get("downstream", "logistic"), ""),
            f"defense: `{settings.get('defense', 'none')}`: "
            + _DEFENSES.get(settings.get("defense", "none"), ""),
            f"run time: {elapsed:.0f} s",
        ]
    )

    report.heading("Results")
    report.paragraph(
        "Mean ± standard deviation over folds; in brackets the change from the "
        "clean model, paired by fold. An attack works when leakage "
        "(`probe_auc_s`, `fld_s`) or the fairness gaps go **up**."
    )
    report.table(_summary_table(summary))
    report.bullets(
        [f"`{name}`: {desc}; higher = {up}" for name, (desc, up) in _METRICS.items()]
    )
    report.paragraph(
        "For reference, the raw (preprocessed) features, without any "
        f"representation: probe AUC for s {raw['probe_auc_s']:.3f}, accuracy "
        f"{raw['accuracy']:.3f} (same folds)."
    )

    metrics = [m for m in ("accuracy", "probe_auc_s", "dp_difference")]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.8))
    for ax, metric in zip(axes, metrics, strict=True):
        plot_robustness_curve(results, metric, ax=ax)
        ax.set_title(metric)
    fig.tight_layout()
    report.figure(
        fig,
        "robustness_curves.png",
        "Each metric against the poisoning budget, one line per attack, "
        "from the clean model at budget 0; error bars: sd over folds.",
    )
    plt.close(fig)

    auc = results[results["metric"] == "probe_auc_s"]
    bars = {"clean": auc.loc[auc["attack"] == "clean", "value"].to_list()}
    for attack in attacks:
        rows = auc[(auc["attack"] == attack) & (auc["budget"] == float(top))]
        bars[f"{attack} {_budget_label(top)}"] = rows["value"].to_list()
    ax = plot_leakage_bars(
        bars,
        reference={"chance (0.5)": 0.5, "raw features": raw["probe_auc_s"]},
        ylabel="probe ROC AUC for s",
    )
    ax.set_title(f"Leakage of {info['sensitive']} per model")
    report.figure(
        ax.figure,
        "leakage_bars.png",
        f"Probe AUC for s of the clean model and of each attack at "
        f"{_budget_label(top)}, mean ± sd over folds.",
    )
    plt.close(ax.figure)

    test = fitted.test_indices[0]
    names = {"clean": fitted.estimators[("clean", 0.0, 0)]}
    for attack in attacks:
        key = (attack, float(top), 0)
        if key in fitted.estimators:
            names[f"{attack} {_budget_label(top)}"] = fitted.estimators[key]
    fig = plot_representation_map(
        names,
        X.iloc[test],
        s.iloc[test],
        max_samples=1500,
        random_state=settings["random_state"],
    )
    report.figure(
        fig,
        "representation_map.png",
        "PCA of the representation Z of fold 0's test rows, coloured by group, "
        "for the clean model and each attack at the largest budget.",
    )
    plt.close(fig)

    report.heading("Per-group metrics (fold 0)")
    frame = group_metric_frame(
        names, X.iloc[test], y.iloc[test], sensitive_features=s.iloc[test]
    )
    report.paragraph(
        "fairlearn `MetricFrame` of the downstream classifier on fold 0's clean "
        "test rows: metrics by group for each model, then each model's largest "
        "gap between groups."
    )
    by_group = frame.by_group.copy()
    by_group["count"] = by_group["count"].astype(int)
    report.table(by_group)
    gaps = frame.difference().drop(columns="count")
    report.table(gaps.reset_index())

    report.heading("Files")
    report.bullets(
        [
            "`results.csv`: one row per attack, budget, fold and metric (raw "
            "metric values, fit and attack times, number of poisons)",
            "`summary.csv`: mean, sd and change versus clean per attack, budget "
            "and metric",
            "`settings.json`: options, data, library versions and time",
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


# -- command line -------------------------------------------------------------------
class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # One line, no usage dump: scripts and people read the same message.
        raise _UsageError(f"{self.prog}: error: {message}")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="skfrl", description="Fair representation learning audits.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    audit = sub.add_parser(
        "audit",
        help="cross-validate a fair representation under poisoning attacks",
        description=(
            "Cross-validate a fair representation model under poisoning attacks "
            "of several budgets (0 = the clean reference) and write a report "
            "folder: report.md, report.html, results.csv, summary.csv, "
            "settings.json. With no options: CFair on a 5,000-row stratified "
            "subsample of the bundled Adult data, attacks eng,nraa,random, "
            "budgets 0,0.05,0.1, 3 folds."
        ),
    )
    source = audit.add_mutually_exclusive_group()
    source.add_argument(
        "--dataset",
        default=DEFAULTS["dataset"],
        help=f"{', '.join(_DATASETS)} (default: %(default)s)",
    )
    source.add_argument("--data", metavar="FILE.csv", help="audit a CSV file instead")
    audit.add_argument("--target", metavar="COLUMN", help="target column of --data")
    audit.add_argument(
        "--sensitive",
        metavar="NAME",
        help="sensitive attribute: a column of --data, or for a data set one of "
        "its options (default: the first)",
    )
    audit.add_argument(
        "--model",
        default=DEFAULTS["model"],
        help=f"{', '.join(_MODELS)} (default: %(default)s)",
    )
    audit.add_argument(
        "--attacks",
        default=DEFAULTS["attacks"],
        help=f"comma-separated, of {', '.join(_ATTACKS)} (default: %(default)s)",
    )
    audit.add_argument(
        "--budgets",
        default=DEFAULTS["budgets"],
        help="comma-separated fractions of the training part, or whole numbers "
        "of poisons; 0 is the clean reference (default: %(default)s)",
    )
    audit.add_argument(
        "--cv", type=int, default=DEFAULTS["cv"], help="folds (default: %(default)s)"
    )
    audit.add_argument(
        "--max-samples",
        type=int,
        default=DEFAULTS["max_samples"],
        help="stratified subsample size, 0 for all rows (default: %(default)s)",
    )
    audit.add_argument(
        "--max-epochs",
        type=int,
        default=DEFAULTS["max_epochs"],
        help="training epochs of the model (default: %(default)s)",
    )
    audit.add_argument(
        "--n-components",
        type=int,
        default=DEFAULTS["n_components"],
        help="dimension of the representation (default: %(default)s)",
    )
    audit.add_argument(
        "--n-jobs",
        type=int,
        default=DEFAULTS["n_jobs"],
        help="parallel work units, -1 for all cores (default: %(default)s)",
    )
    audit.add_argument(
        "--random-state",
        type=int,
        default=DEFAULTS["random_state"],
        help="seed of the subsample, folds, models and attacks (default: %(default)s)",
    )
    audit.add_argument(
        "--out", default=DEFAULTS["out"], help="report folder (default: %(default)s)"
    )
    audit.add_argument(
        "--defense",
        default=DEFAULTS["defense"],
        choices=list(_DEFENSES),
        help="defense applied to every training part after poisoning "
        "(default: %(default)s)",
    )
    audit.add_argument(
        "--downstream",
        default="logistic",
        choices=list(_DOWNSTREAM),
        help="classifier on the representation; pgd/l2l train it adversarially "
        "(default: %(default)s)",
    )
    audit.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``skfrl`` command.

    Parameters
    ----------
    argv : list of str or None, default=None
        Arguments (``sys.argv[1:]`` when None).

    Returns
    -------
    int
        Exit status: 0 on success, 2 on bad options or data.

    Examples
    --------
    >>> from skfrl.cli import main
    >>> main(["audit", "--dataset", "german", "--max-epochs", "2"])  # doctest: +SKIP
    0
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = _build_parser().parse_args(argv)
    except _UsageError as exc:
        message = str(exc)
        if argv[:1] == ["audit"] and message.startswith("skfrl: "):
            # argparse reports unknown options from the top-level parser.
            message = "skfrl audit: " + message.removeprefix("skfrl: ")
        print(message, file=sys.stderr)
        return 2
    if args.data is None and args.target is not None:
        print("skfrl audit: error: --target needs --data FILE.csv", file=sys.stderr)
        return 2
    start = time.perf_counter()
    try:
        output = run_audit(
            args.dataset,
            data=args.data,
            target=args.target,
            sensitive=args.sensitive,
            model=args.model,
            attacks=args.attacks,
            budgets=args.budgets,
            cv=args.cv,
            max_samples=args.max_samples or None,
            max_epochs=args.max_epochs,
            n_components=args.n_components,
            n_jobs=args.n_jobs,
            random_state=args.random_state,
            progress=not args.quiet,
            defense=args.defense,
            downstream=args.downstream,
        )
        elapsed = time.perf_counter() - start
        path = write_report(*output, args.out, elapsed=elapsed, argv=argv)
    except (ValueError, TypeError, KeyError, FileNotFoundError, OSError) as exc:
        message = str(exc).strip().splitlines()
        print(
            f"skfrl audit: error: {message[0] if message else type(exc).__name__}",
            file=sys.stderr,
        )
        return 2
    from .evaluation import summarize

    results = output[0]
    table = _summary_table(summarize(results))
    print(
        f"skfrl audit: {output[2]['settings']['model']} on "
        f"{output[2]['data']['source']} (sensitive={output[2]['data']['sensitive']}), "
        f"{elapsed:.0f} s"
    )
    print(table.to_string(index=False))
    print(f"report: {path} (and report.html, results.csv, settings.json)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
