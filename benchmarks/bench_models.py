"""Accuracy / leakage benchmark of every fair representation model in skfrl.

Every model in :mod:`skfrl.models` is fitted twice, with its fairness term at
the default weight ("fair") and at weight 0 ("unconstrained": same
architecture and training, the fairness term switched off), on

- **Adult** (``sensitive="sex"``): fitted on a random subsample of the
  original training part, evaluated on a random subsample of the original
  test part;
- **German credit** (``sensitive="age"``, ``<=25`` vs ``>25``): a 70/30
  split stratified on ``y`` and ``s`` jointly.

Adult runs three seeds, German ten (its 300 test rows make one split's probe
AUC vary by up to 0.1). The subsample / split is redrawn for every seed, and
the seed is also the model's ``random_state``, so the spread over seeds
covers both the data and the training randomness.
:func:`skfrl.datasets.make_preprocessor` is fitted on the training part. The
preprocessed raw features are a reference row.

Measured on the test part, per (dataset, model, fairness on/off, seed):

- ``accuracy``: a ``StandardScaler + LogisticRegression`` fitted on the
  training representation ``Z`` and scored on the test one;
- ``dp_diff`` / ``eo_diff``: demographic-parity and equalized-odds
  differences of that logistic regression's test predictions
  (:func:`fairlearn.metrics.demographic_parity_difference`,
  :func:`fairlearn.metrics.equalized_odds_difference`). Equalized odds is
  what CFair targets; the other models target demographic parity;
- ``probe_auc`` / ``probe_ber``: cross-validated ROC AUC and balanced error
  rate of a logistic probe that predicts ``s`` from the test ``Z``
  (:func:`skfrl.metrics.representation_leakage`, ``cv=3``). 0.5 and 0.5 are
  "no leakage" for a binary ``s``;
- ``cond_probe_auc``: the same probe's AUC within each class of ``y``,
  averaged (CFair's target, ``Z`` independent of ``s`` given ``y``); the
  reference row "y alone" gives the marginal leakage any representation
  that keeps ``y`` cannot go below;
- ``fld``: :func:`skfrl.metrics.fld_score` of ``s`` in the test ``Z``;
- ``fit_s`` / ``fit_cpu_s``: wall-clock and CPU seconds of the model's
  ``fit`` (CPU time is the less load-dependent one on a shared machine).

Models are picked up from :mod:`skfrl.models` by name: those not (yet)
importable are listed as missing and skipped. Each model runs with its
defaults, except for the epoch overrides in ``EPOCH_OVERRIDES`` (printed and
written into the table caption).

Everything runs on one thread (torch, OpenMP and BLAS): on a shared machine
extra threads make runs slower and their timings erratic.

``--results-dir`` writes the run CSVs elsewhere (e.g. for a smoke run).

Outputs:

- a markdown table (mean ± sd over seeds) on stdout;
- ``benchmarks/results/bench_models.csv`` (one row per run) and
  ``benchmarks/results/bench_models_summary.csv`` (mean and sd);
- on a full run with the default settings, the tables of
  ``docs/user_guide/models_benchmark.rst`` (between its
  ``BEGIN GENERATED`` / ``END GENERATED`` comment lines; the rest of the
  page, including the discussion of the numbers, is left alone).

Usage::

    .venv/bin/python benchmarks/bench_models.py --n-jobs 2  # full run (~15 min)
    .venv/bin/python benchmarks/bench_models.py --quick   # smoke run (~1 min)
    .venv/bin/python benchmarks/bench_models.py --seeds 0 1 \\
        --datasets german --models CFair-EO LFR
"""

from __future__ import annotations

import argparse
import re
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from _common import RESULTS_DIR, SCHEDULES, add_common_args, mean_sd, pin_threads
from fairlearn.metrics import (
    demographic_parity_difference,
    equalized_odds_difference,
)
from joblib import Parallel, delayed
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skfrl.models
from skfrl.datasets import load_adult, load_german, make_preprocessor
from skfrl.metrics import fld_score, representation_leakage

ROOT = Path(__file__).resolve().parent.parent
DOCS_PAGE = ROOT / "docs" / "user_guide" / "models_benchmark.rst"
BEGIN_MARK = ".. BEGIN GENERATED TABLES (benchmarks/bench_models.py)"
END_MARK = ".. END GENERATED TABLES"


