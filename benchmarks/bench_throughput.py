"""Training throughput of skfrl: the skorch loop against a hand-written one.

The throughput of the skorch-based training loop
(``AdversarialFairRepresentation.fit``) is measured against a hand-written
PyTorch loop over the same network, data, batch size, epochs, losses and
optimizers, and the ratio printed (DESIGN.md section 5; target: skorch /
hand >= 0.85). It is not asserted: this is a script, not a test. The cost
of scoring leakage inside a ``GridSearchCV`` is the other training-cost
benchmark, ``benchmarks/bench_gridsearch.py``.

What the hand-written loop does (per fit), kept as close to what a
competent PyTorch user would write for the same model as possible:

- ``torch.as_tensor`` on the prepared float32 ``X`` and int64 ``y`` / ``s``
  codes, ``torch.manual_seed`` with the seed skfrl derives from
  ``random_state`` (:func:`skfrl.utils.seed_from`), construction of the
  model's network class (``type(model.module_)``) with the very arguments
  the skfrl model uses, and two ``torch.optim.Adam`` (encoder + task head;
  adversaries) with the model's learning rate;
- per epoch: ``torch.randperm(n)`` and, per batch, index slicing of the three
  tensors; ``zero_grad(set_to_none=True)`` of both optimizers; one forward
  pass; task cross-entropy plus the adversaries' cross-entropy (all heads
  stacked, inverse-frequency class weights, i.e. the mean over heads);
  one ``backward()`` (gradient reversal inside the module); one ``step()``
  of each optimizer; then ``adversary_steps - 1`` adversary-only steps on the
  detached representation of the same batch, as the skfrl model does;
- one ``loss.item()`` per batch, accumulated into an epoch loss for
  logging.

It does not record a per-batch history, run callbacks, check for a
non-finite loss or validate inputs; that bookkeeping is the overhead being
measured. The skorch side is timed as a user calls it: the whole
``fit(X, y, sensitive_features=s)`` on the same float32 array and codes
(its input validation and encoding included). The skfrl model trains its
last iterate (``averaging_epochs=None``), as the hand loop does. The epoch
loops alone (skorch's ``EpochTimer`` durations vs the hand loop's epochs)
are reported as a second ratio. Runs of the two sides are interleaved
(alternating which goes first) so that load from other processes on the
machine hits both alike, and a warm-up run of each checks that both produce
the same weights (they do, bit for bit).

Threads: by default torch and the BLAS/OpenMP pools (threadpoolctl) are
pinned to one thread, and the skfrl model is given the same ``n_threads``
(``--threads 0`` keeps the libraries' defaults). On a shared two-core
machine, two OpenMP/OpenBLAS threads competing with other processes made
both loops up to 20x slower and erratic. Process CPU time is reported next
to wall time as the measure least sensitive to other load.

Usage::

    .venv/bin/python benchmarks/bench_throughput.py            # full run
    .venv/bin/python benchmarks/bench_throughput.py --quick    # smoke run
    .venv/bin/python benchmarks/bench_throughput.py --epochs 3 --repeats 5 \\
        --threads 2 --profile

Results are also written to ``benchmarks/results/bench_throughput.json``.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import math
import pstats
import statistics
import sys
import time
import timeit
from pathlib import Path

import numpy as np
import skorch.utils
import torch
from _common import (
    RESULTS_DIR,
    add_common_args,
    close_timing,
    timing_environment,
    write_timing,
)
from torch.nn import functional as F

from skfrl.datasets import load_adult, make_preprocessor
from skfrl.models import AdversarialFairRepresentation
from skfrl.utils import seed_from

THROUGHPUT_TARGET = 0.85
BATCH_SIZE = 256
RESULTS = RESULTS_DIR / "bench_throughput.json"


# -- data ---------------------------------------------------------------------
def load_throughput_data(n_rows: int | None):
    """Adult (sex), train subset, preprocessed to a float32 array.

    ``y`` and ``s`` are int64 codes, given identically to both loops.
    """
    X, y, s = load_adult(sensitive="sex", return_X_y_s=True, subset="train")
    if n_rows is not None and n_rows < len(X):
        rows = np.random.default_rng(0).choice(len(X), n_rows, replace=False)
        X, y, s = X.iloc[rows], y.iloc[rows], s.iloc[rows]
    Xt = make_preprocessor(X).fit(X).transform(X)
    Xt = np.ascontiguousarray(Xt.to_numpy(), dtype=np.float32)
    y_codes = np.array(y, dtype=np.int64)  # writable copies for torch
    s_codes = np.array(s.cat.codes, dtype=np.int64)
    return Xt, y_codes, s_codes


# -- the two training loops ---------------------------------------------------
def make_model(epochs: int, n_threads: int | None) -> AdversarialFairRepresentation:
    # The last iterate, as the hand loop trains it (no weight averaging), on
    # the threads the hand loop gets.
    return AdversarialFairRepresentation(
        max_epochs=epochs,
        batch_size=BATCH_SIZE,
        averaging_epochs=None,
        n_threads=n_threads,
        random_state=0,
    )


def default_model_shuffles(X, y) -> bool:
    """Whether a default-constructed model's training iterator shuffles.

    The hand loop shuffles every epoch; a model that did not would not be
    compared like for like (and the warm-up weight check would fail).
    """
    model = AdversarialFairRepresentation(max_epochs=1, random_state=0)
    dataset = model.get_dataset({"X": X[:10]}, y[:10])
    return bool(getattr(model.get_iterator(dataset, training=True), "shuffle", True))


def skorch_fit(X, y, s, epochs: int, n_threads: int | None):
    """Time ``AdversarialFairRepresentation.fit``.

    Returns the wall time of ``fit``, the summed epoch durations and the model.
    """
    model = make_model(epochs, n_threads)
    t0 = time.perf_counter()
    model.fit(X, y, sensitive_features=s)
    total = time.perf_counter() - t0
    epoch_time = float(sum(model.history[:, "dur"]))
    return total, epoch_time, model


def module_spec(model: AdversarialFairRepresentation) -> dict:
    """Everything the hand loop needs to rebuild the model's network."""
    attrs = model.sensitive_attributes_
    assert len(attrs) == 1 and attrs[0].kind == "categorical", attrs
    return {
        # The model's own network class; skfrl does not export it.
        "module_class": type(model.module_),
        "module_args": {
            "n_features": model.n_features_in_,
            "hidden_layer_sizes": tuple(model.hidden_layer_sizes),
            "n_components": model.n_components,
            "n_classes": len(model.classes_),
            "adversary_outputs": [attrs[0].n_classes],
            "reversal_scales": [float(model.fairness_weight)],
            "n_adversaries": model.n_adversaries,
            "adversary_hidden_size": model.adversary_hidden_size,
            "adversary_dropout": model.adversary_dropout,
        },
        "lr": model.lr,
        "adversary_steps": model.adversary_steps,
        # skfrl seeds torch with the seed it draws from random_state.
        "seed": seed_from(model.random_state),
    }


