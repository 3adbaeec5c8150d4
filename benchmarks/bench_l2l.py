"""Adversarial training of a downstream classifier on Adult: ERM vs PGD vs L2L.

Trains :class:`~skfrl.defenses.RobustMLPClassifier` with ``attack=None``,
``"pgd"``, ``"l2l"`` and ``"pgd"`` with FAAL-style class DRO on a sample of
Adult (numeric columns mutable, one-hot columns fixed) and reports, over
several seeds, clean accuracy, accuracy under PGD-20 at two radii, the
worst (label x sex) cell accuracy clean and under attack, and the fit time.

Run::

    OMP_NUM_THREADS=1 python benchmarks/bench_l2l.py

The table is printed and written to ``benchmarks/results/bench_l2l.csv``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from _common import add_common_args, mean_sd, pin_threads, seed_range, write_runs

from skfrl.datasets import load_adult, make_preprocessor
from skfrl.defenses import RobustMLPClassifier
from skfrl.metrics import worst_group_accuracy

CONFIGS = {
    "erm": dict(attack=None),
    "pgd": dict(attack="pgd"),
    "l2l": dict(attack="l2l"),
    "pgd+dro": dict(attack="pgd", group_weighting="dro", dro_radius=0.1),
}


def _worst_group(y, correct, s) -> float:
    """Smallest accuracy over the (label x sex) cells, from per-row hits."""
    y = np.asarray(y)
    # A hit keeps the label, a miss flips it (the labels are binary).
    return worst_group_accuracy(y, np.where(correct, y, 1 - y), sensitive_features=s)


def main(argv=None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=5000)
    parser.add_argument("--n-test", type=int, default=5000)
    parser.add_argument("--max-epochs", type=int, default=20)
    parser.add_argument("--train-eps", type=float, default=0.3)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS))
    add_common_args(parser, seeds=3, out="bench_l2l")
    args = parser.parse_args(argv)
    pin_threads()

    X_all, y_all, s_all = load_adult(return_X_y_s=True)
    # torch's first backward pass pays one-off setup costs; keep them out of
    # the first configuration's fit time.
    RobustMLPClassifier(max_epochs=1).fit(np.eye(4), [0, 1, 0, 1])
    eval_eps = (0.1, 0.3)
    rows = []
    for seed in seed_range(args):
        rng = np.random.default_rng(seed)
        idx = rng.permutation(len(X_all))[: args.n_train + args.n_test]
        tr, te = idx[: args.n_train], idx[args.n_train :]
        pre = make_preprocessor(X_all).fit(X_all.iloc[tr])
        X_tr = pre.transform(X_all.iloc[tr])
        X_te = pre.transform(X_all.iloc[te]).to_numpy()
        numeric = X_all.select_dtypes("number").columns
        mutable = np.isin(X_tr.columns, numeric)
        X_tr = X_tr.to_numpy()
        y_tr, y_te = y_all.to_numpy()[tr], y_all.to_numpy()[te]
        s_te = s_all.to_numpy()[te]
        for name in args.configs:
            clf = RobustMLPClassifier(
                **CONFIGS[name],
                eps=args.train_eps,
                mutable=mutable,
                max_epochs=args.max_epochs,
                lr=1e-3,
                random_state=seed,
            )
            start = time.perf_counter()
            clf.fit(X_tr, y_tr)
            fit_s = time.perf_counter() - start
            clean = clf.predict(X_te) == y_te
            row = dict(
                config=name,
                seed=seed,
                clean_acc=clean.mean(),
                worst_group_acc=_worst_group(y_te, clean, s_te),
            )
            for eps in eval_eps:
                X_adv = clf.perturb(X_te, y_te, eps=eps, steps=20, random_state=seed)
                robust = clean & (clf.predict(X_adv) == y_te)
                row[f"robust_acc_{eps}"] = robust.mean()
                row[f"robust_worst_group_{eps}"] = _worst_group(y_te, robust, s_te)
            row["fit_seconds"] = fit_s
            rows.append(row)
            print(
                f"seed {seed} {name:8s} clean {row['clean_acc']:.3f} "
                f"rob0.3 {row['robust_acc_0.3']:.3f} fit {fit_s:.1f}s",
                flush=True,
            )
    result = write_runs(rows, args.out)
    metrics = [c for c in result.columns if c not in ("config", "seed")]
    summary = result.groupby("config", sort=False)[metrics].agg(["mean", "std"])
    table = pd.DataFrame(
        {
            m: [
                mean_sd(summary.loc[c, (m, "mean")], summary.loc[c, (m, "std")])
                for c in summary.index
            ]
            for m in metrics
        },
        index=summary.index,
    )
    print(
        f"\nAdult, {args.n_train} train / {args.n_test} test rows, "
        f"{args.seeds} seeds, train eps {args.train_eps}, PGD-20 evaluation; "
        "mean ± std over seeds"
    )
    print(table.T.to_string())
    print(f"\nwrote {args.out}")
    return result


if __name__ == "__main__":
    main()
