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
import warnings
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
    "worst_probe_auc_s": (
        "largest ROC AUC of three probes predicting s from Z (logistic, MLP, "
        "gradient-boosted trees)",
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

# Which direction of each audit metric hurts, for the verdict.
_HARM = {
    "accuracy": -1,
    "probe_auc_s": 1,
    "worst_probe_auc_s": 1,
    "fld_s": 1,
    "dp_difference": 1,
    "eo_difference": 1,
}


def _metric_labels(sensitive: str) -> dict:
    """Readable names of the audit's metrics, for axes and the verdict."""
    return {
        "accuracy": "accuracy of the downstream classifier",
        "probe_auc_s": f"probe ROC AUC for {sensitive} (logistic)",
        "worst_probe_auc_s": f"worst-case probe ROC AUC for {sensitive}",
        "fld_s": f"Fisher separability of {sensitive} in Z",
        "dp_difference": "demographic-parity gap",
        "eo_difference": "equalized-odds gap",
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
    "protocol": "retrain",
    "repeats": 3,
}

# How the audited model meets the poisons (--protocol).
_PROTOCOLS = {
    "retrain": "the model is retrained from scratch on clean + poisoned rows",
    "fine-tune": "a model trained on the clean rows continues training on clean + "
    "poisoned rows for --max-epochs more epochs (the threat model of Liu et al., "
    "2024); the clean reference continues on clean rows alone",
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
def _sensitive_names(sensitive) -> list[str]:
    """The attributes of ``--sensitive``: none, one, or several comma-separated.

    >>> _sensitive_names("sex, race")
    ['sex', 'race']
    >>> _sensitive_names(None)
    []
    """
    if not sensitive:
        return []
    if isinstance(sensitive, str):
        names = _split_list(sensitive, "--sensitive")
    else:
        names = [str(name) for name in sensitive]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"--sensitive: {', '.join(map(repr, repeated))} given twice")
    return names


def _joint_groups(s) -> np.ndarray:
    """Group of each row as text; several attributes cross into "a & b" cells."""
    if isinstance(s, pd.DataFrame):
        columns = [s[c].astype(str).to_numpy(dtype=object) for c in s.columns]
        cells = columns[0]
        for column in columns[1:]:
            cells = cells + " & " + column
        return cells
    return pd.Series(s).astype(str).to_numpy(dtype=object)


def _load_dataset(dataset: str, sensitive):
    from . import datasets

    if dataset not in _DATASETS:
        raise ValueError(
            f"--dataset must be one of {', '.join(_DATASETS)}; got {dataset!r}"
        )
    loader_name, options = _DATASETS[dataset]
    names = _sensitive_names(sensitive) or [options[0]]
    unknown = [name for name in names if name not in options]
    if unknown:
        raise ValueError(
            f"--sensitive for {dataset} must be one of {', '.join(options)} (or "
            f"several, comma-separated); got {unknown[0]!r}"
        )
    loader = getattr(datasets, loader_name)
    # One load per attribute (same rows, same order); each drops its attribute
    # (or the column it derives from) from X, so X keeps the common columns.
    bunches = [loader(sensitive=name) for name in names]
    first = bunches[0]
    columns = [c for c in first.data.columns if all(c in b.data for b in bunches)]
    X = first.data[columns]
    if len(names) == 1:
        s = first.sensitive
    else:
        s = pd.concat(
            [b.sensitive.rename(n) for b, n in zip(bunches, names, strict=True)], axis=1
        )
    info = {
        "source": dataset,
        "sensitive": ", ".join(names),
        "sensitive_attributes": names,
        "target": "target",
        "positive_label": str(first.target_names[1]),
        "n_rows_read": int(len(X)),
        "rows_dropped": {},
        "rows_dropped_missing": 0,
    }
    return X, first.target, s, info


def _load_csv(path: str, target: str | None, sensitive):
    names = _sensitive_names(sensitive)
    if not target or not names:
        raise ValueError("--data needs --target COLUMN and --sensitive COLUMN")
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"--data: no such file {path!r}")
    try:
        frame = pd.read_csv(file)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"--data: cannot read {path!r} as CSV ({exc})") from None
    for option, column in (("--target", target), *(("--sensitive", n) for n in names)):
        if column not in frame.columns:
            shown = ", ".join(map(str, frame.columns[:12]))
            more = ", ..." if frame.shape[1] > 12 else ""
            raise ValueError(
                f"{option}: column {column!r} is not in {file.name} (columns: "
                f"{shown}{more})"
            )
    if target in names:
        raise ValueError("--target and --sensitive must be different columns")
    features = [c for c in frame.columns if c != target and c not in names]
    if not features:
        raise ValueError("--data: no feature columns besides target and sensitive")
    # Complete cases only; each dropped row is counted under its first reason.
    n_read = len(frame)
    no_target = frame[target].isna()
    no_sensitive = ~no_target & frame[names].isna().any(axis=1)
    no_feature = ~no_target & ~no_sensitive & frame[features].isna().any(axis=1)
    rows_dropped = {
        "missing target": int(no_target.sum()),
        "missing sensitive": int(no_sensitive.sum()),
        "missing features": int(no_feature.sum()),
    }
    n_dropped = sum(rows_dropped.values())
    why = ", ".join(
        f"{n} with {what}"
        for n, what in zip(
            rows_dropped.values(),
            (
                f"a missing target {target!r}",
                "a missing sensitive value",
                "a missing feature value",
            ),
            strict=True,
        )
        if n
    )
    if n_dropped == n_read:
        raise ValueError(
            f"--data: every row of {file.name} has a missing value ({why})"
        )
    if n_dropped:
        warnings.warn(
            f"--data: dropped {n_dropped} of {n_read} rows of {file.name}: {why}",
            UserWarning,
            stacklevel=3,
        )
    frame = frame[~(no_target | no_sensitive | no_feature)]
    values = frame[target]
    if pd.api.types.is_float_dtype(values) and (values % 1 == 0).all():
        values = values.astype("int64")  # 1.0/0.0 from a column that had NaN
    labels = np.sort(values.unique().astype(str))
    if len(labels) != 2:
        raise ValueError(
            f"--target: column {target!r} must have exactly 2 values for the "
            f"fairness metrics; it has {len(labels)}"
        )
    # fairlearn's rates need 0/1 labels: the greater value (sorted as text,
    # e.g. "yes" over "no", 1 over 0) is the positive class.
    y = (values.astype(str) == labels[1]).astype(int).rename(target)
    s = frame[names[0]] if len(names) == 1 else frame[names]
    X = frame[features].copy()
    # Text columns are one-hot encoded; category dtype fixes their columns.
    for column in X.columns:
        if not pd.api.types.is_numeric_dtype(X[column]):
            X[column] = X[column].astype(str).astype("category")
    info = {
        "source": str(file),
        "sensitive": ", ".join(names),
        "sensitive_attributes": names,
        "target": target,
        "positive_label": str(labels[1]),
        "n_rows_read": int(n_read),
        "rows_dropped": rows_dropped,
        "rows_dropped_missing": int(n_dropped),
    }
    return (
        X.reset_index(drop=True),
        y.reset_index(drop=True),
        s.reset_index(drop=True),
        info,
    )