def hand_fit(X, y, s, spec: dict, epochs: int, batch_size: int = BATCH_SIZE):
    """The hand-written PyTorch loop (see the module docstring).

    Returns the wall time of the whole fit, of its epochs, and the module.
    """
    t0 = time.perf_counter()
    Xt = torch.as_tensor(X)
    yt = torch.as_tensor(y)
    st = torch.as_tensor(s)
    counts = torch.bincount(st).double()
    class_weight = (counts.sum() / (len(counts) * counts.clamp(min=1))).float()
    torch.manual_seed(spec["seed"])
    module = spec["module_class"](**spec["module_args"])
    main_params = [
        p for n, p in module.named_parameters() if not n.startswith("adversaries.")
    ]
    opt = torch.optim.Adam(main_params, lr=spec["lr"])
    opt_adv = torch.optim.Adam(module.adversaries.parameters(), lr=spec["lr"])
    head = module.adversaries[0]
    n_heads = head.n_heads
    n = len(Xt)

    def adversary_loss(out, sb):
        # out: (n_heads, batch, n_groups); the weighted mean over all heads
        # is the mean of the heads' weighted means.
        return F.cross_entropy(
            out.reshape(-1, out.shape[-1]), sb.repeat(n_heads), weight=class_weight
        )

    module.train()
    t_epochs = time.perf_counter()
    epoch_losses = []
    for _ in range(epochs):
        perm = torch.randperm(n)
        running = 0.0
        for start in range(0, n, batch_size):
            idx = perm[start : start + batch_size]
            xb, yb, sb = Xt[idx], yt[idx], st[idx]
            opt.zero_grad(set_to_none=True)
            opt_adv.zero_grad(set_to_none=True)
            out = module(xb)
            loss = F.cross_entropy(out["logits"], yb) + adversary_loss(
                out["adv"][0], sb
            )
            loss.backward()
            opt.step()
            opt_adv.step()
            z = out["z"].detach()
            for _ in range(spec["adversary_steps"] - 1):
                opt_adv.zero_grad(set_to_none=True)
                adversary_loss(head(z), sb).backward()
                opt_adv.step()
            running += loss.item() * len(idx)
        epoch_losses.append(running / n)
    module.eval()
    t1 = time.perf_counter()
    return t1 - t0, t1 - t_epochs, module


