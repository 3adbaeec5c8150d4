"""Command-line interface: ``skfrl audit``.

The audit measures how a fair representation holds up under data
poisoning: for every cross-validation fold, attack and budget it poisons
the training part, refits the model (a preprocessor, an FRL model and a
downstream classifier) and scores it on the clean test part, next to the
unattacked model (budget 0). It writes a report folder: ``report.md`` and
``report.html`` (tables and figures), ``results.csv`` (the tidy results),
``summary.csv`` and ``settings.json`` (options, data, versions, time).

The work is :func:`skfrl.evaluation.run_audit` and
:func:`skfrl.evaluation.write_audit_report`; this module parses the
options, turns bad ones into one-line messages and prints the outcome.
"""

from __future__ import annotations

import argparse
import inspect
import sys
import time
from pathlib import Path

from .evaluation import audit_options, run_audit, write_audit_report

__all__ = ["main"]

# The options' names and defaults are run_audit's (plus the report folder).
_OPTIONS = audit_options()
_DEFAULTS = {
    name: parameter.default
    for name, parameter in inspect.signature(run_audit).parameters.items()
} | {"out": "report"}


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # One line, no usage dump: scripts and people read the same message.
        raise _UsageError(f"{self.prog}: error: {message}")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="skfrl", description="Fair representation learning audits.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    audit = sub.add_parser(
        "audit",
        help="cross-validate a fair representation under poisoning attacks",
        description=(
            "Cross-validate a fair representation model under poisoning attacks "
            "of several budgets (0 = the clean reference) and write a report "
            "folder: report.md, report.html, results.csv, summary.csv, "
            "settings.json. With no options: CFair on a 5,000-row stratified "
            "subsample of the bundled Adult data, attacks eng,nraa,random, "
            "budgets 0,0.05,0.1, 3 folds."
        ),
        epilog=(
            "Input handling. --data FILE.csv: rows with a missing value in the "
            "target, a --sensitive column or a feature column are dropped before "
            "the audit, with a warning; settings.json records how many and why. "
            "The target must have exactly two values: the greater, compared as "
            "text (yes over no, 1 over 0, >50K over <=50K), is the positive "
            "class, coded 1 (recorded as positive_label). Text feature columns "
            "are one-hot encoded. --sensitive a,b audits several attributes: "
            "fairness gaps over their intersectional groups, leakage of the most "
            "leaking one; eng, nraa and raa attack the first, which must be "
            "binary; cfair and cfair-eo take one attribute only."
        ),
    )
    source = audit.add_mutually_exclusive_group()
    source.add_argument(
        "--dataset",
        default=_DEFAULTS["dataset"],
        help=f"{', '.join(_OPTIONS['dataset'])} (default: %(default)s)",
    )
    source.add_argument("--data", metavar="FILE.csv", help="audit a CSV file instead")
    audit.add_argument("--target", metavar="COLUMN", help="target column of --data")
    audit.add_argument(
        "--sensitive",
        metavar="NAME",
        help="sensitive attribute: a column of --data, or for a data set one of "
        "its options (default: the first); several comma-separated",
    )
    audit.add_argument(
        "--model",
        default=_DEFAULTS["model"],
        help=f"{', '.join(_OPTIONS['model'])} (default: %(default)s)",
    )
    audit.add_argument(
        "--attacks",
        default=_DEFAULTS["attacks"],
        help=f"comma-separated, of {', '.join(_OPTIONS['attacks'])} "
        "(default: %(default)s)",
    )
    audit.add_argument(
        "--budgets",
        default=_DEFAULTS["budgets"],
        help="comma-separated fractions in (0, 1) of the training part, or whole "
        "numbers of poisons written without a decimal point (10, not 10.0); 0 "
        "is the clean reference (default: %(default)s)",
    )
    audit.add_argument(
        "--cv", type=int, default=_DEFAULTS["cv"], help="folds (default: %(default)s)"
    )
    audit.add_argument(
        "--max-samples",
        type=int,
        default=_DEFAULTS["max_samples"],
        help="stratified subsample size, 0 for all rows (default: %(default)s)",
    )
    audit.add_argument(
        "--max-epochs",
        type=int,
        default=_DEFAULTS["max_epochs"],
        help="training epochs of the model (default: %(default)s)",
    )
    audit.add_argument(
        "--n-components",
        type=int,
        default=_DEFAULTS["n_components"],
        help="dimension of the representation (default: %(default)s)",
    )
    audit.add_argument(
        "--n-jobs",
        type=int,
        default=_DEFAULTS["n_jobs"],
        help="parallel work units, -1 for all cores (default: %(default)s)",
    )
    audit.add_argument(
        "--random-state",
        type=int,
        default=_DEFAULTS["random_state"],
        help="seed of the subsample, folds, models and attacks (default: %(default)s)",
    )
    audit.add_argument(
        "--out",
        default=_DEFAULTS["out"],
        help="report folder, created if missing; an existing file is refused "
        "(default: %(default)s)",
    )
    audit.add_argument(
        "--defense",
        default=_DEFAULTS["defense"],
        choices=list(_OPTIONS["defense"]),
        help="defense applied to every training part after poisoning "
        "(default: %(default)s)",
    )
    audit.add_argument(
        "--downstream",
        default=_DEFAULTS["downstream"],
        choices=list(_OPTIONS["downstream"]),
        help="classifier on the representation; pgd/l2l train it adversarially "
        "(default: %(default)s)",
    )
    audit.add_argument(
        "--repeats",
        type=int,
        default=_DEFAULTS["repeats"],
        help="repeats of the cross-validation with reshuffled folds; the "
        "verdict's intervals narrow with more (default: %(default)s; each "
        "repeat costs about as much as the first)",
    )
    audit.add_argument(
        "--protocol",
        default=_DEFAULTS["protocol"],
        choices=list(_OPTIONS["protocol"]),
        help="how the model meets the poisons: retrain from scratch, or "
        "fine-tune a model trained on clean data (default: %(default)s)",
    )
    audit.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return parser