def _subsample(X, y, s, n: int | None, seed: int):
    """At most ``n`` rows, stratified by the joint (y, s) cells.

    ``s`` is a Series, or a DataFrame of several attributes.
    """
    from sklearn.model_selection import train_test_split

    if not n or n >= len(X):
        return (
            X.reset_index(drop=True),
            y.reset_index(drop=True),
            s.reset_index(drop=True),
        )
    # Several attributes: their intersectional cells, else the first's.
    strata = None
    candidates = [s] if isinstance(s, pd.Series) else [s, s.iloc[:, 0]]
    for groups in candidates:
        cells = y.astype(str).to_numpy() + "|" + _joint_groups(groups)
        if pd.Series(cells).value_counts().min() >= 2:
            strata = cells
            break
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
    """Refuse, before any fitting, data the metrics and attacks cannot use.

    ``s`` is a Series, or a DataFrame of several attributes: each attribute
    and (for several) each intersectional cell needs ``2 * cv`` rows, and
    eng, nraa and raa need a binary (first) attribute.
    """
    n_labels = pd.Series(y).nunique()
    if n_labels != 2:
        raise ValueError(
            f"the target must have exactly 2 values for the fairness metrics; "
            f"it has {n_labels}"
        )
    frame = s if isinstance(s, pd.DataFrame) else pd.Series(s).to_frame()
    several = frame.shape[1] > 1
    for name in frame.columns:
        column = f"column {name!r}" if several else "column"
        groups = frame[name].value_counts()
        if len(groups) < 2:
            raise ValueError(f"--sensitive: the {column} has a single value")
        if len(groups) > 20:
            raise ValueError(
                f"--sensitive: the {column} has {len(groups)} values; audits need "
                "a categorical attribute (bin a continuous one first)"
            )
        if groups.min() < 2 * cv:
            raise ValueError(
                f"--sensitive: group {groups.idxmin()!r} has {groups.min()} rows, "
                f"too few for --cv {cv}"
            )
    binary = [name for name in attacks if name in ("eng", "nraa", "raa")]
    n_first = frame.iloc[:, 0].nunique()
    if binary and n_first != 2:
        first = f" (the first of --sensitive, {frame.columns[0]!r})" if several else ""
        raise ValueError(
            f"--attacks {','.join(binary)} target{'s' if len(binary) == 1 else ''} "
            f"a binary sensitive attribute{first}; it has {n_first} values (drop "
            f"{','.join(binary)} or merge groups)"
        )
    if several:
        # The fairness metrics compare the intersectional groups.
        cells = pd.Series(_joint_groups(frame)).value_counts()
        if cells.min() < 2 * cv:
            raise ValueError(
                f"--sensitive: the intersectional group {cells.idxmin()!r} of "
                f"{', '.join(map(str, frame.columns))} has {cells.min()} rows, too "
                f"few for --cv {cv} (raise --max-samples or audit fewer attributes)"
            )


