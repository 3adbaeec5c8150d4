"""Poison-count bound (min_poison_count) against measured attacks.

For each data set and victim: train the victim on clean data, compute the
first-order bound on the number of poisons needed to raise the FLD of its
representation of held-out target data by ``--target``, then run ENG
(PoisonGenerator) and NRAA (AnchorAttack) at several budgets and compare

- ``eps*C``: the bound's largest first-order FLD increase with m poisons
  (``m / (n + m) * ||r|| * G_max``);
- ``eps*A``: the same with every poison as aligned as the best candidate;
- ``pred``: the first-order prediction for the attack's actual poisons
  (``m / (n + m) * mean_p r . g(p)``);
- ``ft``: the measured FLD change when the clean victim is fine-tuned
  (warm start, ``--ft-epochs`` epochs) on clean + poison, minus the same
  fine-tuning on clean data alone (paired: the regime the first-order model
  describes);
- ``scratch``: the measured FLD change when the victim is retrained from
  scratch on clean + poison, minus the clean retraining with the same seed
  (mean and standard deviation over ``--seeds`` seeds);
- ``auc_norm`` / ``auc_align``: ROC AUC of telling the poisons apart from
  clean training rows by their per-sample field norm / their alignment
  ``r . g`` (what a gradient-based sanitiser could use).

FLD is ``fld_torch`` (the quantity the bound is about) of the victim's
representation of the target rows.

Examples::

    python benchmarks/bench_poison_bound.py --quick
    python benchmarks/bench_poison_bound.py --datasets adult german --seeds 3
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch
from _common import add_common_args, pin_threads, write_runs
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from skfrl.attacks import AnchorAttack, PoisonGenerator, fld_torch, min_poison_count
from skfrl.datasets import load_adult, load_german, make_preprocessor
from skfrl.models import AdversarialFairRepresentation, CFair
from skfrl.utils import fine_tune

VICTIMS = {
    "adv": lambda: AdversarialFairRepresentation(max_epochs=20),
    "cfair": lambda: CFair(max_epochs=20),
}


def load(name: str, n_train: int, n_target: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    if name == "adult":
        X, y, s = load_adult(sensitive="sex", subset="train", return_X_y_s=True)
        Xt, yt, st = load_adult(sensitive="sex", subset="test", return_X_y_s=True)
    else:
        X, y, s = load_german(sensitive="age", return_X_y_s=True)
        strata = y.astype(str) + s.astype(str)
        X, Xt, y, yt, s, st = train_test_split(
            X, y, s, test_size=0.3, stratify=strata, random_state=seed
        )
    if n_train < len(X):
        i = np.sort(rng.choice(len(X), n_train, replace=False))
        X, y, s = X.iloc[i], y.iloc[i], s.iloc[i]
    if n_target < len(Xt):
        j = np.sort(rng.choice(len(Xt), n_target, replace=False))
        Xt, st = Xt.iloc[j], st.iloc[j]
    return X, y, s, Xt, st


def fld(frl, pre, Xt, st) -> float:
    Z = torch.as_tensor(frl.transform(np.asarray(pre.transform(Xt), np.float32)))
    classes = frl.sensitive_attributes_[0].classes
    return float(fld_torch(Z, torch.as_tensor(np.searchsorted(classes, st))))


def fit_scratch(base, X, y, s, seed):
    pre = make_preprocessor(X).fit(X)
    frl = clone(base).set_params(random_state=seed)
    frl.fit(np.asarray(pre.transform(X), np.float32), y, sensitive_features=s)
    return pre, frl


def tune(frl, pre, X, y, s, epochs):
    """A copy of ``frl`` trained ``epochs`` more epochs on (X, y, s)."""
    return fine_tune(frl, np.asarray(pre.transform(X), np.float32), y, s, epochs=epochs)


def run(dataset, vname, args):
    X, y, s, Xt, st = load(dataset, args.n_train, args.n_target)
    n = len(X)
    base = VICTIMS[vname]()
    start = time.perf_counter()
    clean = {sd: fit_scratch(base, X, y, s, sd) for sd in range(args.seeds)}
    fld_clean = {sd: fld(f, p, Xt, st) for sd, (p, f) in clean.items()}
    pre0, frl0 = clean[0]
    victim0 = make_pipeline(pre0, frl0)
    fld_ft_clean = fld(tune(frl0, pre0, X, y, s, args.ft_epochs), pre0, Xt, st)
    # Noise floor of the fine-tuning measurement: clean fine-tunes that differ
    # only in their shuffling seed.
    ft_noise = np.std(
        [
            fld(
                tune(frl0.set_params(random_state=sd), pre0, X, y, s, args.ft_epochs),
                pre0,
                Xt,
                st,
            )
            for sd in (101, 102, 103)
        ],
        ddof=1,
    )
    frl0.set_params(random_state=0)
    common = dict(
        X_target=Xt, s_target=st, damping=args.damping, random_state=0, max_samples=2000
    )
    bound = min_poison_count(
        victim0,
        X,
        y,
        sensitive_features=s,
        target_increase=args.target,
        max_candidates=args.candidates,
        box_steps=args.box_steps,
        **common,
    )
    print(
        f"\n== {dataset} (n={n}, target rows={len(Xt)}), victim {vname}: clean FLD "
        + ", ".join(f"{v:.3f}" for v in fld_clean.values())
        + f" (seeds); {bound!r}\n   curvature: "
        + ", ".join(
            f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in bound.curvature_info.items()
        )
        + f"; stationarity {bound.stationarity:.3f}; "
        + f"G_max {bound.grad_norm_max:.3g} (median {bound.grad_norm_median:.3g}), "
        + f"||r|| {bound.influence_norm:.3g}; fine-tune noise sd {ft_noise:.3f}",
        flush=True,
    )
    rows = []
    rng = np.random.default_rng(0)
    clean_probe = np.sort(rng.choice(n, size=min(300, n), replace=False))
    for budget in args.budgets:
        attacks = {
            "eng": PoisonGenerator(
                make_pipeline(make_preprocessor(X), clone(base)),
                budget=budget,
                random_state=0,
            ),
            "nraa": AnchorAttack("non_random", budget=budget, random_state=0),
        }
        for aname, attack in attacks.items():
            Xa, ya, sa = attack.fit_resample(X, y, sensitive_features=s)
            m = attack.n_poison_
            eps = m / (n + m)
            # Poisons and 300 clean rows, with their own labels, through the
            # same measurement as the bound (same seed: same curvature).
            idx = np.r_[clean_probe, np.arange(n, n + m)]
            scored = min_poison_count(
                victim0,
                X,
                y,
                sensitive_features=s,
                target_increase=args.target,
                candidates=(Xa.iloc[idx], ya.iloc[idx], sa.iloc[idx]),
                label_choices="keep",
                max_candidates=len(idx),
                **common,
            )
            is_poison = np.r_[np.zeros(len(clean_probe)), np.ones(m)]
            align = scored.candidate_alignments
            tuned = tune(frl0, pre0, Xa, ya, sa, args.ft_epochs)
            ft = fld(tuned, pre0, Xt, st) - fld_ft_clean
            scratch = []
            for sd in range(args.seeds):
                p, f = fit_scratch(base, Xa, ya, sa, sd)
                scratch.append(fld(f, p, Xt, st) - fld_clean[sd])
            upper, est = bound.predicted_increase(m)
            rows.append(
                dict(
                    dataset=dataset,
                    victim=vname,
                    attack=aname,
                    budget=budget,
                    m=m,
                    **{"eps*C": upper, "eps*A": est},
                    pred=eps * align[len(clean_probe) :].mean(),
                    ft=ft,
                    ft_noise=ft_noise,
                    scratch=np.mean(scratch),
                    scratch_sd=np.std(scratch, ddof=1) if len(scratch) > 1 else np.nan,
                    auc_norm=roc_auc_score(is_poison, scored.candidate_grad_norms),
                    auc_align=roc_auc_score(is_poison, align),
                    n_min=bound.n_min,
                    n_estimate=bound.n_estimate,
                )
            )
            r = rows[-1]
            print(
                f"   {aname:5s} b={budget:<5g} m={m:4d}: eps*C {upper:8.3f} eps*A "
                f"{est:7.3f} pred {r['pred']:7.3f} | ft {ft:+.3f} scratch "
                f"{r['scratch']:+.3f} +- {r['scratch_sd']:.3f} | AUC norm "
                f"{r['auc_norm']:.2f} align {r['auc_align']:.2f}",
                flush=True,
            )
    print(f"   ({time.perf_counter() - start:.0f} s)")
    return rows, bound


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["adult", "german"])
    parser.add_argument("--victims", nargs="+", default=["adv", "cfair"])
    parser.add_argument("--budgets", nargs="+", type=float, default=[0.01, 0.05, 0.1])
    parser.add_argument("--target", type=float, default=0.1)
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--n-target", type=int, default=2000)
    parser.add_argument("--ft-epochs", type=int, default=5)
    parser.add_argument("--candidates", type=int, default=300)
    parser.add_argument("--box-steps", type=int, default=0)
    parser.add_argument("--damping", default="auto")
    # The seeds of the victims retrained from scratch (seed 0 is the one the
    # bound and the attacks see).
    add_common_args(
        parser,
        seeds=3,
        first_seed=False,
        quick="German, the adversarial victim, two seeds, a 5 %% budget",
        out="bench_poison_bound",
    )
    args = parser.parse_args(argv)
    if args.damping != "auto":
        args.damping = float(args.damping)
    if args.quick:
        args.datasets, args.victims, args.seeds = ["german"], ["adv"], 2
        args.budgets = [0.05]
    pin_threads()
    rows = []
    bounds = []
    for dataset in args.datasets:
        for vname in args.victims:
            r, b = run(dataset, vname, args)
            rows += r
            bounds.append(
                dict(
                    dataset=dataset,
                    victim=vname,
                    tau=b.target_increase,
                    n_min=b.n_min,
                    n_estimate=b.n_estimate,
                    damping=b.damping,
                    C=b.coefficient,
                    A=b.alignment_max,
                )
            )
    df = write_runs(rows, args.out)
    pd.set_option("display.width", 200)
    print("\nBound per victim (first order, target FLD increase tau):")
    print(pd.DataFrame(bounds).round(3).to_string(index=False))
    print("\nPredicted vs measured FLD increase:")
    cols = ["dataset", "victim", "attack", "budget", "m", "eps*C", "eps*A", "pred"]
    cols += ["ft", "ft_noise", "scratch", "scratch_sd", "auc_norm", "auc_align"]
    print(df[cols].round(3).to_string(index=False))
    for col in ("ft", "scratch"):
        above = (df[col] > df["eps*C"]).sum()
        print(f"measured {col} above the bound eps*C: {above}/{len(df)} rows")
    big = df[df.ft.abs() > 2 * df.ft_noise]
    agree = (np.sign(big.pred) == np.sign(big.ft)).sum()
    print(
        f"sign(pred) == sign(ft) in {agree}/{len(big)} rows where |ft| exceeds "
        "twice the fine-tune noise"
    )


if __name__ == "__main__":
    main()