@dataclass(frozen=True)
class ModelSpec:
    """A model of the benchmark: class, fixed parameters, fairness weight."""

    label: str
    class_name: str
    fairness_param: str
    params: dict = field(default_factory=dict)


# The parameter that weighs each model's fairness term (for the docs).
MODEL_SPECS = [
    ModelSpec("Adversarial", "AdversarialFairRepresentation", "fairness_weight"),
    ModelSpec("CFair", "CFair", "fairness_weight", {"mode": "balanced"}),
    ModelSpec("CFair-EO", "CFair", "fairness_weight", {"mode": "eo"}),
    ModelSpec("LFR", "LearnedFairRepresentation", "fairness_weight"),
    ModelSpec("ICVAE-S", "ICVAE", "fairness_weight", {"supervised": True}),
    ModelSpec("ICVAE-US", "ICVAE", "fairness_weight", {"supervised": False}),
    ModelSpec("VFAE", "VFAE", "fairness_weight"),
    ModelSpec("AdversarialVAE", "AdversarialVAE", "fairness_weight"),
]

# ``max_epochs`` overrides of the full run, by model label (runtime).
EPOCH_OVERRIDES: dict[str, int] = {}
QUICK_EPOCHS = 3

DATASETS = ("adult", "german")
# Seeds of a full run. German's 300 test rows make one split's probe AUC vary
# by up to 0.1 (sd over splits), so it gets more splits than Adult.
DEFAULT_SEEDS = {"adult": [0, 1, 2], "german": list(range(10))}
# Full run: Adult subsample sizes (train, test).
ADULT_SIZES = (10_000, 5_000)
QUICK_ADULT_SIZES = (2_000, 1_000)
METRICS = (
    "accuracy",
    "probe_auc",
    "probe_ber",
    "cond_probe_auc",
    "fld",
    "dp_diff",
    "eo_diff",
    "fit_cpu_s",
)


# -- data ---------------------------------------------------------------------
def _take(X, y, s, rows):
    return X.iloc[rows], y.iloc[rows], s.iloc[rows]


def load_split(dataset: str, seed: int, adult_sizes: tuple[int, int]):
    """``(X_train, y_train, s_train), (X_test, y_test, s_test)`` as pandas."""
    rng = np.random.default_rng(seed)
    if dataset == "adult":
        parts = []
        for subset, n in zip(("train", "test"), adult_sizes, strict=True):
            X, y, s = load_adult(sensitive="sex", subset=subset, return_X_y_s=True)
            rows = np.sort(rng.choice(len(X), size=min(n, len(X)), replace=False))
            parts.append(_take(X, y, s, rows))
        return parts[0], parts[1]
    if dataset == "german":
        X, y, s = load_german(sensitive="age", return_X_y_s=True)
        strata = y.astype(str) + "|" + s.astype(str)
        train, test = train_test_split(
            np.arange(len(X)), test_size=0.3, stratify=strata, random_state=seed
        )
        return _take(X, y, s, np.sort(train)), _take(X, y, s, np.sort(test))
    raise ValueError(f"unknown dataset {dataset!r}")


# -- models -------------------------------------------------------------------
def available_specs(labels: list[str] | None) -> tuple[list[ModelSpec], list[str]]:
    """The specs whose class ``skfrl.models`` exports, and the missing labels."""
    specs = [s for s in MODEL_SPECS if labels is None or s.label in labels]
    found = [s for s in specs if hasattr(skfrl.models, s.class_name)]
    missing = [f"{s.label} ({s.class_name})" for s in specs if s not in found]
    return found, missing


def make_model(
    spec: ModelSpec,
    fair: bool,
    seed: int,
    max_epochs: int | None,
    schedule: dict | None = None,
):
    params = dict(spec.params, **(schedule or {}), random_state=seed)
    if max_epochs is not None:
        params["max_epochs"] = max_epochs
    return getattr(skfrl.models, spec.class_name)(**params)