def _check_out(out: str) -> str | None:
    """Why ``--out`` cannot become the report folder, or None when it can."""
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        return f"--out: {out!r} is an existing file; give a folder (created if missing)"
    for parent in folder.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                return f"--out: {str(parent)!r} is a file, not a folder"
            break
    return None


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
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = _build_parser().parse_args(argv)
    except _UsageError as exc:
        message = str(exc)
        if argv[:1] == ["audit"] and message.startswith("skfrl: "):
            # argparse reports unknown options from the top-level parser.
            message = "skfrl audit: " + message.removeprefix("skfrl: ")
        print(message, file=sys.stderr)
        return 2
    if args.data is None and args.target is not None:
        print("skfrl audit: error: --target needs --data FILE.csv", file=sys.stderr)
        return 2
    out_error = _check_out(args.out)
    if out_error:  # refuse before hours of training, not after
        print(f"skfrl audit: error: {out_error}", file=sys.stderr)
        return 2
    import matplotlib

    matplotlib.use("Agg")  # the report's figures go to files, never a window
    start = time.perf_counter()
    try:
        audit = run_audit(
            args.dataset,
            data=args.data,
            target=args.target,
            sensitive=args.sensitive,
            model=args.model,
            attacks=args.attacks,
            budgets=args.budgets,
            cv=args.cv,
            max_samples=args.max_samples or None,
            max_epochs=args.max_epochs,
            n_components=args.n_components,
            n_jobs=args.n_jobs,
            random_state=args.random_state,
            progress=not args.quiet,
            defense=args.defense,
            downstream=args.downstream,
            protocol=args.protocol,
            repeats=args.repeats,
        )
        elapsed = time.perf_counter() - start
        path = write_audit_report(*audit, args.out, elapsed=elapsed, argv=argv)
    except (ValueError, TypeError, OSError) as exc:
        # Bad options, data or files; run_audit checks them before any fitting.
        message = str(exc).strip().splitlines()
        print(
            f"skfrl audit: error: {message[0] if message else type(exc).__name__}",
            file=sys.stderr,
        )
        return 2
    data, settings = audit.context["data"], audit.context["settings"]
    print(
        f"skfrl audit: {settings['model']} on {data['source']} "
        f"(sensitive={data['sensitive']}), {elapsed:.0f} s"
    )
    print(audit.summary_table().to_string(index=False))
    print("Verdict:")
    for line in audit.verdict():
        print("- " + line.replace("**", ""))
    print(f"report: {path} (and report.html, results.csv, settings.json)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
