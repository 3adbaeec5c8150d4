"""Group robustness versus poisoning defenses on tabular data (the "tension").

Panaitescu-Liess et al. (ICLR 2024) found that methods which look for hard,
low-confidence rows cannot tell minority rows from poisons: JTT up-weights a
backdoor's poisons, and filters that remove hard rows remove minority rows.
This benchmark reproduces the setting on Adult (sex) and COMPAS (race): a
:class:`~skfrl.attacks.DirtyLabelBackdoor` at several poison rates, then
{ERM, JTT} x {no sanitiser, LossFilter, KNNConsistencyFilter}, with a
``HistGradientBoostingClassifier`` on ``make_preprocessor`` features as the
final model (JTT: its ``sample_weight_`` passed to that model; with a
sanitiser, JTT runs on the kept rows, the naive "filter, then reweight").

Per cell: attack success on triggered test rows (rows already of the target
label left out), clean accuracy, worst-group accuracy over (label x group)
cells, JTT's amplification of the poisons, the share of legitimate rows of
the smallest group (and of the smallest label x group cell) that the
sanitiser removed next to the other group's share, and the sanitiser's
precision / recall on the poisons.

Examples::

    python benchmarks/bench_tension.py --quick
    python benchmarks/bench_tension.py --seeds 3 --rates 0 0.001 0.002 0.005 0.01
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from _common import (
    add_common_args,
    mean_sd,
    pin_threads,
    read_runs,
    seed_range,
    write_runs,
)
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from skfrl.attacks import DirtyLabelBackdoor
from skfrl.datasets import load_adult, load_compas, make_preprocessor
from skfrl.defenses import JTTReweighter, KNNConsistencyFilter, LossFilter
from skfrl.metrics import (
    attack_success_rate,
    minority_removal_rate,
    poison_amplification,
    sanitizer_precision_recall,
    worst_group_accuracy,
)

SANITIZERS = ["none", "loss", "knn"]
TRAINERS = ["erm", "jtt"]


def load(name: str, n_train: int, n_test: int, seed: int):
    if name == "adult":
        X, y, s = load_adult(sensitive="sex", subset="train", return_X_y_s=True)
    else:
        X, y, s = load_compas(sensitive="race", return_X_y_s=True)
    n_train = min(n_train, int(0.7 * len(X)))
    n_test = min(n_test, len(X) - n_train)
    strata = y.astype(str) + "_" + s.astype(str)
    return train_test_split(
        X,
        y,
        s,
        train_size=n_train,
        test_size=n_test,
        stratify=strata,
        random_state=seed,
    )


def final_model(X, seed):
    return make_pipeline(
        make_preprocessor(X), HistGradientBoostingClassifier(random_state=seed)
    )


def run_cell(X, y, s, poison, trainer, sanitizer, contamination, upweight, seed):
    """Sanitise (optionally), reweight (JTT, optionally), fit the final model."""
    rec = {}
    if sanitizer == "none":
        kept = np.arange(len(X))
    else:
        san = (
            LossFilter(contamination=contamination, random_state=seed)
            if sanitizer == "loss"
            else KNNConsistencyFilter(contamination=contamination, random_state=seed)
        )
        san.fit(X, y, sensitive_features=s)
        removed = san.removed_mask_
        kept = san.sample_indices_
        # One string key per (label, group) cell: a 1-D attribute whose
        # smallest value is the smallest cell.
        cells = (
            np.asarray(y).astype(str).astype(object) + "|" + np.asarray(s).astype(str)
        )
        rates = minority_removal_rate(removed, s, poison_mask=poison, per_group=True)
        rec["minority_removal"] = minority_removal_rate(removed, s, poison_mask=poison)
        # The other group's rate is the yardstick for "disproportionate".
        rec["majority_removal"] = float(
            rates.drop(
                index=pd.Series(np.asarray(s)[~poison]).value_counts().idxmin()
            ).mean()
        )
        rec["min_cell_removal"] = minority_removal_rate(
            removed, cells, poison_mask=poison
        )
        rec["overall_removal"] = float(removed[~poison].mean())
        if poison.any():
            rec["precision"], rec["recall"] = sanitizer_precision_recall(
                removed, poison
            )
    Xk, yk = X.iloc[kept], y.iloc[kept]
    model = final_model(X, seed)
    if trainer == "jtt":
        jtt = JTTReweighter(upweight=upweight, random_state=seed).fit(Xk, yk)
        weight = jtt.sample_weight_
        if poison[kept].any():
            amp = poison_amplification(weight, poison[kept])
            rec["amplification"] = amp.amplification
            rec["poisons_upweighted"] = float(jtt.error_mask_[poison[kept]].mean())
        model.fit(Xk, yk, histgradientboostingclassifier__sample_weight=weight)
    else:
        model.fit(Xk, yk)
    return rec, model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["adult", "compas"])
    parser.add_argument(
        "--rates", nargs="+", type=float, default=[0.0, 0.001, 0.002, 0.005, 0.01]
    )
    parser.add_argument("--n-train", type=int, default=8000)
    parser.add_argument("--n-test", type=int, default=4000)
    parser.add_argument("--contamination", type=float, default=0.05)
    parser.add_argument("--upweight", type=float, default=5.0)
    add_common_args(
        parser,
        seeds=3,
        quick="one seed, rates 0 and 0.002, 3,000 training rows",
        out="bench_tension",
        merge=True,
    )
    args = parser.parse_args(argv)
    if args.merge:
        report(read_runs(args.merge))
        return
    if args.quick:
        args.seeds, args.rates, args.n_train = 1, [0.0, 0.002], 3000
    pin_threads()
    print(
        f"settings: datasets={args.datasets} rates={args.rates} seeds={args.seeds} "
        f"n_train<={args.n_train} n_test<={args.n_test} "
        f"contamination={args.contamination} upweight={args.upweight}",
        flush=True,
    )
    start = time.perf_counter()
    rows = []
    for dataset in args.datasets:
        for seed in seed_range(args):
            X, Xt, y, yt, s, st = load(dataset, args.n_train, args.n_test, seed)
            for rate in args.rates:
                # Rate 0 still needs the trigger (for the no-poison baseline
                # of the attack success); the trigger depends on X only.
                backdoor = DirtyLabelBackdoor(
                    budget=rate if rate > 0 else 1, random_state=seed
                )
                Xp, yp, sp = backdoor.fit_resample(X, y, sensitive_features=s)
                poison = backdoor.poison_mask_
                if rate == 0:
                    Xp, yp, sp, poison = X, y, s, np.zeros(len(X), dtype=bool)
                Xtrig = backdoor.apply_trigger(Xt)
                target = backdoor.target_label_
                for sanitizer in SANITIZERS:
                    for trainer in TRAINERS:
                        rec, model = run_cell(
                            Xp,
                            yp,
                            sp,
                            poison,
                            trainer,
                            sanitizer,
                            args.contamination,
                            args.upweight,
                            seed,
                        )
                        y_pred = model.predict(Xt)
                        rec |= dict(
                            dataset=dataset,
                            rate=rate,
                            n_poison=int(poison.sum()),
                            trainer=trainer,
                            sanitizer=sanitizer,
                            seed=seed,
                            asr=attack_success_rate(
                                model.predict(Xtrig), target, y_true=yt
                            ),
                            accuracy=float(np.mean(y_pred == np.asarray(yt))),
                            wga=worst_group_accuracy(yt, y_pred, sensitive_features=st),
                        )
                        rows.append(rec)
                print(
                    f"{dataset} seed={seed} rate={rate}: trigger {backdoor.trigger_} "
                    f"[{time.perf_counter() - start:.0f}s]",
                    flush=True,
                )
            # Write as we go so that an interrupted run keeps its results.
            write_runs(rows, args.out)
    print(f"runs written to {args.out} ({time.perf_counter() - start:.0f}s)")
    report(pd.DataFrame(rows))


METRICS = [
    "asr",
    "asr_gain",
    "accuracy",
    "wga",
    "amplification",
    "poisons_upweighted",
    "minority_removal",
    "majority_removal",
    "min_cell_removal",
    "precision",
    "recall",
]


def report(df: pd.DataFrame) -> None:
    """Print a markdown table of mean ± sd over seeds."""
    for col in METRICS:
        if col not in df:
            df[col] = np.nan
    keys = ["dataset", "rate", "n_poison", "sanitizer", "trainer"]
    # Success over the same pipeline without poisons (same seed): JTT alone
    # can push triggered rows to the target label by shifting predictions.
    base = df[df.rate == 0].set_index(["dataset", "seed", "trainer", "sanitizer"])
    idx = list(zip(df.dataset, df.seed, df.trainer, df.sanitizer, strict=True))
    if len(base):
        df["asr_gain"] = df["asr"].to_numpy() - base.loc[idx, "asr"].to_numpy()
    df = df.assign(n_poison=df.groupby(["dataset", "rate"]).n_poison.transform("max"))
    grouped = df.groupby(keys, sort=False)
    mean, sd, n = grouped[METRICS].mean(), grouped[METRICS].std(), grouped.size()
    print("\n| " + " | ".join([*keys, *METRICS, "seeds"]) + " |")
    print("|" + "---|" * (len(keys) + len(METRICS) + 1))
    for key in mean.index:
        cells = [str(k) for k in key]
        cells += [mean_sd(mean.loc[key, m], sd.loc[key, m]) for m in METRICS]
        print("| " + " | ".join([*cells, str(n.loc[key])]) + " |")


if __name__ == "__main__":
    main()