def max_weight_difference(a: torch.nn.Module, b: torch.nn.Module) -> float:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys(), (sa.keys(), sb.keys())
    return max(float((sa[k] - sb[k]).abs().max()) for k in sa)


def bench_throughput(
    epochs: int, repeats: int, n_rows: int | None, n_threads: int | None
) -> dict:
    X, y, s = load_throughput_data(n_rows)
    n = len(X)
    n_batches = math.ceil(n / BATCH_SIZE)
    print(
        f"\n== Throughput: Adult (sex), {n} rows x {X.shape[1]} features, "
        f"batch_size={BATCH_SIZE}, {epochs} epoch(s), {repeats} repeat(s) =="
    )

    # Warm-up of both sides (allocator, kernels, imports), which also checks
    # that the hand loop trains the very same network the same way.
    _, _, model = skorch_fit(X, y, s, epochs, n_threads)
    spec = module_spec(model)
    _, _, module = hand_fit(X, y, s, spec, epochs)
    diff = max_weight_difference(model.module_, module)
    same = diff < 1e-5
    print(
        "warm-up: max |weight difference| skorch vs hand after "
        f"{epochs} epoch(s) = {diff:.2e} "
        f"({'identical training' if same else 'DIFFERS'})"
    )
    del model, module
    shuffles = default_model_shuffles(X, y)
    if not shuffles:
        print(
            "note: AdversarialFairRepresentation() does NOT shuffle by default; "
            "the hand loop does, so the two sides are not comparable"
        )

    # Wall time is what the targets are about; process CPU time (one torch
    # thread) is far less sensitive to other load on a shared machine.
    keys = ("wall", "cpu", "epochs")
    runs = {f"{side}_{k}": [] for side in ("skorch", "hand") for k in keys}
    for r in range(repeats):
        order = ("hand", "skorch") if r % 2 == 0 else ("skorch", "hand")
        for side in order:
            gc.collect()
            c0 = time.process_time()
            if side == "skorch":
                total, ep, _ = skorch_fit(X, y, s, epochs, n_threads)
            else:
                total, ep, _ = hand_fit(X, y, s, spec, epochs)
            runs[f"{side}_cpu"].append(time.process_time() - c0)
            runs[f"{side}_wall"].append(total)
            runs[f"{side}_epochs"].append(ep)
        print(
            f"  repeat {r + 1}/{repeats}: skorch fit {runs['skorch_wall'][-1]:.2f} s"
            f" (cpu {runs['skorch_cpu'][-1]:.2f} s), "
            f"hand {runs['hand_wall'][-1]:.2f} s (cpu {runs['hand_cpu'][-1]:.2f} s)"
        )

    n_samples = n * epochs
    med = {k: statistics.median(v) for k, v in runs.items()}
    paired = [
        h / sk for h, sk in zip(runs["hand_wall"], runs["skorch_wall"], strict=True)
    ]
    res = {
        "n_rows": n,
        "n_features": X.shape[1],
        "batch_size": BATCH_SIZE,
        "epochs": epochs,
        "repeats": repeats,
        "batches_per_epoch": n_batches,
        "adversary_steps": spec["adversary_steps"],
        "same_weights_as_hand_loop": bool(same),
        "default_model_shuffles": shuffles,
        "max_weight_difference": diff,
        "times_s": runs,
        "median_s": med,
        "skorch_samples_per_s": n_samples / med["skorch_wall"],
        "hand_samples_per_s": n_samples / med["hand_wall"],
        "ratio": med["hand_wall"] / med["skorch_wall"],
        "ratio_paired_median": statistics.median(paired),
        "ratio_cpu": med["hand_cpu"] / med["skorch_cpu"],
        "ratio_min": min(runs["hand_wall"]) / min(runs["skorch_wall"]),
        "ratio_epochs_only": med["hand_epochs"] / med["skorch_epochs"],
        "overhead_per_batch_us": 1e6
        * (med["skorch_wall"] - med["hand_wall"])
        / (n_batches * epochs),
        "overhead_per_batch_cpu_us": 1e6
        * (med["skorch_cpu"] - med["hand_cpu"])
        / (n_batches * epochs),
        "target": THROUGHPUT_TARGET,
    }
    print(
        f"median: skorch {res['skorch_samples_per_s']:,.0f} samples/s, "
        f"hand {res['hand_samples_per_s']:,.0f} samples/s, "
        f"ratio {res['ratio']:.3f}\n"
        f"  median of per-repeat ratios {res['ratio_paired_median']:.3f}; "
        f"fastest runs {res['ratio_min']:.3f}; "
        f"epoch loops only {res['ratio_epochs_only']:.3f}; "
        f"CPU time {res['ratio_cpu']:.3f}\n"
        f"  skorch overhead {res['overhead_per_batch_us']:.0f} us/batch wall, "
        f"{res['overhead_per_batch_cpu_us']:.0f} us/batch CPU "
        f"(hand loop: {1e6 * med['hand_wall'] / (n_batches * epochs):.0f} "
        "us/batch wall)"
    )
    return res