# -- options --------------------------------------------------------------------
def _split_list(value: str, option: str) -> list[str]:
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items:
        raise ValueError(f"{option} is empty")
    return items


def _parse_budgets(value: str) -> list:
    """Budgets of ``--budgets``: fractions in (0, 1), whole counts, 0 = clean.

    A count is written without a decimal point: ``2.0`` is refused as
    ambiguous (two poisons, or 2 %?).

    >>> _parse_budgets("0,0.05,10")
    [0.0, 0.05, 10]
    """
    budgets = []
    for item in _split_list(value, "--budgets"):
        try:
            number = float(item)
        except ValueError:
            raise ValueError(f"--budgets: {item!r} is not a number") from None
        if not np.isfinite(number):
            raise ValueError(f"--budgets: {item} is not a finite number")
        if number < 0:
            raise ValueError(f"--budgets: {item} is negative")
        if number < 1:
            budgets.append(number)
            continue
        if not number.is_integer():
            raise ValueError(
                f"--budgets: {item} is neither a fraction in (0, 1) nor a whole "
                "number of poisons"
            )
        count = int(number)
        try:
            written_as_count = int(item) == count  # digits only, no point
        except ValueError:
            written_as_count = False
        if not written_as_count:
            example = f"{count / 100:g}" if count < 100 else "0.05"
            raise ValueError(
                f"--budgets: {item} is ambiguous; write {count} for {count} "
                f"poison{'s' if count > 1 else ''} or a fraction in (0, 1) such "
                f"as {example}"
            )
        budgets.append(count)
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
        # A linear probe alone understates leakage: the worst of three.
        "worst_probe_auc_s": make_leakage_scorer(
            "roc_auc", probe="worst", cv=3, random_state=seed
        ),
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
    sensitive: str | list[str] | None = None,
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
    protocol: str = DEFAULTS["protocol"],
    repeats: int = DEFAULTS["repeats"],
):
    """Cross-validate a fair representation under poisoning attacks.

    The programmatic form of ``skfrl audit``: loads the data, builds
    ``Pipeline(make_preprocessor, FRL model, LogisticRegression)`` and runs
    :func:`skfrl.evaluation.cross_validate_robustness` with the metrics of
    the report, reported as raw values (not negated): ``accuracy``,
    ``probe_auc_s``, ``worst_probe_auc_s`` (the most leaking of a logistic,
    an MLP and a gradient-boosting probe), ``fld_s``, ``dp_difference``,
    ``eo_difference``.

    Parameters
    ----------
    dataset : {"adult", "german", "compas", "drug"}, default="adult"
        Bundled or ``SKFRL_DATA`` data set (ignored when ``data`` is given).
    data : str or None, default=None
        Path of a CSV file to audit instead; needs ``target`` and
        ``sensitive`` column names. Rows with a missing value (target,
        sensitive attribute or feature) are dropped, with a warning, and
        counted in ``context["data"]["rows_dropped"]``.
    target : str or None, default=None
        Target column of ``data``.
    sensitive : str, list of str or None, default=None
        Sensitive attribute (the data set's first option when None), or
        several (a list, or names separated by commas): then ``s`` is a
        DataFrame; the fairness metrics compare the intersectional groups,
        the leakage metrics report the most leaking attribute, and eng,
        nraa and raa attack the first attribute (which must be binary).
        ``cfair`` and ``cfair-eo`` take one attribute only.
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
    protocol : {"retrain", "fine-tune"}, default="retrain"
        How the model meets the poisons: retrained from scratch, or a model
        trained on the clean training part continues training on clean +
        poison for ``max_epochs`` more epochs (``victim_training=
        "fine_tune"`` of :func:`~skfrl.evaluation.cross_validate_robustness`).
    repeats : int, default=3
        Repeats of the cross-validation with reshuffled folds (``n_repeats``
        of :func:`~skfrl.evaluation.cross_validate_robustness`): the
        intervals of the verdict use ``cv * repeats`` paired differences.

    Returns
    -------
    results : DataFrame
        Tidy results (attack, budget, fold, metric, value, ...).
    fitted : Bunch
        Fitted estimators and test indices (see
        :func:`~skfrl.evaluation.cross_validate_robustness`).
    context : dict
        ``"X"``, ``"y"`` (0/1), ``"s"`` (a Series, or a DataFrame for several
        attributes) as audited, ``"settings"`` (the options) and ``"data"``,
        the data description, with keys

        - ``"source"``: the data set name or the CSV path;
        - ``"target"``: the target column (``"target"`` for a data set);
        - ``"sensitive"``: the attribute names joined by ``", "``;
          ``"sensitive_attributes"``: the list of them;
        - ``"positive_label"``: the target value coded 1 (str). For a CSV
          the target must have two values and the greater, compared as
          text, is positive (``"yes"`` over ``"no"``, ``1`` over ``0``,
          ``">50K"`` over ``"<=50K"``); for a data set, its second
          ``target_names`` entry;
        - ``"n_rows_read"``: rows in the CSV (or data set);
        - ``"rows_dropped"``: rows dropped for missing values, by reason:
          ``{"missing target": n1, "missing sensitive": n2,
          "missing features": n3}``, each row counted under its first
          reason in that order (empty for the bundled data sets, whose
          loaders do their own documented cleaning);
          ``"rows_dropped_missing"``: their total;
        - ``"n_rows_available"``: rows left after dropping;
          ``"n_rows_used"``: rows after the ``max_samples`` subsample;
          ``"n_features"``: feature columns;
        - ``"groups"``: rows per group of the audited rows (several
          attributes: per intersectional group, named ``"a & b"``).

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
    if protocol not in _PROTOCOLS:
        raise ValueError(
            f"--protocol must be one of {', '.join(_PROTOCOLS)}; got {protocol!r}"
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
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"--repeats must be an integer >= 1; got {repeats!r}")
    if max_epochs < 1:
        raise ValueError(f"--max-epochs must be >= 1; got {max_epochs}")
    if n_components < 1:
        raise ValueError(f"--n-components must be >= 1; got {n_components}")
    if max_samples is not None and max_samples < 0:
        raise ValueError(f"--max-samples must be >= 0; got {max_samples}")
    if max_samples and max_samples < 10 * cv:
        raise ValueError(f"--max-samples {max_samples} is too small for --cv {cv}")
    sensitive_names = _sensitive_names(sensitive)
    if len(sensitive_names) > 1 and _MODELS[model][0] == "CFair":
        others = [
            name
            for name, (cls, _) in _MODELS.items()
            if cls not in ("CFair", "AdversarialFairRepresentation")
        ]
        raise ValueError(
            f"--sensitive: --model {model} takes one sensitive attribute; got "
            f"{len(sensitive_names)} ({', '.join(sensitive_names)}). Use --model "
            f"adversarial (or {', '.join(others)}) or audit them one at a time"
        )

    if data is not None:
        X, y, s, info = _load_csv(data, target, sensitive_names)
    else:
        X, y, s, info = _load_dataset(dataset, sensitive_names)
    n_total = len(X)
    X, y, s = _subsample(X, y, s, max_samples, random_state)
    _check_groups(y, s, cv=cv, attacks=attack_names)
    info.update(
        n_rows_available=int(n_total),
        n_rows_used=int(len(X)),
        n_features=int(X.shape[1]),
        groups={
            str(k): int(v)
            for k, v in pd.Series(_joint_groups(s)).value_counts().items()
        },
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
        victim_training=protocol.replace("-", "_"),
        n_repeats=repeats,
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
        "protocol": protocol,
        "repeats": repeats,
    }
    context = {"X": X, "y": y, "s": s, "data": info, "settings": settings}
    return results, fitted, context


def _raw_feature_reference(X, y, s, test_indices, seed: int) -> dict:
    """Probe AUC for s and accuracy from the preprocessed raw features.

    With several attributes, the AUC of the most leaking one.
    """
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


def _verdict(summary: pd.DataFrame, sensitive: str, confidence: float = 0.95):
    """The audit's verdict sentences, for the report and the console."""
    from .evaluation import robustness_verdict

    present = set(summary["metric"])
    return robustness_verdict(
        summary,
        harm={m: d for m, d in _HARM.items() if m in present},
        labels=_metric_labels(sensitive),
        confidence=confidence,
    )


