"""Attack effectiveness under two threat models, with paired statistics.

For each dataset, victim, seed, budget and attack, the clean victim is
trained once (seed fixed per run), then:

- ``--protocols retrain``: the victim is retrained from scratch on clean +
  poison (same seed as its clean version);
- ``--protocols fine_tune``: the threat model of Liu et al. (ICLR 2024,
  Assumption 2): the attack crafts against the trained clean victim
  (``PoisonGenerator(prefit=True)``), which then continues training on
  clean + poison for E epochs (``--fine-tune-epochs``, 0 = the model's
  ``max_epochs``); the clean reference continues on clean data alone for
  the same E epochs.

``--attacks fairness-off`` adds a reference row that is not an attack: the
clean victim retrained, or continued, with its fairness term switched off
(``fairness_weight=0``), so each cell shows how much leakage the fairness
term holds back there, the room an attack that only disables it can gain.

Held-out leakage of ``s`` from ``Z`` (probe ROC AUC, BER, the paper's
metric as ``H(s) - BCE`` of the probe, FLD), accuracy and fairness gaps of a
logistic regression on ``Z``. The report gives, per cell, the paired change
against clean (mean, standard error, 95 % t interval) and ENG minus the best
anchoring attack (RAA or NRAA, whichever raised AUC more in that cell:
conservative for ENG) with a paired t test and a Wilcoxon signed-rank test.
"Beats" means the interval of the difference excludes 0.

Examples::

    python benchmarks/bench_attacks.py --quick
    OMP_NUM_THREADS=1 python benchmarks/bench_attacks.py --datasets adult \
        --victims cfair --protocols fine_tune --fine-tune-epochs 1 3 0 \
        --seeds 10 --out benchmarks/results/ft_adult.csv
    python benchmarks/bench_attacks.py --merge benchmarks/results/*.csv \
        --docs docs/user_guide/attacks_benchmark.rst
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import (
    VICTIM_NAMES,
    add_common_args,
    interval,
    load_train_test,
    make_victim,
    mean_sd,
    pin_threads,
    read_runs,
    seed_range,
    write_runs,
)
from _variants import ContradictoryPairs, CoverMajority, anchored_eng
from fairlearn.metrics import (
    demographic_parity_difference,
    equalized_odds_difference,
)
from scipy import stats
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline

from skfrl.attacks import (
    AnchorAttack,
    LabelFlipping,
    PoisonGenerator,
    RandomPoisoning,
)
from skfrl.datasets import make_preprocessor
from skfrl.metrics import fld_score, representation_leakage
from skfrl.utils import fine_tune

ANCHORS = ("raa", "nraa")


ALIGNED = dict(label_strategy="aligned", base_selection="stratified")


def attacks(victim, budget, seed, *, prefit=False):
    eng = dict(prefit=prefit, random_state=seed)
    return {
        "eng": PoisonGenerator(victim, budget=budget, **eng),
        "eng-probe": PoisonGenerator(victim, budget=budget, objective="probe", **eng),
        "eng-aligned": PoisonGenerator(victim, budget=budget, **ALIGNED, **eng),
        "eng-projection": PoisonGenerator(
            victim, budget=budget, alignment="projection", **eng
        ),
        # Matched at the victim and two snapshots of its continued training
        # on clean rows + first-round poisons (the fine-tuning threat model).
        "eng-continuation": PoisonGenerator(
            victim, budget=budget, n_victims=3, ensemble="continuation", **eng
        ),
        # Unrolled crafting with more steps than matching needs: each step
        # sees one surrogate and a few clean batches only.
        "eng-unrolled": PoisonGenerator(
            victim, budget=budget, method="unrolled", n_steps=200, **eng
        ),
        "eng-unrolled-probe": PoisonGenerator(
            victim,
            budget=budget,
            method="unrolled",
            objective="probe",
            n_steps=200,
            **eng,
        ),
        "eng-unrolled-k5": PoisonGenerator(
            victim, budget=budget, method="unrolled", unroll_steps=5, n_steps=200, **eng
        ),
        # Variants measured against CFair under fine-tuning that lost
        # (benchmarks/_variants.py).
        "cover-majority": CoverMajority(budget=budget, random_state=seed),
        **{
            f"eng-anchor-k{k}": anchored_eng(victim, k, budget=budget, **eng)
            for k in (2, 8, 32)
        },
        # Anchoring's bases, matched along the simulated continuation.
        "eng-anchor-k8-continuation": anchored_eng(
            victim, 8, budget=budget, n_victims=3, ensemble="continuation", **eng
        ),
        # Rows recorded with both groups, in the positive class (whose
        # minority cell weighs most in CFair's adversary); "-extreme" sets
        # their numeric features to the top of the observed range.
        "pairs-pos": ContradictoryPairs(budget=budget, random_state=seed),
        "pairs-pos-extreme": ContradictoryPairs(
            budget=budget, extreme=True, random_state=seed
        ),
        "raa": AnchorAttack("random", budget=budget, random_state=seed),
        "nraa": AnchorAttack("non_random", budget=budget, random_state=seed),
        "random": RandomPoisoning(budget=budget, random_state=seed),
        "label_flip": LabelFlipping(
            budget=budget, flip_sensitive=True, random_state=seed
        ),
    }


DEFAULT_ATTACKS = ["eng", "raa", "nraa", "random", "label_flip"]

# Not an attack: the clean victim trained (retrain) or continued (fine_tune)
# with its fairness term switched off, so the table shows how much leakage
# the fairness term holds back in that cell, the room an attack that only
# disables it could gain.
FAIRNESS_OFF = "fairness-off"


def fit_clean(base, X, y, s, seed):
    """The clean victim: a fitted (preprocessor, FRL) pipeline and its fit time."""
    pre = make_preprocessor(X).fit(X)
    frl = clone(base).set_params(random_state=seed)
    start = time.perf_counter()
    frl.fit(pre.transform(X), y, sensitive_features=s)
    return Pipeline([("pre", pre), ("frl", frl)]), time.perf_counter() - start


def evaluate(pipe, X, y, Xt, yt, st, seed):
    Z = pipe.transform(Xt)
    clf = LogisticRegression(max_iter=2000).fit(pipe.transform(X), y)
    y_pred = clf.predict(Z)
    leak = dict(cv=3, random_state=seed)
    return {
        "probe_auc": representation_leakage(Z, st, **leak),
        "probe_ber": representation_leakage(Z, st, metric="ber", **leak),
        "probe_ll": representation_leakage(Z, st, metric="log_loss", **leak),
        "fld": fld_score(Z, st),
        "accuracy": float(np.mean(y_pred == np.asarray(yt))),
        "dp_diff": demographic_parity_difference(yt, y_pred, sensitive_features=st),
        "eo_diff": equalized_odds_difference(yt, y_pred, sensitive_features=st),
    }


def fairness_off(clean, base, X, y, s, Xt, yt, st, seed, protocol, epochs):
    """The :data:`FAIRNESS_OFF` reference of one cell and seed.

    Only for one fine-tuning length (the last of ``epochs``) to keep its cost
    at one training.
    """
    start = time.perf_counter()
    if protocol == "retrain":
        off = clone(base).set_params(fairness_weight=0.0)
        fitted = fit_clean(off, X, y, s, seed + 100)[0]
        e = int(base.max_epochs)
    else:
        e = epochs[-1]
        model = copy.deepcopy(clean)
        model[-1].set_params(fairness_weight=0.0)
        fitted = fine_tune(model, X, y, s, epochs=e)
    res = evaluate(fitted, X, y, Xt, yt, st, seed)
    print(f"{protocol}/{e} {FAIRNESS_OFF} seed={seed}: AUC {res['probe_auc']:.3f}")
    return dict(epochs=e) | res | dict(fit_time=time.perf_counter() - start)


def run_cell(dataset, vname, seed, args, data):
    X, y, s, Xt, yt, st = data
    # German gets the small-data schedule of the models benchmark.
    base = make_victim(vname, dataset)
    rows = []
    key = dict(dataset=dataset, victim=vname, seed=seed)
    clean, clean_time = fit_clean(base, X, y, s, seed + 100)
    full = int(base.max_epochs)
    epochs = [e or full for e in args.fine_tune_epochs]
    names = args.attacks or DEFAULT_ATTACKS
    for protocol in args.protocols:
        if protocol == "retrain":
            res = evaluate(clean, X, y, Xt, yt, st, seed)
            rows.append(
                dict(key, protocol=protocol, epochs=full, attack="clean", budget=0.0)
                | res
                | dict(fit_time=clean_time)
            )
        else:
            for e in epochs:
                start = time.perf_counter()
                ref = fine_tune(clean, X, y, s, epochs=e)
                res = evaluate(ref, X, y, Xt, yt, st, seed)
                rows.append(
                    dict(key, protocol=protocol, epochs=e, attack="clean", budget=0.0)
                    | res
                    | dict(fit_time=time.perf_counter() - start)
                )
        if FAIRNESS_OFF in names:
            rows.append(
                dict(key, protocol=protocol, attack=FAIRNESS_OFF, budget=0.0)
                | fairness_off(clean, base, X, y, s, Xt, yt, st, seed, protocol, epochs)
            )
        for budget in args.budgets:
            if protocol == "retrain":
                victim = make_pipeline(make_preprocessor(X), base)
                pool = attacks(victim, budget, seed)
            else:
                pool = attacks(clean, budget, seed, prefit=True)
            for aname in [n for n in names if n != FAIRNESS_OFF]:
                attack = pool[aname]
                Xa, ya, sa = attack.fit_resample(X, y, sensitive_features=s)
                timings = getattr(attack, "timings_", {})
                extra = dict(
                    craft_time=timings.get("total", np.nan),
                    craft_ratio=timings.get("total", np.nan) / clean_time,
                    t_victim=timings.get("victim_fit", np.nan),
                    t_select=timings.get("base_selection", np.nan),
                    t_match=timings.get("matching", np.nan),
                    t_decode=timings.get("decoding", np.nan),
                )
                if protocol == "retrain":
                    fitted, fit_time = fit_clean(base, Xa, ya, sa, seed + 100)
                    todo = [(full, fitted, fit_time)]
                else:
                    todo = []
                    for e in epochs:
                        start = time.perf_counter()
                        fitted = fine_tune(clean, Xa, ya, sa, epochs=e)
                        todo.append((e, fitted, time.perf_counter() - start))
                for e, fitted, fit_time in todo:
                    res = evaluate(fitted, Xa, ya, Xt, yt, st, seed)
                    rows.append(
                        dict(key, protocol=protocol, epochs=e, attack=aname)
                        | dict(budget=budget)
                        | res
                        | dict(fit_time=fit_time)
                        | extra
                    )
                    print(
                        f"{dataset} {vname} {protocol}/{e} {aname} b={budget} "
                        f"seed={seed}: AUC {res['probe_auc']:.3f}",
                        flush=True,
                    )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["adult", "german"])
    parser.add_argument(
        "--victims",
        nargs="+",
        default=["cfair"],
        choices=VICTIM_NAMES,
        metavar="VICTIM",
        help="victims, from: " + ", ".join(VICTIM_NAMES),
    )
    parser.add_argument("--attacks", nargs="+", default=None)
    parser.add_argument("--budgets", nargs="+", type=float, default=[0.05])
    parser.add_argument(
        "--protocols",
        nargs="+",
        default=["retrain"],
        choices=["retrain", "fine_tune"],
    )
    parser.add_argument(
        "--fine-tune-epochs",
        nargs="+",
        type=int,
        default=[1],
        help="epochs of continued training (0: the victim's max_epochs)",
    )
    parser.add_argument("--n-train", type=int, default=6000)
    add_common_args(
        parser,
        seeds=2,
        quick="German, CFair, one seed, both protocols",
        out="bench_attacks",
        merge=True,
    )
    parser.add_argument(
        "--docs",
        default=None,
        help="rst page whose generated-tables block receives the tables",
    )
    parser.add_argument(
        "--docs-block",
        default=None,
        help="name of the block (one page can hold several, each regenerated "
        "from its own runs); default: the unnamed block",
    )
    args = parser.parse_args(argv)
    if args.merge:
        report(read_runs(args.merge), args.docs, args.docs_block)
        return
    if args.quick:
        args.datasets, args.victims, args.seeds = ["german"], ["cfair"], 1
        args.protocols = ["retrain", "fine_tune"]
    pin_threads()
    rows = []
    for dataset in args.datasets:
        data = load_train_test(dataset, args.n_train)
        for vname in args.victims:
            for seed in seed_range(args):
                rows += run_cell(dataset, vname, seed, args, data)
                # Written as it goes: a long run can be merged while running.
                write_runs(rows, args.out)
    print(f"runs written to {args.out}")
    report(pd.DataFrame(rows), args.docs, args.docs_block)


METRICS = [
    "probe_auc",
    "probe_ll",
    "probe_ber",
    "fld",
    "accuracy",
    "dp_diff",
    "eo_diff",
]
HEADERS = {
    "probe_auc": "probe AUC(s)",
    "probe_ll": "H(s) - BCE",
    "probe_ber": "probe BER(s)",
    "fld": "FLD(s)",
    "accuracy": "accuracy",
    "dp_diff": "DP diff",
    "eo_diff": "EO diff",
}
CELL = ["dataset", "victim", "protocol", "epochs", "budget"]
DOCS_BEGIN = ".. BEGIN GENERATED TABLES (benchmarks/bench_attacks.py)"
DOCS_END = ".. END GENERATED TABLES"


def paired_changes(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per attacked run: its value minus the clean run of the same cell and seed."""
    clean = df[df.attack == "clean"].set_index([*CELL[:-1], "seed"])[metric]
    att = df[df.attack != "clean"].copy()
    idx = list(zip(*(att[c] for c in [*CELL[:-1], "seed"]), strict=True))
    att["delta"] = att[metric].to_numpy() - clean.reindex(idx).to_numpy()
    return att.dropna(subset=["delta"])