# -- evaluation ---------------------------------------------------------------
def evaluate(Z_train, y_train, Z_test, y_test, s_test, seed: int) -> dict:
    """Downstream accuracy / parity and the leakage of ``s`` from ``Z_test``."""
    downstream = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    downstream.fit(Z_train, y_train)
    y_pred = downstream.predict(Z_test)
    return {
        "accuracy": float(np.mean(y_pred == np.asarray(y_test))),
        "dp_diff": float(
            demographic_parity_difference(y_test, y_pred, sensitive_features=s_test)
        ),
        "eo_diff": float(
            equalized_odds_difference(y_test, y_pred, sensitive_features=s_test)
        ),
        "probe_auc": representation_leakage(
            Z_test, s_test, metric="roc_auc", cv=3, random_state=seed
        ),
        "probe_ber": representation_leakage(
            Z_test, s_test, metric="ber", cv=3, random_state=seed
        ),
        "cond_probe_auc": conditional_leakage(Z_test, y_test, s_test, seed),
        "fld": fld_score(Z_test, s_test),
    }


def conditional_leakage(Z, y, s, seed: int) -> float:
    """Probe AUC for ``s`` within each class of ``y``, averaged over classes.

    What CFair targets (``Z`` independent of ``s`` given ``y``): unlike the
    marginal probe, it does not count what ``Z`` reveals about ``s`` through
    ``y`` itself.
    """
    y, s = np.asarray(y), np.asarray(s)
    aucs = [
        representation_leakage(
            Z[y == k], s[y == k], metric="roc_auc", cv=3, random_state=seed
        )
        for k in np.unique(y)
        if min(np.unique(s[y == k], return_counts=True)[1], default=0) >= 3
        and len(np.unique(s[y == k])) > 1
    ]
    return float(np.mean(aucs)) if aucs else float("nan")


def warm_up(specs) -> None:
    """Fit each class once on tiny data, so no timing pays torch's first use."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    s = np.where(X[:, 1] > 0, "a", "b")
    for spec in specs:
        make_model(spec, True, 0, 1).fit(X, y, sensitive_features=s)


def run_one_split(dataset, seed, specs, args) -> list[dict]:
    (X_tr, y_tr, s_tr), (X_te, y_te, s_te) = load_split(
        dataset, seed, QUICK_ADULT_SIZES if args.quick else ADULT_SIZES
    )
    pre = make_preprocessor(X_tr).fit(X_tr)
    # float32 is what the torch models train on; the reference row uses the
    # same arrays.
    Xt_tr = pre.transform(X_tr).to_numpy(np.float32)
    Xt_te = pre.transform(X_te).to_numpy(np.float32)
    y_tr, y_te = y_tr.to_numpy(), y_te.to_numpy()
    base = {"dataset": dataset, "seed": seed, "n_train": len(y_tr), "n_test": len(y_te)}

    def reference(model: str, metrics: dict) -> dict:
        # A row without a fitted model: no fairness switch, epochs or fit time.
        return {
            **base,
            "model": model,
            "fairness": "-",
            "max_epochs": np.nan,
            "fit_s": np.nan,
            "fit_cpu_s": np.nan,
            **metrics,
        }

    # The label floor: a representation that keeps y exactly leaks at least
    # what y says about s (German: probe AUC about 0.55). Only the leakage
    # columns mean something here (a classifier reading y is trivially right).
    floor = evaluate(y_tr[:, None], y_tr, y_te[:, None], y_te, s_te, seed)
    for key in ("accuracy", "dp_diff", "eo_diff"):
        floor[key] = np.nan
    rows = [
        reference("raw features", evaluate(Xt_tr, y_tr, Xt_te, y_te, s_te, seed)),
        reference("y alone (label floor)", floor),
    ]
    for spec in specs:
        epochs = QUICK_EPOCHS if args.quick else EPOCH_OVERRIDES.get(spec.label)
        schedule = SCHEDULES.get(dataset, {})
        if args.quick:
            schedule = {k: v for k, v in schedule.items() if k != "max_epochs"}
        for fair in (True, False):
            model = make_model(spec, fair, seed, epochs, schedule)
            wall, cpu = time.perf_counter(), time.process_time()
            # The unconstrained version is the same model fitted without
            # sensitive features: no adversary, no invariance or parity term,
            # and no decoder conditioned on s (setting only the weight to 0
            # would leave ICVAE's and VFAE's s-conditioned decoders, which
            # already remove much of s on their own).
            model.fit(Xt_tr, y_tr, sensitive_features=s_tr if fair else None)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            row = {
                **base,
                "model": spec.label,
                "fairness": "fair" if fair else "unconstrained",
                "max_epochs": model.max_epochs,
                "fit_s": wall,
                "fit_cpu_s": cpu,
                **evaluate(
                    model.transform(Xt_tr),
                    y_tr,
                    model.transform(Xt_te),
                    y_te,
                    s_te,
                    seed,
                ),
            }
            rows.append(row)
            print(
                f"  {dataset:6s} seed={seed} {spec.label:15s} {row['fairness']:13s} "
                f"acc={row['accuracy']:.3f} auc={row['probe_auc']:.3f} "
                f"dp={row['dp_diff']:.3f} fit={wall:.1f}s (cpu {cpu:.1f}s)",
                flush=True,
            )
    return rows


_WARMED: set = set()


def _run_split(dataset, seed, specs, args) -> list[dict]:
    """One split in this process: one thread, torch warmed up once."""
    pin_threads()
    with warnings.catch_warnings():
        # A probe on an almost-constant Z can warn about convergence; the
        # numbers are still what they are.
        warnings.simplefilter("ignore", category=UserWarning)
        if not _WARMED:
            warm_up(specs)
            _WARMED.add(True)
        return run_one_split(dataset, seed, specs, args)


# -- reporting ----------------------------------------------------------------
def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd over seeds, in the order the rows were run."""
    keys = ["dataset", "model", "fairness"]
    metrics = [*METRICS, "fit_s"]
    grouped = results.groupby(keys, sort=False)
    summary = grouped[metrics].agg(["mean", "std"])
    summary.columns = [f"{m}_{stat}" for m, stat in summary.columns]
    summary["n_seeds"] = grouped.size()
    summary["max_epochs"] = grouped["max_epochs"].first()
    return summary.reset_index()