# -- profiling ----------------------------------------------------------------
def _profile(fn) -> dict:
    """Run ``fn`` under cProfile; per-function (ncalls, tottime, cumtime)."""
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    out = {}
    for (file, line, name), (_, ncalls, tottime, cumtime, _) in pstats.Stats(
        prof
    ).stats.items():
        key = f"{Path(file).parent.name}/{Path(file).name}:{line}({name})"
        if file == "~":
            key = name
        out[key] = (ncalls, tottime, cumtime)
    return out


def bookkeeping_costs(model, X, y, s) -> dict:
    """Time, in isolation, the per-batch work skorch/skfrl adds (us per batch).

    Each entry is (statement, calls per batch) for a fitted model; the
    statements are the calls ``run_single_epoch``, ``train_step`` and
    ``get_loss`` make that the hand loop does not.
    """
    dataset = model.get_dataset({"X": X[:BATCH_SIZE], "s_cat": s[:BATCH_SIZE, None]})
    batch = next(iter(model.get_iterator(dataset, training=True)))
    model.history.new_batch()
    loss = torch.ones((), requires_grad=True) * 2.0
    ns = {"m": model, "batch": batch, "loss": loss, "torch": torch}
    ns["TeeGenerator"] = skorch.utils.TeeGenerator
    items = {
        "_set_training(True) (module.train() walk)": (
            "m._set_training(True)",
            1,
        ),
        "notify on_batch_begin": (
            "m.notify('on_batch_begin', batch=batch, training=True)",
            1,
        ),
        "notify on_grad_computed (+TeeGenerator)": (
            "m.notify('on_grad_computed', named_parameters=TeeGenerator("
            "m.get_all_learnable_params()), batch=batch, training=True)",
            1,
        ),
        "notify on_batch_end": (
            "m.notify('on_batch_end', batch=batch, training=True, loss=loss,"
            " y_pred=None)",
            1,
        ),
        "history.record_batch": ("m.history.record_batch('x', 1.0)", 4),
        "extra loss.item() syncs": ("loss.item()", 3),
        "torch.zeros(()) + add in _adversary_loss": (
            "torch.zeros(()) + loss",
            model.adversary_steps,
        ),
        "infer: {k: v.to(device)}": (
            "{k: v.to(m.device) for k, v in batch[0].items()}",
            1,
        ),
    }
    out = {}
    for name, (stmt, per_batch) in items.items():
        n = 2000
        best = min(timeit.repeat(stmt, number=n, repeat=5, globals=ns)) / n
        out[name] = 1e6 * best * per_batch
    return out