def change_table(att: pd.DataFrame) -> pd.DataFrame:
    out = []
    for keys, g in att.groupby([*CELL, "attack"], sort=False):
        out.append(dict(zip([*CELL, "attack"], keys, strict=True)) | interval(g.delta))
    return pd.DataFrame(out)


def eng_versus_anchors(att: pd.DataFrame) -> pd.DataFrame:
    """Each ENG variant minus the best anchoring attack of its cell, by seed."""
    out = []
    for keys, g in att.groupby(CELL, sort=False):
        wide = g.pivot_table(index="seed", columns="attack", values="delta")
        anchors = [a for a in ANCHORS if a in wide]
        if not anchors:
            continue
        best = max(anchors, key=lambda a: wide[a].mean())
        for eng in [a for a in wide if str(a).startswith("eng")]:
            d = (wide[eng] - wide[best]).dropna().to_numpy()
            row = dict(zip(CELL, keys, strict=True)) | dict(variant=eng, best=best)
            row |= interval(d)
            row["t_p"] = float(stats.ttest_1samp(d, 0).pvalue) if len(d) > 1 else np.nan
            row["wilcoxon_p"] = (
                float(stats.wilcoxon(d).pvalue) if len(d) > 5 and np.any(d) else np.nan
            )
            row["beats"] = bool(row["low"] > 0)
            out.append(row)
    return pd.DataFrame(out)


