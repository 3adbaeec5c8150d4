"""Do sanitisers undo representation poisoning? ENG and anchoring vs filters.

For each dataset and seed: poison the training part with ENG
(:class:`~skfrl.attacks.PoisonGenerator`, crafted against the victim) and the
anchoring attacks RAA / NRAA (:class:`~skfrl.attacks.AnchorAttack`) at a 5 %
budget, run each sanitiser (none, k-NN consistency, loss, spectral signature,
gradient norm) at contamination 0.05 on the poisoned set, retrain the CFair
victim from scratch on the kept rows, and measure on held-out data how well a
probe recovers ``s`` from the representation (ROC AUC), its change against
the clean victim of the same seed, the sanitiser's precision / recall on the
poisons and the share of legitimate minority-group rows it removed.

Examples::

    python benchmarks/bench_defenses.py --quick
    python benchmarks/bench_defenses.py --datasets adult german --seeds 2
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from _common import (
    SCHEDULES,
    add_common_args,
    load_train_test,
    mean_sd,
    pin_threads,
    read_runs,
    seed_range,
    write_runs,
)
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skfrl.attacks import AnchorAttack, PoisonGenerator
from skfrl.datasets import make_preprocessor
from skfrl.defenses import (
    GradientFilter,
    KNNConsistencyFilter,
    LossFilter,
    SpectralSignatureFilter,
)
from skfrl.metrics import (
    minority_removal_rate,
    representation_leakage,
    sanitizer_precision_recall,
)
from skfrl.models import CFair

ATTACKS = ["eng", "raa", "nraa"]
SANITIZERS = ["none", "knn", "loss", "spectral", "gradient"]


def make_attack(name, victim, budget, seed):
    if name == "eng":
        return PoisonGenerator(victim, budget=budget, random_state=seed)
    kind = "random" if name == "raa" else "non_random"
    return AnchorAttack(kind, budget=budget, random_state=seed)


def make_sanitizer(name, victim, contamination, seed):
    if name == "knn":
        return KNNConsistencyFilter(contamination=contamination, random_state=seed)
    if name == "loss":
        return LossFilter(contamination=contamination, random_state=seed)
    if name == "spectral":
        return SpectralSignatureFilter(contamination=contamination, random_state=seed)
    return GradientFilter(
        victim, contamination=contamination, criterion="norm", random_state=seed
    )


def evaluate(base, X, y, s, Xt, yt, st, seed):
    """Retrain the victim from scratch on (X, y, s); leakage on held-out rows."""
    pre = make_preprocessor(X).fit(X)
    model = base.set_params(random_state=seed)
    model.fit(pre.transform(X), y, sensitive_features=s)
    Z = model.transform(pre.transform(Xt))
    clf = LogisticRegression(max_iter=2000).fit(model.transform(pre.transform(X)), y)
    return {
        "probe_auc": representation_leakage(Z, st, cv=3, random_state=seed),
        "accuracy": float(np.mean(clf.predict(Z) == np.asarray(yt))),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["adult", "german"])
    parser.add_argument("--attacks", nargs="+", default=ATTACKS)
    parser.add_argument("--sanitizers", nargs="+", default=SANITIZERS)
    parser.add_argument("--budget", type=float, default=0.05)
    parser.add_argument("--contamination", type=float, default=0.05)
    parser.add_argument("--n-train", type=int, default=6000)
    add_common_args(
        parser,
        seeds=2,
        quick="German, one seed",
        out="bench_defenses",
        merge=True,
    )
    args = parser.parse_args(argv)
    if args.merge:
        report(read_runs(args.merge))
        return
    if args.quick:
        args.datasets, args.seeds = ["german"], 1
    pin_threads()
    print(
        f"settings: datasets={args.datasets} attacks={args.attacks} "
        f"sanitizers={args.sanitizers} budget={args.budget} "
        f"contamination={args.contamination} seeds={args.seeds} "
        f"n_train(adult)={args.n_train}",
        flush=True,
    )
    rows = []
    start_all = time.perf_counter()
    for dataset in args.datasets:
        X, y, s, Xt, yt, st = load_train_test(dataset, args.n_train)
        schedule = SCHEDULES.get(dataset, {})
        for seed in seed_range(args):

            def victim_model(schedule=schedule, seed=seed):
                return CFair(random_state=seed, **schedule)

            # The attacker and the GradientFilter defender both see the
            # victim as a raw-data pipeline, as a practitioner would ship it.
            victim = make_pipeline(make_preprocessor(X), victim_model())
            clean = evaluate(victim_model(), X, y, s, Xt, yt, st, seed + 100)
            rows.append(
                dict(dataset=dataset, attack="clean", sanitizer="none", seed=seed)
                | clean
            )
            print(f"{dataset} seed={seed} clean AUC {clean['probe_auc']:.3f}")
            for aname in args.attacks:
                attack = make_attack(aname, victim, args.budget, seed)
                Xa, ya, sa = attack.fit_resample(X, y, sensitive_features=s)
                poison = attack.poison_mask_
                for sname in args.sanitizers:
                    t0 = time.perf_counter()
                    rec = dict(
                        dataset=dataset, attack=aname, sanitizer=sname, seed=seed
                    )
                    if sname == "none":
                        Xk, yk, sk = Xa, ya, sa
                        rec |= dict(precision=np.nan, recall=np.nan)
                        rec |= dict(minority_removal=np.nan, majority_removal=np.nan)
                    else:
                        san = make_sanitizer(
                            sname, victim, args.contamination, seed + 200
                        )
                        Xk, yk, sk = san.fit_resample(Xa, ya, sensitive_features=sa)
                        prec, rec_ = sanitizer_precision_recall(
                            san.removed_mask_, poison
                        )
                        rates = minority_removal_rate(
                            san.removed_mask_, sa, poison_mask=poison, per_group=True
                        )
                        minority = minority_removal_rate(
                            san.removed_mask_, sa, poison_mask=poison
                        )
                        rec |= dict(
                            precision=prec,
                            recall=rec_,
                            minority_removal=minority,
                            # The other group's rate: the yardstick for
                            # "disproportionate" (binary attributes here).
                            majority_removal=float(rates[rates != minority].mean())
                            if (rates != minority).any()
                            else minority,
                        )
                    rec |= evaluate(victim_model(), Xk, yk, sk, Xt, yt, st, seed + 100)
                    rec["delta_auc"] = rec["probe_auc"] - clean["probe_auc"]
                    rec["time"] = time.perf_counter() - t0
                    rows.append(rec)
                    print(
                        f"{dataset} seed={seed} {aname} + {sname}: AUC "
                        f"{rec['probe_auc']:.3f} (delta {rec['delta_auc']:+.3f}) "
                        f"prec {rec['precision']:.2f} "
                        f"[{time.perf_counter() - start_all:.0f}s]",
                        flush=True,
                    )
            # Write after every seed so that an interrupted run keeps results.
            write_runs(rows, args.out)
    print(f"runs written to {args.out} ({time.perf_counter() - start_all:.0f}s)")
    report(pd.DataFrame(rows))


METRICS = [
    "probe_auc",
    "delta_auc",
    "accuracy",
    "precision",
    "recall",
    "minority_removal",
    "majority_removal",
]


def report(df: pd.DataFrame) -> None:
    """Print a markdown table of mean ± sd over seeds."""
    keys = ["dataset", "attack", "sanitizer"]
    grouped = df.groupby(keys, sort=False)
    mean, sd, n = grouped[METRICS].mean(), grouped[METRICS].std(), grouped.size()
    print("\n| " + " | ".join([*keys, *METRICS, "seeds"]) + " |")
    print("|" + "---|" * (len(keys) + len(METRICS) + 1))
    for key in mean.index:
        cells = list(key) + [mean_sd(mean.loc[key, m], sd.loc[key, m]) for m in METRICS]
        print("| " + " | ".join([*cells, str(n.loc[key])]) + " |")


if __name__ == "__main__":
    main()
