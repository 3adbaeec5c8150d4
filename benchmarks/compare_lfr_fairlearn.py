"""Compare skfrl's LearnedFairRepresentation with fairlearn's LFR.

Both implement Zemel et al. (ICML 2013): prototypes, memberships M, loss
``A_x L_x + A_y L_y + A_z L_z``. They are run at matched K and loss weights
(fairlearn averages the parity gap over the K prototypes where skfrl and the
paper sum it, so fairlearn gets ``fairness_weight = K * A_z``), with the
parity term off (A_z = 0) and on (skfrl's default A_z), on

- make_biased_classification (2,000 rows, 10 features; half for training);
- an Adult (sex) subsample: ``--adult-rows`` training rows (fairlearn's
  finite-difference L-BFGS-B costs about K * D loss evaluations per
  iteration, so it cannot take the whole training set), scored on 5,000
  rows of the test part. skfrl is also fitted on the whole training set.

Printed per row: fit time, accuracy of the model's own predictions,
cross-validated probe ROC AUC for s from the representation on the test rows
(0.5 = no leakage), demographic-parity difference of the predictions. A
logistic regression on the raw features is the reference.

Usage::

    python benchmarks/compare_lfr_fairlearn.py [--adult-rows 1000]
        [--max-iter 30] [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import add_common_args, pin_threads
from fairlearn.metrics import demographic_parity_difference
from fairlearn.preprocessing import PrototypeRepresentationLearner
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skfrl.datasets import load_adult, make_biased_classification, make_preprocessor
from skfrl.metrics import representation_leakage
from skfrl.models import LearnedFairRepresentation

K = 10


def _row(data, name, a_z, fit_s, model, X_test, y_test, s_test, Z_test):
    y_pred = model.predict(X_test)
    acc = float(np.mean(y_pred == y_test))
    auc = representation_leakage(Z_test, s_test, random_state=0)
    dp = demographic_parity_difference(y_test, y_pred, sensitive_features=s_test)
    a_z = "-" if a_z is None else f"{a_z:g}"
    print(
        f"{data:<10} {name:<28} {a_z:>4} {fit_s:>8.1f} {acc:>8.3f} {auc:>9.3f} "
        f"{dp:>7.3f}",
        flush=True,
    )


def _compare(data, X_train, y_train, s_train, X_test, y_test, s_test, args):
    t = time.perf_counter()
    raw = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    raw.fit(X_train, y_train)
    _row(
        data,
        "raw features + logreg",
        None,
        time.perf_counter() - t,
        raw,
        X_test,
        y_test,
        s_test,
        X_test,
    )
    default_a_z = LearnedFairRepresentation().fairness_weight
    for a_z in (0.0, default_a_z):
        ours = LearnedFairRepresentation(
            n_components=K, fairness_weight=a_z, random_state=0
        )
        t = time.perf_counter()
        ours.fit(X_train, y_train, sensitive_features=s_train)
        fit_s = time.perf_counter() - t
        _row(
            data,
            "skfrl (Adam, mini-batch)",
            a_z,
            fit_s,
            ours,
            X_test,
            y_test,
            s_test,
            ours.transform(X_test),
        )
        theirs = PrototypeRepresentationLearner(
            n_prototypes=K,
            reconstruct_weight=ours.A_x,
            target_weight=ours.A_y,
            fairness_weight=K * a_z,
            max_iter=args.max_iter,
            random_state=0,
        )
        t = time.perf_counter()
        theirs.fit(X_train, y_train, sensitive_features=s_train)
        fit_s = time.perf_counter() - t
        _row(
            data,
            f"fairlearn (L-BFGS-B, {theirs.n_iter_} it)",
            a_z,
            fit_s,
            theirs,
            X_test,
            y_test,
            s_test,
            theirs.transform(X_test),
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adult-rows", type=int, default=1000)
    parser.add_argument("--max-iter", type=int, default=30, help="fairlearn max_iter")
    add_common_args(parser, quick="synthetic data only")
    args = parser.parse_args()
    pin_threads()

    print(f"K = {K}; columns: fit seconds, accuracy, probe AUC(s | Z), DP difference")
    print(
        f"{'data':<10} {'model':<28} {'A_z':>4} {'fit_s':>8} {'accuracy':>8} "
        f"{'probe_auc':>9} {'dp_diff':>7}"
    )
    X, y, s = make_biased_classification(n_samples=2000, random_state=0)
    half = len(X) // 2
    _compare(
        "synthetic", X[:half], y[:half], s[:half], X[half:], y[half:], s[half:], args
    )
    if args.quick:
        return

    X_train, y_train, s_train = load_adult(subset="train", return_X_y_s=True)
    X_test, y_test, s_test = load_adult(subset="test", return_X_y_s=True)
    pre = make_preprocessor(X_train).fit(X_train)
    X_train = pre.transform(X_train).to_numpy()
    X_test = pre.transform(X_test).to_numpy()[:5000]
    y_train, s_train = np.asarray(y_train), np.asarray(s_train)
    y_test, s_test = np.asarray(y_test)[:5000], np.asarray(s_test)[:5000]
    rng = np.random.default_rng(0)
    sub = rng.choice(len(X_train), size=args.adult_rows, replace=False)
    _compare(
        f"adult-{args.adult_rows}",
        X_train[sub],
        y_train[sub],
        s_train[sub],
        X_test,
        y_test,
        s_test,
        args,
    )
    for a_z in (0.0, LearnedFairRepresentation().fairness_weight):
        ours = LearnedFairRepresentation(
            n_components=K, fairness_weight=a_z, random_state=0
        )
        t = time.perf_counter()
        ours.fit(X_train, y_train, sensitive_features=s_train)
        _row(
            "adult-all",
            "skfrl (Adam, mini-batch)",
            a_z,
            time.perf_counter() - t,
            ours,
            X_test,
            y_test,
            s_test,
            ours.transform(X_test),
        )


if __name__ == "__main__":
    main()