def profile_skorch(
    epochs: int, n_rows: int | None, n_threads: int | None, top: int = 25
) -> dict:
    """cProfile one skorch fit and one hand fit; print where skorch spends more.

    cProfile inflates Python-heavy code, so the absolute numbers overstate
    the overhead; the difference table shows where it comes from.
    """
    X, y, s = load_throughput_data(n_rows)
    n_batches = math.ceil(len(X) / BATCH_SIZE) * epochs
    _, _, model = skorch_fit(X, y, s, epochs, n_threads)  # warm-up
    spec = module_spec(model)
    hand_wall = min(hand_fit(X, y, s, spec, epochs)[0] for _ in range(2))
    sk = _profile(lambda: skorch_fit(X, y, s, epochs, n_threads))
    hd = _profile(lambda: hand_fit(X, y, s, spec, epochs))

    def us(seconds):
        return 1e6 * seconds / n_batches

    total_sk = sum(v[1] for v in sk.values())
    total_hd = sum(v[1] for v in hd.values())
    print(
        f"\n== Profile (cProfile) of one fit, {n_batches} batches: skorch "
        f"{us(total_sk):.0f} us/batch, hand {us(total_hd):.0f} us/batch =="
    )
    print("-- skorch, by cumulative time (us per batch, calls) --")
    by_cum = sorted(sk.items(), key=lambda kv: kv[1][2], reverse=True)
    for key, (ncalls, _, cum) in by_cum[:top]:
        print(f"{us(cum):9.1f}  {ncalls:>7}  {key}")
    costs = bookkeeping_costs(model, X, y, s)
    print(
        "-- per-batch bookkeeping timed in isolation (best of 5, us per batch); "
        f"total {sum(costs.values()):.0f} us vs hand loop "
        f"{1e6 * hand_wall / n_batches:.0f} us/batch --"
    )
    for name, cost in sorted(costs.items(), key=lambda kv: -kv[1]):
        print(f"{cost:9.1f}  {name}")
    # Functions skorch calls more often than the hand loop: the structural
    # overhead (callbacks, history, extra syncs, ...). Functions both call
    # equally often differ only by noise (other load on the machine).
    diff = []
    for key, (n_sk, tt_sk, _) in sk.items():
        n_hd = hd.get(key, (0, 0.0, 0.0))[0]
        if n_sk > n_hd:
            diff.append((tt_sk * (n_sk - n_hd) / n_sk, key, n_sk, n_hd))
    diff.sort(reverse=True)
    extra_total = sum(d[0] for d in diff)
    print(
        "-- self time in calls the hand loop does not make (us per batch; "
        f"calls per batch skorch/hand); total {us(extra_total):.0f} us/batch --"
    )
    for d, key, n_sk, n_hd in diff[:top]:
        print(f"{us(d):9.1f}  {n_sk / n_batches:7.2f}/{n_hd / n_batches:<7.2f} {key}")
    return {
        "n_batches": n_batches,
        "bookkeeping_us_per_batch": costs,
        "skorch_us_per_batch": us(total_sk),
        "hand_us_per_batch": us(total_hd),
        "skorch_by_cumtime": [
            {"function": k, "ncalls": n, "cum_us_per_batch": us(c)}
            for k, (n, _, c) in by_cum[:60]
        ],
        "extra_calls_us_per_batch": us(extra_total),
        "extra_calls": [
            {
                "function": key,
                "extra_us_per_batch": us(d),
                "calls_per_batch_skorch": n_sk / n_batches,
                "calls_per_batch_hand": n_hd / n_batches,
            }
            for d, key, n_sk, n_hd in diff[:60]
        ],
    }


# -- main ---------------------------------------------------------------------
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=3, help="epochs per timed fit")
    p.add_argument("--repeats", type=int, default=5, help="timed fits per side")
    p.add_argument(
        "--profile",
        action="store_true",
        help="cProfile the skorch loop even when it meets the target",
    )
    add_common_args(
        p,
        quick="tiny sizes for a smoke run (seconds, numbers meaningless)",
        threads=True,
    )
    p.add_argument("--output", type=Path, default=RESULTS, help="JSON results file")
    args = p.parse_args(argv)
    args.n_rows = None
    if args.quick:
        args.n_rows, args.epochs, args.repeats = 2000, 1, 2
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    t_start = time.perf_counter()
    n_threads = args.threads or None
    env = timing_environment(args.threads, args.quick)

    results = {"env": env, "quick": args.quick}
    results["throughput"] = tp = bench_throughput(
        args.epochs, args.repeats, args.n_rows, n_threads
    )
    if args.profile or tp["ratio"] < THROUGHPUT_TARGET:
        results["profile"] = profile_skorch(args.epochs, args.n_rows, n_threads)
    close_timing(results, t_start)

    print("\n== Summary ==")
    ok = tp["ratio"] >= THROUGHPUT_TARGET
    print(
        f"throughput ratio (skorch/hand): {tp['ratio']:.2f} "
        f"(target >= {THROUGHPUT_TARGET}) {'OK' if ok else 'MISSED'}  "
        f"[skorch {tp['skorch_samples_per_s']:,.0f} vs hand "
        f"{tp['hand_samples_per_s']:,.0f} samples/s; per-repeat median "
        f"{tp['ratio_paired_median']:.2f}, fastest runs {tp['ratio_min']:.2f}, "
        "epoch loops only "
        f"{tp['ratio_epochs_only']:.2f}, CPU time {tp['ratio_cpu']:.2f}]"
    )
    write_timing(results, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
