"""Command-line interface: ``skfrl audit``.

The audit fits a fair representation on a data set and compares the raw
(preprocessed) features with the learned representation on held-out data:
task accuracy of a downstream logistic regression, how well a probe recovers
the sensitive attribute (ROC AUC, balanced error rate, Fisher score) and the
demographic-parity gap of the downstream predictions.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd

__all__ = ["main", "run_audit"]

_DATASETS = {
    "adult": ("load_adult", ("sex", "race")),
    "german": ("load_german", ("sex", "age")),
    "compas": ("load_compas", ("race", "sex")),
    "drug": ("load_drug_consumption", ("gender", "age", "ethnicity")),
}


def _load(dataset: str, sensitive: str | None):
    from sklearn.model_selection import train_test_split

    from . import datasets

    loader_name, options = _DATASETS[dataset]
    sensitive = sensitive or options[0]
    if sensitive not in options:
        raise ValueError(
            f"--sensitive for {dataset} must be one of {', '.join(options)}; "
            f"got {sensitive!r}"
        )
    loader = getattr(datasets, loader_name)
    if dataset == "adult":
        # The original UCI split keeps the audit comparable with the literature.
        train = loader(sensitive=sensitive, subset="train", return_X_y_s=True)
        test = loader(sensitive=sensitive, subset="test", return_X_y_s=True)
        return (*train, *test), sensitive
    X, y, s = loader(sensitive=sensitive, return_X_y_s=True)
    strata = y.astype(str) + "|" + s.astype(str)
    X_tr, X_te, y_tr, y_te, s_tr, s_te = train_test_split(
        X, y, s, test_size=0.3, stratify=strata, random_state=0
    )
    return (X_tr, y_tr, s_tr, X_te, y_te, s_te), sensitive


def _subsample(X, y, s, n: int | None, seed: int):
    if n is None or n >= len(X):
        return X, y, s
    idx = np.random.default_rng(seed).choice(len(X), size=n, replace=False)
    idx.sort()
    return X.iloc[idx], y.iloc[idx], s.iloc[idx]


def _row(name, Z_tr, y_tr, Z_te, y_te, s_te, seed) -> dict:
    from fairlearn.metrics import demographic_parity_difference
    from sklearn.linear_model import LogisticRegression

    from .metrics import fld_score, representation_leakage

    clf = LogisticRegression(max_iter=2000).fit(Z_tr, y_tr)
    y_pred = clf.predict(Z_te)
    return {
        "features": name,
        "accuracy": float(np.mean(y_pred == np.asarray(y_te))),
        "probe_auc_s": representation_leakage(Z_te, s_te, random_state=seed),
        "probe_ber_s": representation_leakage(
            Z_te, s_te, metric="ber", random_state=seed
        ),
        "fld_s": fld_score(Z_te, s_te),
        "dp_difference": float(
            demographic_parity_difference(y_te, y_pred, sensitive_features=s_te)
        ),
    }


def run_audit(
    dataset: str = "adult",
    *,
    sensitive: str | None = None,
    lambda_adv: float = 1.0,
    n_components: int = 8,
    max_epochs: int = 20,
    max_samples: int | None = None,
    random_state: int = 0,
    verbose: int = 0,
) -> pd.DataFrame:
    """Compare raw features and a fair representation on held-out data.

    Parameters
    ----------
    dataset : {"adult", "german", "compas", "drug"}, default="adult"
        Data set; COMPAS and Drug consumption are read from ``SKFRL_DATA``.
    sensitive : str or None, default=None
        Sensitive attribute (the data set's first option when None).
    lambda_adv : float, default=1.0
        Gradient-reversal scale of the adversarial model.
    n_components : int, default=8
        Dimension of the representation.
    max_epochs : int, default=20
        Training epochs.
    max_samples : int or None, default=None
        Subsample the training part to at most this many rows.
    random_state : int, default=0
        Seed of the model, the subsample and the probes.
    verbose : int, default=0
        Training progress when > 0.

    Returns
    -------
    report : DataFrame
        One row for the raw features and one for the representation, with
        ``accuracy``, ``probe_auc_s``, ``probe_ber_s``, ``fld_s`` and
        ``dp_difference`` on held-out data.

    Examples
    --------
    >>> from skfrl.cli import run_audit
    >>> report = run_audit("german", max_epochs=2)  # doctest: +SKIP
    >>> list(report["features"])  # doctest: +SKIP
    ['raw', 'representation']
    """
    from .datasets import make_preprocessor
    from .models import AdversarialFairRepresentation

    if dataset not in _DATASETS:
        raise ValueError(
            f"--dataset must be one of {', '.join(_DATASETS)}; got {dataset!r}"
        )
    (X_tr, y_tr, s_tr, X_te, y_te, s_te), sensitive = _load(dataset, sensitive)
    X_tr, y_tr, s_tr = _subsample(X_tr, y_tr, s_tr, max_samples, random_state)
    pre = make_preprocessor(X_tr).fit(X_tr)
    R_tr, R_te = pre.transform(X_tr), pre.transform(X_te)
    frl = AdversarialFairRepresentation(
        n_components=n_components,
        lambda_adv=lambda_adv,
        max_epochs=max_epochs,
        random_state=random_state,
        verbose=verbose,
    ).fit(R_tr, y_tr, sensitive_features=s_tr)
    rows = [
        _row("raw", R_tr, y_tr, R_te, y_te, s_te, random_state),
        _row(
            "representation",
            frl.transform(R_tr),
            y_tr,
            frl.transform(R_te),
            y_te,
            s_te,
            random_state,
        ),
    ]
    report = pd.DataFrame(rows)
    report.attrs.update(dataset=dataset, sensitive=sensitive)
    return report


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skfrl", description="Fair representation learning audits."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    audit = sub.add_parser(
        "audit",
        help="fit a fair representation and compare its leakage with the raw data",
        description=(
            "Fit AdversarialFairRepresentation on a data set and report, on "
            "held-out data, downstream accuracy and leakage of the sensitive "
            "attribute for the raw features versus the representation."
        ),
    )
    audit.add_argument("--dataset", default="adult", choices=sorted(_DATASETS))
    audit.add_argument("--sensitive", default=None)
    audit.add_argument("--lambda-adv", type=float, default=1.0)
    audit.add_argument("--n-components", type=int, default=8)
    audit.add_argument("--max-epochs", type=int, default=20)
    audit.add_argument("--max-samples", type=int, default=None)
    audit.add_argument("--random-state", type=int, default=0)
    audit.add_argument("-v", "--verbose", action="count", default=0)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``skfrl`` command.

    Parameters
    ----------
    argv : list of str or None, default=None
        Arguments (``sys.argv[1:]`` when None).

    Returns
    -------
    int
        Exit status: 0 on success, 2 on bad options or data.

    Examples
    --------
    >>> from skfrl.cli import main
    >>> main(["audit", "--dataset", "german", "--max-epochs", "2"])  # doctest: +SKIP
    0
    """
    args = _build_parser().parse_args(argv)
    start = time.perf_counter()
    try:
        report = run_audit(
            args.dataset,
            sensitive=args.sensitive,
            lambda_adv=args.lambda_adv,
            n_components=args.n_components,
            max_epochs=args.max_epochs,
            max_samples=args.max_samples,
            random_state=args.random_state,
            verbose=args.verbose,
        )
    except (ValueError, TypeError, FileNotFoundError) as exc:
        print(f"skfrl audit: error: {exc}", file=sys.stderr)
        return 2
    attrs = report.attrs
    print(
        f"skfrl audit: {attrs['dataset']} (sensitive={attrs['sensitive']}), "
        f"held-out data, {time.perf_counter() - start:.0f} s"
    )
    with pd.option_context("display.float_format", "{:.3f}".format):
        print(report.to_string(index=False))
    print(
        "accuracy: downstream logistic regression; probe_auc_s: ROC AUC of a "
        "probe for s (0.5 = no leakage); probe_ber_s: its balanced error rate "
        "(0.5 = no leakage); fld_s: Fisher separability of s (0 = none); "
        "dp_difference: demographic-parity gap of the predictions."
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