HEADERS = {
    "model": "model",
    "fairness": "fairness",
    "accuracy": "accuracy ↑",
    "probe_auc": "probe AUC(s) ↓",
    "probe_ber": "probe BER(s) ↑",
    "cond_probe_auc": "probe AUC(s | y) ↓",
    "fld": "FLD(s) ↓",
    "dp_diff": "DP diff ↓",
    "eo_diff": "EO diff ↓",
    "fit_cpu_s": "fit time (CPU s)",
}


def _cell(row, metric: str) -> str:
    digits = 1 if metric in ("fit_cpu_s", "fld") else 3
    return mean_sd(
        row[f"{metric}_mean"], row[f"{metric}_std"], digits=digits, missing="–"
    )


def table_rows(summary: pd.DataFrame, dataset: str) -> list[list[str]]:
    rows = []
    for _, row in summary[summary["dataset"] == dataset].iterrows():
        rows.append([row["model"], row["fairness"], *(_cell(row, m) for m in METRICS)])
    return rows


def markdown_table(rows: list[list[str]]) -> str:
    header = list(HEADERS.values())
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def csv_table_directive(title: str, rows: list[list[str]]) -> str:
    def quote(cell: str) -> str:
        return '"' + cell.replace('"', '""') + '"'

    lines = [
        f".. csv-table:: {title}",
        "   :header: " + ", ".join(quote(h) for h in HEADERS.values()),
        "   :widths: 14, 11, 11, 11, 11, 11, 9, 11, 11, 8",
        "",
    ]
    lines += ["   " + ", ".join(quote(c) for c in r) for r in rows]
    return "\n".join(lines)


def describe_setup(summary: pd.DataFrame, dataset: str, args) -> str:
    sub = summary[summary["dataset"] == dataset]
    n_seeds = int(sub["n_seeds"].max())
    if dataset == "adult":
        sizes = QUICK_ADULT_SIZES if args.quick else ADULT_SIZES
        data = (
            f"Adult, s = sex; fitted on {sizes[0]:,} rows of the training part, "
            f"evaluated on {sizes[1]:,} rows of the test part"
        )
    else:
        data = "German credit, s = age (<=25 / >25); stratified 70/30 split"
    if args.quick:
        epochs = f"all models max_epochs={QUICK_EPOCHS} (quick run)"
    elif EPOCH_OVERRIDES:
        epochs = "model defaults except " + ", ".join(
            f"{label} max_epochs={n}" for label, n in EPOCH_OVERRIDES.items()
        )
    else:
        epochs = "all models with their default parameters and epochs"
    schedule = SCHEDULES.get(dataset)
    if schedule and not args.quick:
        epochs = "every model with its default parameters except " + ", ".join(
            f"{k}={v}" for k, v in schedule.items()
        )
    return f"{data}; mean ± sd over {n_seeds} seeds; {epochs}"


