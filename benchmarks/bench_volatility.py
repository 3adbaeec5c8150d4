"""How volatile is the leakage of adversarial victims, and does averaging help?

For each dataset, victim, stabiliser and seed, the victim is trained with a
:class:`skfrl.callbacks.LeakageMonitor` on held-out data (probe ROC AUC of
``s`` from the representation the model would expose, every epoch). Reported
per (dataset, victim, stabiliser):

- ``auc``: held-out probe AUC of the final model, mean over seeds;
- ``seed_sd``: its standard deviation over seeds;
- ``epoch_sd``: sd over the last 5 epochs of one run, averaged over runs
  (how much the result depends on the epoch training stops at);
- ``cont3``: mean absolute change of the final AUC when the trained model
  continues for 3 more epochs on the same clean data (``fine_tune``);
- ``accuracy``: task accuracy of the model's own head on the held-out rows.

Stabilisers: ``none`` (last iterate) and ``ema`` (``averaging_epochs=5``,
an exponential moving average of the weights).

Examples::

    OMP_NUM_THREADS=1 python benchmarks/bench_volatility.py --seeds 8
    python benchmarks/bench_volatility.py --merge benchmarks/results/vol*.csv
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from _common import (
    VICTIM_NAMES,
    add_common_args,
    interval,
    load_train_test,
    make_victim,
    pin_threads,
    read_runs,
    seed_range,
    write_runs,
)

from skfrl.callbacks import LeakageMonitor, leakage_volatility
from skfrl.datasets import make_preprocessor
from skfrl.metrics import representation_leakage
from skfrl.utils import fine_tune

STABILISERS = {"none": None, "ema": 5.0}


def run(dataset, vname, stab, seed, data, rows):
    X, y, s, Xt, yt, st = data
    pre = make_preprocessor(X).fit(X)
    E, Et = pre.transform(X), pre.transform(Xt)
    monitor = LeakageMonitor(Et, st, every=1, cv=3, random_state=seed)
    frl = make_victim(vname, dataset).set_params(
        averaging_epochs=STABILISERS[stab],
        random_state=seed + 100,
        callbacks=[("leakage", monitor)],
    )
    frl.fit(E, y, sensitive_features=s)
    auc = representation_leakage(frl.transform(Et), st, cv=3, random_state=seed)
    vol = leakage_volatility(frl.history, last=5)
    cont = fine_tune(frl, E, y, s, epochs=3)
    auc3 = representation_leakage(cont.transform(Et), st, cv=3, random_state=seed)
    rows.append(
        dict(
            dataset=dataset,
            victim=vname,
            stabiliser=stab,
            seed=seed,
            auc=auc,
            epoch_sd=vol["sd"],
            cont3=abs(auc3 - auc),
            accuracy=float(np.mean(frl.predict(Et) == np.asarray(yt))),
            curve=" ".join(f"{v:.4f}" for v in frl.history[:, "leakage"]),
        )
    )
    print(
        f"{dataset} {vname} {stab} seed={seed}: AUC {auc:.3f} epoch sd "
        f"{vol['sd']:.3f} cont3 {abs(auc3 - auc):.3f}",
        flush=True,
    )


def report(df: pd.DataFrame) -> pd.DataFrame:
    keys = ["dataset", "victim", "stabiliser"]
    g = df.groupby(keys, sort=False)
    out = g.agg(
        auc=("auc", "mean"),
        seed_sd=("auc", "std"),
        epoch_sd=("epoch_sd", "mean"),
        cont3=("cont3", "mean"),
        accuracy=("accuracy", "mean"),
        n=("auc", "size"),
    )
    pd.set_option("display.width", 200)
    print(out.round(3).to_string())
    # Paired by seed: EMA minus last iterate.
    wide = df.pivot_table(
        index=["dataset", "victim", "seed"],
        columns="stabiliser",
        values=["auc", "epoch_sd", "cont3", "accuracy"],
    )
    if ("auc", "ema") in wide and ("auc", "none") in wide:
        print("\nEMA minus last iterate, paired by seed (mean [95 % interval]):")
        for (dataset, victim), sub in wide.groupby(level=[0, 1]):
            parts = []
            for m in ["auc", "epoch_sd", "cont3", "accuracy"]:
                d = (sub[(m, "ema")] - sub[(m, "none")]).dropna().to_numpy()
                r = interval(d)
                parts.append(
                    f"{m} {r['mean']:+.3f} [{r['low']:+.3f}, {r['high']:+.3f}]"
                )
            print(f"{dataset} {victim}: " + "; ".join(parts))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["adult", "german"])
    parser.add_argument(
        "--victims",
        nargs="+",
        default=["cfair", "cfair-eo", "adv"],
        choices=VICTIM_NAMES,
        metavar="VICTIM",
        help="victims, from: " + ", ".join(VICTIM_NAMES),
    )
    parser.add_argument("--stabilisers", nargs="+", default=["none", "ema"])
    parser.add_argument("--n-train", type=int, default=6000)
    add_common_args(parser, seeds=5, out="bench_volatility", merge=True)
    args = parser.parse_args(argv)
    if args.merge:
        report(read_runs(args.merge))
        return
    pin_threads()
    rows = []
    for dataset in args.datasets:
        data = load_train_test(dataset, args.n_train)
        for vname in args.victims:
            for seed in seed_range(args):
                for stab in args.stabilisers:
                    run(dataset, vname, stab, seed, data, rows)
                    write_runs(rows, args.out)
    report(pd.DataFrame(rows))


if __name__ == "__main__":
    main()