def report(df: pd.DataFrame, docs: str | None, block: str | None = None) -> None:
    """Print the tables; optionally write them into the docs page."""
    keys = [*CELL, "attack", "seed"]
    # Merged runs may repeat rows of the same (deterministic) configuration.
    df = df.drop_duplicates(keys, keep="last")
    summary = df.groupby([*CELL, "attack"], sort=False)[METRICS].agg(["mean", "std"])
    summary[("n_seeds", "")] = df.groupby([*CELL, "attack"], sort=False).size()
    pd.set_option("display.width", 200)
    print(summary.round(3).to_string())
    auc = paired_changes(df, "probe_auc")
    changes = change_table(auc)
    ll_changes = change_table(paired_changes(df, "probe_ll"))
    print("\nPaired change of probe AUC versus clean (mean, se, 95 % t interval):")
    print(changes.round(3).to_string(index=False))
    print("\nPaired change of H(s) - BCE (nats) versus clean:")
    print(ll_changes.round(3).to_string(index=False))
    versus = eng_versus_anchors(auc)
    print("\nENG minus the best anchoring attack (probe AUC change, paired by seed):")
    print(versus.round(3).to_string(index=False))
    eng = df[df.attack == "eng"]
    ratio_text = ""
    if len(eng):
        phases = eng[["t_victim", "t_select", "t_match", "t_decode", "craft_time"]]
        ratio = eng.groupby("protocol")["craft_ratio"].agg(["median", "max"])
        ratio_text = "ENG fit_resample time / one clean training of the victim: " + (
            "; ".join(
                f"{p}: median {r['median']:.2f}, max {r['max']:.2f}"
                for p, r in ratio.iterrows()
            )
        )
        ratio_text += (
            " (retrain includes ENG's own clean fit; fine_tune crafts against the "
            "trained victim). Median seconds per phase: "
            + ", ".join(f"{c} {v:.1f}" for c, v in phases.median().items())
        )
        others = df[df.attack.str.startswith("eng") & (df.attack != "eng")]
        if len(others):
            cost = others.groupby(["attack", "protocol"])["craft_ratio"].median()
            ratio_text += ". Other variants, median time / one clean training: " + (
                ", ".join(f"{a} ({p}) {v:.2f}" for (a, p), v in cost.items())
            )
        print("\n" + ratio_text)
    if docs:
        write_docs(summary, changes, ll_changes, versus, ratio_text, Path(docs), block)