DOCS_TEMPLATE = """\
.. _models_benchmark:

===========================
Benchmark of the FRL models
===========================

{begin}

{end}
"""


def update_docs(summary: pd.DataFrame, datasets: list[str], args) -> None:
    blocks = [
        BEGIN_MARK,
        "",
        ".. This block is rewritten by benchmarks/bench_models.py; edit the",
        "   script, not the tables.",
        "",
    ]
    for dataset in datasets:
        blocks += [
            csv_table_directive(
                describe_setup(summary, dataset, args), table_rows(summary, dataset)
            ),
            "",
        ]
    blocks.append(END_MARK)
    generated = "\n".join(blocks)
    text = (
        DOCS_PAGE.read_text()
        if DOCS_PAGE.exists()
        else DOCS_TEMPLATE.format(begin=BEGIN_MARK, end=END_MARK)
    )
    pattern = re.compile(re.escape(BEGIN_MARK) + r".*?" + re.escape(END_MARK), re.S)
    if not pattern.search(text):
        raise RuntimeError(f"{DOCS_PAGE} has no {BEGIN_MARK!r} ... {END_MARK!r} block")
    DOCS_PAGE.write_text(pattern.sub(lambda _: generated, text))
    print(f"tables written to {DOCS_PAGE.relative_to(ROOT)}")


# -- main ---------------------------------------------------------------------
def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(
        parser,
        quick=f"smoke run: small Adult subsample, {QUICK_EPOCHS} epochs, seed 0",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=None)
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=None)
    parser.add_argument(
        "--models",
        nargs="+",
        choices=[s.label for s in MODEL_SPECS],
        default=None,
        help="model labels (default: all)",
    )
    parser.add_argument(
        "--n-jobs",
        type=int,
        default=1,
        help="splits run in parallel (joblib); fit times then share the cores",
    )
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=RESULTS_DIR,
        help="folder of bench_models.csv and bench_models_summary.csv",
    )
    parser.add_argument(
        "--no-docs",
        action="store_true",
        help="do not rewrite the tables of docs/user_guide/models_benchmark.rst "
        "(only full default runs rewrite them anyway)",
    )
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    default_run = (
        not args.quick
        and args.seeds is None
        and args.datasets is None
        and args.models is None
    )
    datasets = list(args.datasets or DATASETS)
    if args.seeds is not None or args.quick:
        seeds = {d: args.seeds or [0] for d in datasets}
    else:
        seeds = {d: DEFAULT_SEEDS[d] for d in datasets}
    specs, missing = available_specs(args.models)
    pin_threads()
    print(f"models: {', '.join(s.label for s in specs)}")
    print(f"missing from skfrl.models: {', '.join(missing) if missing else 'none'}")
    print(f"datasets and seeds: {seeds}", flush=True)

    start = time.perf_counter()
    splits = [(d, seed) for d in datasets for seed in seeds[d]]
    parts = Parallel(n_jobs=args.n_jobs)(
        delayed(_run_split)(dataset, seed, specs, args) for dataset, seed in splits
    )
    rows = [row for part in parts for row in part]
    elapsed = time.perf_counter() - start

    results = pd.DataFrame(rows)
    summary = summarize(results)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    results.to_csv(args.results_dir / "bench_models.csv", index=False)
    summary.to_csv(args.results_dir / "bench_models_summary.csv", index=False)

    for dataset in datasets:
        print(f"\n**{describe_setup(summary, dataset, args)}**\n")
        print(markdown_table(table_rows(summary, dataset)))
    print(f"\nmissing models: {', '.join(missing) if missing else 'none'}")
    print(f"total time: {elapsed:.0f} s")
    print(f"results written to {args.results_dir}/bench_models*.csv")
    if default_run and not args.no_docs:
        update_docs(summary, datasets, args)
    else:
        print("docs page not rewritten (only a full default run rewrites it)")


if __name__ == "__main__":
    main(sys.argv[1:])
