"""Is an attack's effect on a fine-tuned victim a property of its poisons?

Hypothesis: if a poison set's effect on the continued victim is partly its
own (not only the noise of the continuation's batches), an attacker who can
simulate the continuation can craft several candidate sets and keep the one
whose simulated continuation leaks most: zeroth-order search on the real
bilevel objective, which gradient matching only approximates.

For each seed the clean victim is trained once; candidates are RAA with
``--raa`` random anchor choices, ENG (``prefit=True``) with ``--eng``
random states, and NRAA. Each candidate's poisoned continuation (full
schedule) runs twice: with the victim's own seed (the "real" continuation)
and with another seed (the attacker's simulation, which cannot know the
victim's batches); each is paired with the clean continuation of the same
seed. The report gives the correlation of the two changes across candidates
within a seed, and the real change of the candidate the simulation selects,
paired against NRAA. Selection here reads the held-out probe of the
simulated continuation, which an attacker would replace by its own rows:
an upper bound of what selection can gain.

Examples::

    OMP_NUM_THREADS=1 python benchmarks/bench_selection.py --seeds 10 \\
        --out benchmarks/results/selection.csv
    python benchmarks/bench_selection.py --merge benchmarks/results/selection*.csv
"""

from __future__ import annotations

import argparse
import copy

import numpy as np
import pandas as pd
from _common import (
    add_common_args,
    interval,
    load_train_test,
    make_victim,
    pin_threads,
    read_runs,
    seed_range,
    write_runs,
)

#: Seed shift of the attacker's simulated continuation.
SIMULATION_SHIFT = 1000


def continue_on(clean, X, y, s, shift: int):
    """The victim continued on ``(X, y, s)``, its seed shifted by ``shift``."""
    from skfrl.utils import fine_tune

    model = copy.deepcopy(clean)
    if shift:
        model[-1].set_params(random_state=model[-1].random_state + shift)
    return fine_tune(model, X, y, s)


def run_seed(dataset, vname, seed, args, data) -> list[dict]:
    from bench_attacks import evaluate, fit_clean

    from skfrl.attacks import AnchorAttack, PoisonGenerator

    X, y, s, Xt, yt, st = data
    clean, _ = fit_clean(make_victim(vname, dataset), X, y, s, seed + 100)
    shifts = (0, SIMULATION_SHIFT)
    ref = {
        k: evaluate(continue_on(clean, X, y, s, k), X, y, Xt, yt, st, seed)["probe_auc"]
        for k in shifts
    }
    budget = args.budget
    candidates = {
        f"raa{r}": AnchorAttack("random", budget=budget, random_state=seed * 100 + r)
        for r in range(args.raa)
    }
    candidates |= {
        f"eng{r}": PoisonGenerator(
            clean, budget=budget, prefit=True, random_state=seed * 100 + r
        )
        for r in range(args.eng)
    }
    candidates["nraa"] = AnchorAttack("non_random", budget=budget, random_state=seed)
    rows = []
    for name, attack in candidates.items():
        Xa, ya, sa = attack.fit_resample(X, y, sensitive_features=s)
        row = dict(dataset=dataset, victim=vname, seed=seed, candidate=name)
        for k, label in zip(shifts, ("real", "simulated"), strict=True):
            fitted = continue_on(clean, Xa, ya, sa, k)
            auc = evaluate(fitted, Xa, ya, Xt, yt, st, seed)["probe_auc"]
            row[label] = auc - ref[k]
        print(
            f"{dataset} {vname} seed={seed} {name}: real {row['real']:+.3f}, "
            f"simulated {row['simulated']:+.3f}",
            flush=True,
        )
        rows.append(row)
    return rows


def _fmt(d) -> str:
    r = interval(np.asarray(d, dtype=float))
    return f"{r['mean']:+.3f} [{r['low']:+.3f}, {r['high']:+.3f}] (n={r['n']})"


def report(df: pd.DataFrame) -> None:
    df = df.drop_duplicates(["dataset", "victim", "seed", "candidate"], keep="last")
    df = df.assign(kind=df.candidate.str.replace(r"\d+$", "", regex=True))
    for (dataset, vname), cell in df.groupby(["dataset", "victim"]):
        print(f"\n{dataset} {vname}: change of probe AUC, clean continuation paired")
        for kind, g in cell.groupby("kind"):
            if g.groupby("seed").candidate.nunique().min() > 1:
                centred = g[["real", "simulated"]] - g.groupby("seed")[
                    ["real", "simulated"]
                ].transform("mean")
                r = np.corrcoef(centred.real, centred.simulated)[0, 1]
                print(f"  {kind}: real vs simulated, correlation within a seed {r:.2f}")
        picks = {}
        for seed, g in cell.groupby("seed"):
            nraa = g[g.kind == "nraa"].real.iloc[0]
            row = {"nraa": nraa}
            for kind in ("raa", "eng"):
                k = g[g.kind == kind]
                if len(k):
                    row[f"{kind} (mean)"] = k.real.mean()
                    row[f"{kind} (selected)"] = k.loc[k.simulated.idxmax(), "real"]
            k = g[g.kind.isin(["raa", "eng"])]
            row["any (selected)"] = k.loc[k.simulated.idxmax(), "real"]
            picks[seed] = row
        picks = pd.DataFrame(picks).T
        for col in picks:
            print(f"  {col:16s} {_fmt(picks[col])}")
        for col in [c for c in picks if "selected" in c]:
            print(f"  {col} - nraa: {_fmt(picks[col] - picks.nraa)}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="adult")
    parser.add_argument("--victim", default="cfair")
    parser.add_argument("--budget", type=float, default=0.05)
    parser.add_argument("--raa", type=int, default=4, help="RAA candidates")
    parser.add_argument("--eng", type=int, default=3, help="ENG candidates")
    parser.add_argument("--n-train", type=int, default=6000)
    add_common_args(parser, seeds=10, out="bench_selection", merge=True)
    args = parser.parse_args(argv)
    if args.merge:
        report(read_runs(args.merge))
        return
    pin_threads()
    data = load_train_test(args.dataset, args.n_train)
    rows = []
    for seed in seed_range(args):
        rows += run_seed(args.dataset, args.victim, seed, args, data)
        write_runs(rows, args.out)
    report(pd.DataFrame(rows))


if __name__ == "__main__":
    main()