def _ci(row) -> str:
    if np.isnan(row["low"]):
        return f"{row['mean']:+.3f}"
    return f"{row['mean']:+.3f} [{row['low']:+.3f}, {row['high']:+.3f}]"


def _cell(keys) -> list[str]:
    dataset, victim, protocol, epochs, budget = keys
    return [dataset, victim, protocol.replace("_", "-"), f"{epochs}", f"{budget:g}"]


def docs_markers(block: str | None) -> tuple[str, str]:
    """Begin and end comment lines of a generated block of a docs page."""
    if block is None:
        return DOCS_BEGIN, DOCS_END
    return f"{DOCS_BEGIN[:-1]} --docs-block {block})", f"{DOCS_END} ({block})"


def write_docs(
    summary, changes, ll_changes, versus, ratio_text, path: Path, block=None
) -> None:
    begin, finish = docs_markers(block)
    text = path.read_text()
    if begin not in text or finish not in text:
        raise SystemExit(
            f"{path} has no generated block {block or '(unnamed)'}: add the lines "
            f"{begin!r} and {finish!r} where the tables belong."
        )
    head = "dataset, victim, protocol, epochs, budget"
    lines = [begin, "", ".. Rewritten by benchmarks/bench_attacks.py.", ""]
    lines += [
        ".. csv-table:: Paired change of held-out probe AUC against the clean victim "
        "of the same seed: mean [95 % t interval]; n = seeds",
        f"   :header: {head}, attack, change of AUC, change of H(s) - BCE, n",
        "",
    ]
    ll = ll_changes.set_index([*CELL, "attack"])
    for _, row in changes.iterrows():
        key = tuple(row[c] for c in [*CELL, "attack"])
        ll_text = _ci(ll.loc[key]) if key in ll.index else "–"
        cells = [*_cell(key[:-1]), key[-1], _ci(row), ll_text, str(int(row["n"]))]
        lines.append("   " + ", ".join(f'"{c}"' for c in cells))
    lines += [
        "",
        ".. csv-table:: ENG minus the best anchoring attack of the cell (change of "
        "probe AUC, paired by seed): mean [95 % interval], paired t and Wilcoxon "
        "p-values; beats = the interval excludes 0 above",
        f"   :header: {head}, ENG variant, best anchor, ENG - anchor, t p, "
        "Wilcoxon p, n, beats",
        "",
    ]
    for _, row in versus.iterrows():
        cells = [*_cell(tuple(row[c] for c in CELL)), row["variant"], row["best"]]
        cells.append(_ci(row))
        cells += [f"{row['t_p']:.3f}", f"{row['wilcoxon_p']:.3f}", str(int(row["n"]))]
        cells.append("yes" if row["beats"] else "no")
        lines.append("   " + ", ".join(f'"{c}"' for c in cells))
    lines += [
        "",
        ".. csv-table:: Held-out leakage and task metrics (mean ± sd over seeds)",
        f"   :header: {head}, attack, " + ", ".join(HEADERS.values()) + ", seeds",
        "",
    ]
    for keys, row in summary.iterrows():
        cells = [*_cell(keys[:-1]), keys[-1]]
        cells += [mean_sd(row[(m, "mean")], row[(m, "std")]) for m in METRICS]
        cells.append(str(int(row[("n_seeds", "")])))
        lines.append("   " + ", ".join(f'"{c}"' for c in cells))
    lines += ["", ratio_text + ".", "", finish]
    start = text.index(begin)
    end = text.index(finish, start) + len(finish)
    path.write_text(text[:start] + "\n".join(lines) + text[end:])
    print(f"tables written to {path}")


if __name__ == "__main__":
    main()
