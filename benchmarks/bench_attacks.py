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
from fairlearn.metrics import (
    demographic_parity_difference,
    equalized_odds_difference,
)
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
# The same small-data schedule as benchmarks/bench_models.py: the defaults are
# sized for ~10^4 rows and give German's 700 rows too few optimizer steps.
SCHEDULES = {"german": {"batch_size": 64, "max_epochs": 100}}


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


ALIGNED = dict(label_strategy="aligned", base_selection="stratified")


def attacks(victim, budget, seed):
    return {
        "eng": PoisonGenerator(victim, budget=budget, random_state=seed),
        # The previous default recipe: labels with y following s, bases
        # stratified by (y, s); alone and matched against a Witches'
        # Brew-style ensemble of four independently seeded victims.
        "eng-aligned": PoisonGenerator(
            victim, budget=budget, **ALIGNED, random_state=seed
        ),
        "eng-aligned-ens4": PoisonGenerator(
            victim, budget=budget, n_victims=4, **ALIGNED, random_state=seed
        ),
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
    y_pred = clf.predict(Z)
    return {
        "probe_auc": representation_leakage(Z, st, cv=3, random_state=seed),
        "probe_ber": representation_leakage(
            Z, st, metric="ber", cv=3, random_state=seed
        ),
        "fld": fld_score(Z, st),
        "accuracy": float(np.mean(y_pred == np.asarray(yt))),
        "dp_diff": demographic_parity_difference(yt, y_pred, sensitive_features=st),
        "eo_diff": equalized_odds_difference(yt, y_pred, sensitive_features=st),
        "fit_time": fit_time,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["adult", "german"])
    parser.add_argument("--victims", nargs="+", default=["adv", "cfair"])
    parser.add_argument("--attacks", nargs="+", default=None)
    parser.add_argument("--budgets", nargs="+", type=float, default=[0.05])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument(
        "--first-seed", type=int, default=0, help="seeds run from here on"
    )
    parser.add_argument("--n-train", type=int, default=6000)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default="benchmarks/results/bench_attacks.csv")
    parser.add_argument(
        "--merge",
        nargs="+",
        default=None,
        help="report on these run CSVs (concatenated) instead of running",
    )
    parser.add_argument(
        "--docs",
        default=None,
        help="rst page whose generated-tables block receives the tables",
    )
    args = parser.parse_args(argv)
    if args.merge:
        report(pd.concat([pd.read_csv(f) for f in args.merge]), args.docs)
        return
    if args.quick:
        args.datasets, args.victims, args.seeds = ["german"], ["adv"], 1
    torch.set_num_threads(1)
    rows = []
    for dataset in args.datasets:
        X, y, s, Xt, yt, st = load(dataset, args.n_train)
        for vname in args.victims:
            base = VICTIMS[vname]().set_params(**SCHEDULES.get(dataset, {}))
            victim = make_pipeline(make_preprocessor(X), base)
            for seed in range(args.first_seed, args.first_seed + args.seeds):
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
    print(f"runs written to {args.out}")
    report(df, args.docs)


METRICS = ["probe_auc", "probe_ber", "fld", "accuracy", "dp_diff", "eo_diff"]
HEADERS = {
    "probe_auc": "probe AUC(s)",
    "probe_ber": "probe BER(s)",
    "fld": "FLD(s)",
    "accuracy": "accuracy",
    "dp_diff": "DP diff",
    "eo_diff": "EO diff",
}
DOCS_BEGIN = ".. BEGIN GENERATED TABLES (benchmarks/bench_attacks.py)"
DOCS_END = ".. END GENERATED TABLES"


