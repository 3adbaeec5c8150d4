"""Pieces shared by the benchmark scripts of this folder.

The scripts run as ``python benchmarks/bench_x.py``: Python puts this folder
first on ``sys.path``, so they import this module as ``_common``.

Heavy imports (torch, threadpoolctl, skfrl) happen inside the functions, so
that importing this module costs little (``--help``, the memory benchmark's
baseline).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

#: Where the scripts write their run files by default (git-ignored).
RESULTS_DIR = Path(__file__).resolve().parent / "results"

#: Training schedule per data set, for every model of the benchmarks. The
#: models' defaults (batch 256, 20-50 epochs) are sized for ~10^4 rows; on
#: German's 700 training rows they give fewer than 150 optimizer steps, too
#: few for the adversaries to catch up with the encoder (measured: CFair's
#: probe AUC above its unconstrained version's).
SCHEDULES: dict[str, dict] = {"german": {"batch_size": 64, "max_epochs": 100}}

# The adversarial victims train to their last iterate, whatever the library
# default is; the "-ema" victims average their weights over 5 epochs.
_VICTIMS: dict[str, tuple[str, dict]] = {
    "adv": ("AdversarialFairRepresentation", {"averaging_epochs": None}),
    "cfair": ("CFair", {"mode": "balanced", "averaging_epochs": None}),
    "cfair-eo": ("CFair", {"mode": "eo", "averaging_epochs": None}),
    "icvae-s": ("ICVAE", {"supervised": True}),
    "icvae-us": ("ICVAE", {"supervised": False}),
}
for _name in ("adv", "cfair", "cfair-eo"):
    _cls, _params = _VICTIMS[_name]
    _VICTIMS[_name + "-ema"] = (_cls, {**_params, "averaging_epochs": 5.0})

#: Names of the victims :func:`make_victim` builds.
VICTIM_NAMES: tuple[str, ...] = tuple(_VICTIMS)


# -- command line -------------------------------------------------------------
def add_common_args(
    parser: argparse.ArgumentParser,
    *,
    out: str | None = None,
    seeds: int | None = None,
    first_seed: bool = True,
    merge: bool = False,
    quick: str | None = None,
    threads: bool = False,
) -> argparse.ArgumentParser:
    """Add the options the scripts share; each is left out when not asked for.

    ``out``: ``--out``, a run CSV, by default ``results/<out>.csv``.
    ``seeds``: ``--seeds`` (how many, default ``seeds``) and, with
    ``first_seed``, ``--first-seed`` (see :func:`seed_range`). ``merge``:
    ``--merge`` (report on earlier run CSVs instead of running). ``quick``:
    ``--quick``, with this help text. ``threads``: ``--threads`` (default
    1, 0 for the libraries' defaults; see :func:`pin_threads`).
    """
    if seeds is not None:
        parser.add_argument(
            "--seeds", type=int, default=seeds, help="number of seeds to run"
        )
        if first_seed:
            parser.add_argument(
                "--first-seed", type=int, default=0, help="seeds run from here on"
            )
    if quick is not None:
        parser.add_argument("--quick", action="store_true", help=quick)
    if threads:
        parser.add_argument(
            "--threads",
            type=int,
            default=1,
            help="torch.set_num_threads and threadpoolctl limit (BLAS/OpenMP), 0 "
            "for the libraries' defaults (default: 1; more threads gain little on "
            "these tiny matrices and, on a shared machine, oversubscribed "
            "OpenMP/OpenBLAS threads slow everything erratically, up to 20x)",
        )
    if out is not None:
        parser.add_argument(
            "--out",
            default=str(RESULTS_DIR / f"{out}.csv"),
            help="run CSV, written as the run goes",
        )
    if merge:
        parser.add_argument(
            "--merge",
            nargs="+",
            default=None,
            metavar="CSV",
            help="report on these run CSVs (concatenated) instead of running",
        )
    return parser


def seed_range(args: argparse.Namespace) -> range:
    """The seeds of a run: ``--seeds`` of them from ``--first-seed`` on."""
    first = getattr(args, "first_seed", 0)
    return range(first, first + args.seeds)


# -- threads ------------------------------------------------------------------
def pin_threads(n_threads: int = 1) -> None:
    """Run torch and the BLAS / OpenMP pools on ``n_threads`` threads from now on.

    skfrl bounds its models' ``fit`` to one thread itself, but not what runs
    around it (attack crafting, probes, downstream classifiers). Torch's
    default of one thread per core is pathological on a small machine under
    load: on two shared cores, fits and scipy's L-BFGS-B ran 5-20x slower
    and erratically. ``OMP_NUM_THREADS`` is also set (unless already set)
    for child processes.
    """
    import torch
    from threadpoolctl import threadpool_limits

    os.environ.setdefault("OMP_NUM_THREADS", str(n_threads))
    torch.set_num_threads(n_threads)
    # Not a context manager: the limit holds for the rest of the process.
    threadpool_limits(limits=n_threads)


# -- run files ----------------------------------------------------------------
def write_runs(rows: Sequence[dict], out: str | Path) -> pd.DataFrame:
    """Write the runs so far to ``out``; a long run can be merged meanwhile."""
    frame = pd.DataFrame(rows)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False)
    return frame


def read_runs(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Concatenate the run CSVs of earlier runs (``--merge``)."""
    return pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)


