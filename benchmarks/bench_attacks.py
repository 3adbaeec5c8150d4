"""Attack effectiveness: victims retrained from scratch on clean + poison.

For each dataset, victim, budget, attack and seed: poison the training part,
retrain the victim from scratch (fresh seed), and measure on held-out data
how much the representation leaks ``s`` (probe ROC AUC and balanced error
rate, FLD) and the task accuracy. Also prints ENG's crafting time divided by
one clean training of the same victim (DESIGN.md target: <= 2).

Examples::

    python benchmarks/bench_attacks.py --quick
    python benchmarks/bench_attacks.py --datasets adult german --victims adv cfair \
        --budgets 0.05 0.1 --seeds 3
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.base import clone
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from skfrl.attacks import (
    AnchorAttack,
    LabelFlipping,
    PoisonGenerator,
    RandomPoisoning,
)
from skfrl.datasets import load_adult, load_german, make_preprocessor
from skfrl.metrics import fld_score, representation_leakage
from skfrl.models import ICVAE, AdversarialFairRepresentation, CFair

VICTIMS = {
    "adv": lambda: AdversarialFairRepresentation(),
    "cfair": lambda: CFair(mode="balanced"),
    "cfair-eo": lambda: CFair(mode="eo"),
    "icvae-s": lambda: ICVAE(supervised=True),
    "icvae-us": lambda: ICVAE(supervised=False),
}


def load(name: str, n_train: int | None, seed: int = 0):
    if name == "adult":
        X, y, s = load_adult(sensitive="sex", subset="train", return_X_y_s=True)
        Xt, yt, st = load_adult(sensitive="sex", subset="test", return_X_y_s=True)
        Xt, yt, st = Xt.iloc[:5000], yt.iloc[:5000], st.iloc[:5000]
    else:
        X, y, s = load_german(sensitive="age", return_X_y_s=True)
        strata = y.astype(str) + s.astype(str)
        X, Xt, y, yt, s, st = train_test_split(
            X, y, s, test_size=0.3, stratify=strata, random_state=seed
        )
    if n_train and n_train < len(X):
        idx = np.sort(np.random.default_rng(seed).choice(len(X), n_train, False))
        X, y, s = X.iloc[idx], y.iloc[idx], s.iloc[idx]
    return X, y, s, Xt, yt, st


def attacks(victim, budget, seed):
    return {
        "eng": PoisonGenerator(victim, budget=budget, random_state=seed),
        "raa": AnchorAttack("random", budget=budget, random_state=seed),
        "nraa": AnchorAttack("non_random", budget=budget, random_state=seed),
        "random": RandomPoisoning(budget=budget, random_state=seed),
        "label_flip": LabelFlipping(
            budget=budget, flip_sensitive=True, random_state=seed
        ),
    }


def evaluate(model, X, y, s, Xt, yt, st, seed):
    pre = make_preprocessor(X).fit(X)
    model = clone(model).set_params(random_state=seed)
    start = time.perf_counter()
    model.fit(pre.transform(X), y, sensitive_features=s)
    fit_time = time.perf_counter() - start
    Z = model.transform(pre.transform(Xt))
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(max_iter=2000).fit(model.transform(pre.transform(X)), y)
    return {
        "probe_auc": representation_leakage(Z, st, cv=3, random_state=seed),
        "probe_ber": representation_leakage(
            Z, st, metric="ber", cv=3, random_state=seed
        ),
        "fld": fld_score(Z, st),
        "accuracy": clf.score(Z, yt),
        "fit_time": fit_time,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["adult", "german"])
    parser.add_argument("--victims", nargs="+", default=["adv", "cfair"])
    parser.add_argument("--attacks", nargs="+", default=None)
    parser.add_argument("--budgets", nargs="+", type=float, default=[0.05])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--n-train", type=int, default=6000)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default="benchmarks/results/bench_attacks.csv")
    args = parser.parse_args(argv)
    if args.quick:
        args.datasets, args.victims, args.seeds = ["german"], ["adv"], 1
    torch.set_num_threads(1)
    rows = []
    for dataset in args.datasets:
        X, y, s, Xt, yt, st = load(dataset, args.n_train)
        for vname in args.victims:
            base = VICTIMS[vname]()
            victim = make_pipeline(make_preprocessor(X), base)
            for seed in range(args.seeds):
                clean = evaluate(base, X, y, s, Xt, yt, st, seed + 100)
                rows.append(
                    dict(
                        dataset=dataset,
                        victim=vname,
                        attack="clean",
                        budget=0.0,
                        seed=seed,
                        craft_ratio=np.nan,
                        **clean,
                    )
                )
                for budget in args.budgets:
                    for aname, attack in attacks(victim, budget, seed).items():
                        if args.attacks and aname not in args.attacks:
                            continue
                        Xa, ya, sa = attack.fit_resample(X, y, sensitive_features=s)
                        ratio = (
                            getattr(attack, "crafting_time_", np.nan)
                            / clean["fit_time"]
                        )
                        res = evaluate(base, Xa, ya, sa, Xt, yt, st, seed + 100)
                        rows.append(
                            dict(
                                dataset=dataset,
                                victim=vname,
                                attack=aname,
                                budget=budget,
                                seed=seed,
                                craft_ratio=ratio,
                                **res,
                            )
                        )
                        print(
                            f"{dataset} {vname} {aname} b={budget} seed={seed}: "
                            f"AUC {res['probe_auc']:.3f}",
                            flush=True,
                        )
    df = pd.DataFrame(rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, index=False)
    summary = (
        df.groupby(["dataset", "victim", "budget", "attack"])[
            ["probe_auc", "probe_ber", "fld", "accuracy"]
        ]
        .agg(["mean", "std"])
        .round(3)
    )
    print(summary.to_string())
    ratios = df.loc[df.attack == "eng", "craft_ratio"]
    print(
        f"\nENG crafting time / one clean training: median {ratios.median():.2f} "
        "(target <= 2; excludes the clean victim fit ENG needs)"
    )


if __name__ == "__main__":
    main()