def report(df: pd.DataFrame, docs: str | None) -> None:
    """Print mean +- sd per cell, ENG's crafting ratio; optionally write docs."""
    keys = ["dataset", "victim", "budget", "attack"]
    # Runs merged from several files repeat their clean rows (deterministic).
    df = df.drop_duplicates([*keys, "seed"], keep="last")
    grouped = df.groupby(keys, sort=False)
    summary = grouped[METRICS].agg(["mean", "std"])
    summary[("n_seeds", "")] = grouped.size()
    print(summary.round(3).to_string())
    ratios = df.loc[df.attack == "eng", "craft_ratio"]
    ratio_text = (
        f"ENG crafting time / one clean training of the victim: median "
        f"{ratios.median():.2f}, max {ratios.max():.2f} (target <= 2; the clean "
        "victim fit that ENG starts from is not counted)"
    )
    print("\n" + ratio_text)
    # Change of probe AUC against the clean victim of the same seed.
    clean = df[df.attack == "clean"].set_index(["dataset", "victim", "seed"])
    attacked = df[df.attack != "clean"].copy()
    attacked["delta_auc"] = (
        attacked["probe_auc"].to_numpy()
        - clean.loc[
            list(zip(attacked.dataset, attacked.victim, attacked.seed, strict=True)),
            "probe_auc",
        ].to_numpy()
    )
    deltas = (
        attacked.groupby(["dataset", "victim", "budget", "attack"], sort=False)[
            "delta_auc"
        ]
        .mean()
        .unstack("attack")
    )
    print("\nMean change of probe AUC versus the clean victim (same seed):")
    print(deltas.round(3).to_string())
    overall = deltas.groupby(level="budget").agg(["mean", lambda d: (d > 0).sum()])
    overall = overall.rename(columns={"<lambda_0>": "cells_up"})
    print("\nAveraged over the (dataset, victim) cells; cells_up: cells it raised:")
    print(overall.round(3).to_string())
    if docs:
        write_docs(summary, deltas, overall, ratio_text, Path(docs))


def _fmt(mean: float, sd: float) -> str:
    return f"{mean:.3f}" if np.isnan(sd) else f"{mean:.3f} ± {sd:.3f}"


def write_docs(summary, deltas, overall, ratio_text, path: Path) -> None:
    lines = [DOCS_BEGIN, "", ".. Rewritten by benchmarks/bench_attacks.py.", ""]
    lines += [
        ".. csv-table:: Leakage of s from Z on held-out data after retraining "
        "the victim from scratch on clean + poisoned data (mean ± sd over seeds)",
        "   :header: dataset, victim, budget, attack, "
        + ", ".join(HEADERS.values())
        + ", seeds",
        "",
    ]
    for (dataset, victim, budget, attack), row in summary.iterrows():
        cells = [dataset, victim, f"{budget:g}", attack]
        cells += [_fmt(row[(m, "mean")], row[(m, "std")]) for m in METRICS]
        cells.append(str(int(row[("n_seeds", "")])))
        lines.append("   " + ", ".join(f'"{c}"' for c in cells))
    lines += [
        "",
        ".. csv-table:: Mean change of probe AUC versus the clean victim of the "
        "same seed (positive: the attack raised leakage)",
        "   :header: dataset, victim, budget, " + ", ".join(deltas.columns),
        "",
    ]
    for (dataset, victim, budget), row in deltas.iterrows():
        cells = [dataset, victim, f"{budget:g}"]
        cells += ["–" if np.isnan(v) else f"{v:+.3f}" for v in row.to_numpy()]
        lines.append("   " + ", ".join(f'"{c}"' for c in cells))
    n_cells = deltas.groupby(level="budget").size()
    lines += [
        "",
        ".. csv-table:: Mean change of probe AUC over the (data set, victim) "
        "cells, and the number of cells where the attack raised it",
        "   :header: budget, attack, mean change, cells raised",
        "",
    ]
    for budget in overall.index:
        for attack in deltas.columns:
            mean = overall.loc[budget, (attack, "mean")]
            if np.isnan(mean):
                continue
            up = int(overall.loc[budget, (attack, "cells_up")])
            cells = [f"{budget:g}", attack, f"{mean:+.3f}", f"{up} / {n_cells[budget]}"]
            lines.append("   " + ", ".join(f'"{c}"' for c in cells))
    lines += ["", ratio_text + ".", "", DOCS_END]
    text = path.read_text()
    start, end = text.index(DOCS_BEGIN), text.index(DOCS_END) + len(DOCS_END)
    path.write_text(text[:start] + "\n".join(lines) + text[end:])
    print(f"tables written to {path}")


if __name__ == "__main__":
    main()