def _code(text) -> str:
    """Text for a Markdown code span: verbatim, backticks replaced."""
    return str(text).replace("`", "'")


def _change_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Wide table of paired changes: 'change [low, high]', * when beyond noise."""
    rows = []
    attacked = summary[summary["attack"] != "clean"]
    for (attack, budget), part in attacked.groupby(["attack", "budget"], sort=False):
        row = {"attack": attack, "budget": _budget_label(budget)}
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
    from .evaluation import group_metric_frame

    by_group, gaps = [], []
    for fold, test in enumerate(fitted.test_indices):
        frame = group_metric_frame(
            models_of(fold), X.iloc[test], y.iloc[test], sensitive_features=s.iloc[test]
        )
        by_group.append(frame.by_group.assign(fold=fold))
        diff = frame.difference().drop(columns="count", errors="ignore")
        ratio = frame.ratio().drop(columns="count", errors="ignore")
        gaps.append(
            pd.concat({"difference": diff, "ratio": ratio}, axis=1).assign(fold=fold)
        )

    def mean_sd(frames, keys):
        data = pd.concat(frames)
        data = data.drop(columns="fold")
        grouped = data.groupby(level=keys, sort=False)
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

    from .evaluation import summarize
    from .evaluation._report import Report, escape_markdown
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

    sensitive_name = str(info["sensitive"])
    labels = _metric_labels(sensitive_name)
    present = [m for m in pd.unique(results["metric"]) if m in labels]
    confidence = 0.95
    n_splits = results["fold"].nunique()
    repeats = int(settings.get("repeats", 1))
    protocol = settings.get("protocol", "retrain")
    esc = escape_markdown

    report = Report(f"skfrl audit: {settings['model']} on {Path(info['source']).name}")
    report.paragraph(
        f"**Threat model: `{protocol}`**: {_PROTOCOLS[protocol]}. "
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
    report.bullets(_verdict(summary, sensitive_name, confidence=confidence))
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
        "Mean ± standard deviation over folds. An attack works when leakage "
        "or the fairness gaps go **up** (or accuracy down)."
    )
    report.table(_summary_table(summary))
    report.paragraph(
        f"Change against the clean model, paired by fold: mean [{100 * confidence:g} "
        "% interval]; * = beyond noise."
    )
    report.table(_change_table(summary))
    report.bullets(
        [
            f"`{name}`: {desc}; higher = {up}"
            for name, (desc, up) in _METRICS.items()
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
        bars[f"{attack} {_budget_label(top)}"] = rows["value"].to_list()
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
        f"{_budget_label(top)}, mean ± sd over folds.",
    )
    plt.close(ax.figure)
    figures.append("leakage_bars.png")

    def models_of(fold):
        found = {"clean": fitted.estimators[("clean", 0.0, fold)]}
        for attack in attacks:
            key = (attack, float(top), fold)
            if key in fitted.estimators:
                found[f"{attack} {_budget_label(top)}"] = fitted.estimators[key]
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
        epilog=(
            "Input handling. --data FILE.csv: rows with a missing value in the "
            "target, a --sensitive column or a feature column are dropped before "
            "the audit, with a warning; settings.json records how many and why. "
            "The target must have exactly two values: the greater, compared as "
            "text (yes over no, 1 over 0, >50K over <=50K), is the positive "
            "class, coded 1 (recorded as positive_label). Text feature columns "
            "are one-hot encoded. --sensitive a,b audits several attributes: "
            "fairness gaps over their intersectional groups, leakage of the most "
            "leaking one; eng, nraa and raa attack the first, which must be "
            "binary; cfair and cfair-eo take one attribute only."
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
        "its options (default: the first); several comma-separated",
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
        help="comma-separated fractions in (0, 1) of the training part, or whole "
        "numbers of poisons written without a decimal point (10, not 10.0); 0 "
        "is the clean reference (default: %(default)s)",
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
        "--out",
        default=DEFAULTS["out"],
        help="report folder, created if missing; an existing file is refused "
        "(default: %(default)s)",
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
    audit.add_argument(
        "--repeats",
        type=int,
        default=DEFAULTS["repeats"],
        help="repeats of the cross-validation with reshuffled folds; the "
        "verdict's intervals narrow with more (default: %(default)s; each "
        "repeat costs about as much as the first)",
    )
    audit.add_argument(
        "--protocol",
        default=DEFAULTS["protocol"],
        choices=list(_PROTOCOLS),
        help="how the model meets the poisons: retrain from scratch, or "
        "fine-tune a model trained on clean data (default: %(default)s)",
    )
    audit.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return parser


def _check_out(out: str) -> str | None:
    """Why ``--out`` cannot become the report folder, or None when it can."""
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        return f"--out: {out!r} is an existing file; give a folder (created if missing)"
    for parent in folder.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                return f"--out: {str(parent)!r} is a file, not a folder"
            break
    return None


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
    out_error = _check_out(args.out)
    if out_error:  # refuse before hours of training, not after
        print(f"skfrl audit: error: {out_error}", file=sys.stderr)
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
            protocol=args.protocol,
            repeats=args.repeats,
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
    summary = summarize(results)
    table = _summary_table(summary)
    print(
        f"skfrl audit: {output[2]['settings']['model']} on "
        f"{output[2]['data']['source']} (sensitive={output[2]['data']['sensitive']}), "
        f"{elapsed:.0f} s"
    )
    print(table.to_string(index=False))
    sensitive_name = str(output[2]["data"]["sensitive"])
    print("Verdict:")
    for line in _verdict(summary, sensitive_name):
        print("- " + line.replace("**", ""))
    print(f"report: {path} (and report.html, results.csv, settings.json)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