# -- data and models ----------------------------------------------------------
def load_train_test(name: str, n_train: int | None, seed: int = 0):
    """``X, y, s, X_test, y_test, s_test`` of the attack benchmarks.

    Adult (sex): the original training part (``n_train`` random rows of it)
    and the first 5,000 rows of the test part. German (age) and COMPAS
    (race): a 70/30 split stratified on ``y`` and ``s``.
    """
    from sklearn.model_selection import train_test_split

    from skfrl.datasets import load_adult, load_compas, load_german

    if name == "adult":
        X, y, s = load_adult(sensitive="sex", subset="train", return_X_y_s=True)
        Xt, yt, st = load_adult(sensitive="sex", subset="test", return_X_y_s=True)
        Xt, yt, st = Xt.iloc[:5000], yt.iloc[:5000], st.iloc[:5000]
    else:
        if name == "german":
            X, y, s = load_german(sensitive="age", return_X_y_s=True)
        else:
            X, y, s = load_compas(sensitive="race", return_X_y_s=True)
        strata = y.astype(str) + s.astype(str)
        X, Xt, y, yt, s, st = train_test_split(
            X, y, s, test_size=0.3, stratify=strata, random_state=seed
        )
    if n_train and n_train < len(X):
        idx = np.sort(np.random.default_rng(seed).choice(len(X), n_train, False))
        X, y, s = X.iloc[idx], y.iloc[idx], s.iloc[idx]
    return X, y, s, Xt, yt, st


def make_victim(name: str, dataset: str | None = None):
    """A fresh victim model by name (:data:`VICTIM_NAMES`).

    With ``dataset``, the data set's training schedule (:data:`SCHEDULES`)
    is applied.
    """
    import skfrl.models

    if name not in _VICTIMS:
        raise ValueError(f"unknown victim {name!r}; choose from {VICTIM_NAMES}")
    cls, params = _VICTIMS[name]
    return getattr(skfrl.models, cls)(**params, **SCHEDULES.get(dataset, {}))


# -- statistics and formatting ------------------------------------------------
def interval(d: np.ndarray, confidence: float = 0.95) -> dict:
    """Mean, standard error and t interval of paired differences (one per seed)."""
    # skfrl (and torch) load late: the scripts pin threads before importing them.
    from skfrl.evaluation import paired_interval

    return paired_interval(d, confidence=confidence)


def mean_sd(mean: float, sd: float, *, digits: int = 3, missing: str = "-") -> str:
    """``"mean ± sd"`` for a table cell; the mean alone when sd is NaN."""
    if np.isnan(mean):
        return missing
    if np.isnan(sd):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


# -- environment --------------------------------------------------------------
def environment() -> dict:
    """Library versions, cores, thread pools and load, for a timing record."""
    import platform
    import sys

    import sklearn
    import skorch
    import torch
    from threadpoolctl import threadpool_info

    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "skorch": skorch.__version__,
        "sklearn": sklearn.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_num_threads": torch.get_num_threads(),
        "threadpools": [
            {k: d[k] for k in ("internal_api", "num_threads", "filepath")}
            for d in threadpool_info()
        ],
        "loadavg_start": os.getloadavg(),
    }


def timing_environment(threads: int, quick: bool) -> dict:
    """Pin threads (``--threads``), then record and print the environment."""
    if threads:
        pin_threads(threads)
    env = environment()
    print(
        f"torch {env['torch']}, skorch {env['skorch']}, scikit-learn "
        f"{env['sklearn']}; torch threads: {env['torch_num_threads']} "
        f"({'torch + BLAS pinned by --threads' if threads else 'defaults'}), "
        f"{env['cpu_count']} CPUs, load average {env['loadavg_start'][0]:.2f}"
    )
    if quick:
        print("--quick: smoke-run sizes, the ratios below are not meaningful")
    return env


def close_timing(results: dict, t_start: float) -> None:
    """Stamp a timing record with its end: load average, runtime, time."""
    import time
    from datetime import UTC, datetime

    results["env"]["loadavg_end"] = os.getloadavg()
    results["runtime_s"] = time.perf_counter() - t_start
    results["finished"] = datetime.now(UTC).isoformat()


def write_timing(results: dict, path: str | Path) -> None:
    """Print the runtime line of a closed timing record, then write it."""
    env = results["env"]
    print(
        f"runtime {results['runtime_s']:.0f} s; torch threads "
        f"{env['torch_num_threads']}; load average start/end "
        f"{env['loadavg_start'][0]:.2f}/{env['loadavg_end'][0]:.2f}"
    )
    write_json(results, path)


def write_json(results: dict, path: str | Path) -> None:
    """Write a timing record (numpy numbers as floats)."""
    import json

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=float) + "\n")
    print(f"results written to {path}")
