"""``skfrl audit`` in Python: :func:`run_audit` and its :class:`AuditResult`.

The audit measures how a fair representation holds up under data
poisoning: for every cross-validation fold, attack and budget it poisons
the training part, refits the model (a preprocessor, an FRL model and a
downstream classifier) and scores it on the clean test part, next to the
unattacked model (budget 0).
"""

from __future__ import annotations

import numbers
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from sklearn.utils import Bunch

from ..utils._sklearn_compat import validate_params
from ._audit_data import (
    check_groups,
    joint_groups,
    load_csv,
    load_dataset,
    sensitive_names,
    split_list,
    subsample,
)
from ._audit_report import summary_table, verdict
from ._registry import ATTACKS, DEFENSES, DOWNSTREAM, METRICS, MODELS, PROTOCOLS
from ._robustness import cross_validate_robustness, summarize

__all__ = ["AuditResult", "run_audit"]


# Types only: the values are checked below, in messages that name the option
# of ``skfrl audit`` (``--model``, ``--cv``...), which the command prints.
@validate_params(
    {
        "dataset": [str],
        "data": [str, os.PathLike, None],
        "target": [str, None],
        "sensitive": [str, "array-like", None],
        "model": [str],
        "attacks": [str, "array-like"],
        "budgets": [str, "array-like"],
        "cv": [numbers.Integral],
        "max_samples": [numbers.Integral, None],
        "max_epochs": [numbers.Integral],
        "n_components": [numbers.Integral],
        "n_jobs": [numbers.Integral, None],
        "random_state": [numbers.Integral],
        "progress": ["boolean"],
        "defense": [str],
        "downstream": [str],
        "protocol": [str],
        "repeats": [numbers.Integral],
    },
    prefer_skip_nested_validation=True,
)
def run_audit(
    dataset: str = "adult",
    *,
    data: str | Path | None = None,
    target: str | None = None,
    sensitive: str | list[str] | None = None,
    model: str = "cfair",
    attacks: str | list[str] = "eng,nraa,random",
    budgets: str | list[float] = "0,0.05,0.1",
    cv: int = 3,
    max_samples: int | None = 5000,
    max_epochs: int = 20,
    n_components: int = 8,
    n_jobs: int | None = -1,
    random_state: int = 0,
    progress: bool = False,
    defense: str = "none",
    downstream: str = "logistic",
    protocol: str = "retrain",
    repeats: int = 3,
) -> AuditResult:
    """Cross-validate a fair representation under poisoning attacks.

    The Python form of ``skfrl audit``: loads the data, subsamples and
    checks it, builds ``Pipeline(make_preprocessor, FRL model, downstream
    classifier)`` and runs :func:`cross_validate_robustness` with the
    metrics of the report, reported as raw values (not negated):
    ``accuracy``, ``probe_auc_s``, ``worst_probe_auc_s`` (the most leaking
    of a logistic, an MLP and a gradient-boosting probe), ``fld_s``,
    ``dp_difference``, ``eo_difference``. :func:`write_audit_report` writes
    its report folder. The names each option accepts, with what they stand
    for, are listed by :func:`audit_options`.

    Every option and the data are checked before any model is fitted;
    error messages name the option of ``skfrl audit`` (``--model`` for
    ``model``, ``--max-samples`` for ``max_samples``, ...).

    .. versionadded:: 0.1

    Parameters
    ----------
    dataset : {"adult", "german", "compas", "drug"}, default="adult"
        Bundled or ``SKFRL_DATA`` data set (ignored when ``data`` is given).
    data : str, Path or None, default=None
        Path of a CSV file to audit instead; needs ``target`` and
        ``sensitive`` column names. Rows with a missing value (target,
        sensitive attribute or feature) are dropped, with a warning, and
        counted in ``context["data"]["rows_dropped"]``.
    target : str or None, default=None
        Target column of ``data``.
    sensitive : str, list of str or None, default=None
        Sensitive attribute (the data set's first option when None), or
        several (a list, or names separated by commas): then ``s`` is a
        DataFrame; the fairness metrics compare the intersectional groups,
        the leakage metrics report the most leaking attribute, and eng,
        nraa and raa attack the first attribute (which must be binary).
        ``cfair`` and ``cfair-eo`` take one attribute only.
    model : str, default="cfair"
        One of ``cfair``, ``cfair-eo``, ``adversarial``, ``icvae-s``,
        ``icvae-us``, ``vfae``, ``lfr``, ``advvae``.
    attacks : str or list of str, default="eng,nraa,random"
        Attacks among ``eng``, ``nraa``, ``raa``, ``random``, ``label_flip``
        (comma-separated in a string).
    budgets : str or list of float, default="0,0.05,0.1"
        Poisoning budgets (fractions, or whole numbers of poisons); 0 is the
        clean reference.
    cv : int, default=3
        Cross-validation folds.
    max_samples : int or None, default=5000
        Subsample (stratified by target and group) to at most this many
        rows; None or 0 for all.
    max_epochs : int, default=20
        Training epochs of the FRL model.
    n_components : int, default=8
        Dimension of the representation.
    n_jobs : int or None, default=-1
        Parallel work units (-1: all cores).
    random_state : int, default=0
        Seed of the subsample, the folds, the models and the attacks.
    progress : bool, default=False
        Show a progress bar.
    defense : {"none", "knn", "loss", "spectral", "gradient", "jtt", "dro"}, \
default="none"
        Defense of :mod:`skfrl.defenses` applied to every training part
        after poisoning (the clean reference included).
    downstream : {"logistic", "pgd", "l2l"}, default="logistic"
        Classifier on the representation: a logistic regression, or a
        :class:`~skfrl.defenses.RobustMLPClassifier` trained adversarially
        with PGD or a learned attacker.
    protocol : {"retrain", "fine-tune"}, default="retrain"
        How the model meets the poisons: retrained from scratch, or a model
        trained on the clean training part continues training on clean +
        poison for ``max_epochs`` more epochs (``victim_training=
        "fine_tune"`` of :func:`~skfrl.evaluation.cross_validate_robustness`).
    repeats : int, default=3
        Repeats of the cross-validation with reshuffled folds (``n_repeats``
        of :func:`~skfrl.evaluation.cross_validate_robustness`): the
        intervals of the verdict use ``cv * repeats`` paired differences.

    Returns
    -------
    audit : AuditResult
        A named tuple ``(results, fitted, context)``:

    results : DataFrame
        Tidy results (attack, budget, fold, repeat, metric, value, ...).
    fitted : Bunch
        Fitted estimators and test indices (see
        :func:`cross_validate_robustness`).
    context : dict
        ``"X"``, ``"y"`` (0/1), ``"s"`` (a Series, or a DataFrame for several
        attributes) as audited, ``"settings"`` (the options) and ``"data"``,
        the data description, with keys

        - ``"source"``: the data set name or the CSV path;
        - ``"target"``: the target column (``"target"`` for a data set);
        - ``"sensitive"``: the attribute names joined by ``", "``;
          ``"sensitive_attributes"``: the list of them;
        - ``"positive_label"``: the target value coded 1 (str). For a CSV
          the target must have two values and the greater, compared as
          text, is positive (``"yes"`` over ``"no"``, ``1`` over ``0``,
          ``">50K"`` over ``"<=50K"``); for a data set, its second
          ``target_names`` entry;
        - ``"n_rows_read"``: rows in the CSV (or data set);
        - ``"rows_dropped"``: rows dropped for missing values, by reason:
          ``{"missing target": n1, "missing sensitive": n2,
          "missing features": n3}``, each row counted under its first
          reason in that order (empty for the bundled data sets, whose
          loaders do their own documented cleaning);
          ``"rows_dropped_missing"``: their total;
        - ``"n_rows_available"``: rows left after dropping;
          ``"n_rows_used"``: rows after the ``max_samples`` subsample;
          ``"n_features"``: feature columns;
        - ``"groups"``: rows per group of the audited rows (several
          attributes: per intersectional group, named ``"a & b"``).

    Raises
    ------
    ValueError
        For an unknown name, a bad number, a missing or unusable column, or
        groups too small for ``cv``.
    FileNotFoundError
        When ``data`` (or the file of an external data set) does not exist.

    See Also
    --------
    write_audit_report : Write the report folder of ``skfrl audit``.
    cross_validate_robustness : The evaluation this runs.

    Examples
    --------
    >>> from skfrl.evaluation import run_audit
    >>> results, fitted, context = run_audit(
    ...     "german", sensitive="sex", attacks="random", budgets="0,0.1", cv=2,
    ...     max_samples=200, max_epochs=1, n_jobs=1, repeats=1)
    >>> sorted(results["attack"].unique())
    ['clean', 'random']
    >>> context["data"]["n_rows_used"], len(fitted.test_indices)
    (200, 2)
    """
    for option, value, table in (
        ("--model", model, MODELS),
        ("--downstream", downstream, DOWNSTREAM),
        ("--protocol", protocol, PROTOCOLS),
        ("--defense", defense, DEFENSES),
    ):  # fail before any data are loaded
        if value not in table:
            raise ValueError(
                f"{option} must be one of {', '.join(table)}; got {value!r}"
            )
    attack_names = _parse_attacks(attacks)
    budget_list = _parse_budgets(budgets) if isinstance(budgets, str) else list(budgets)
    if 0 not in budget_list:
        budget_list = [0, *budget_list]
    if cv < 2:
        raise ValueError(f"--cv must be an integer >= 2; got {cv!r}")
    if repeats < 1:
        raise ValueError(f"--repeats must be an integer >= 1; got {repeats!r}")
    if max_epochs < 1:
        raise ValueError(f"--max-epochs must be >= 1; got {max_epochs}")
    if n_components < 1:
        raise ValueError(f"--n-components must be >= 1; got {n_components}")
    if max_samples is not None and max_samples < 0:
        raise ValueError(f"--max-samples must be >= 0; got {max_samples}")
    if max_samples and max_samples < 10 * cv:
        raise ValueError(f"--max-samples {max_samples} is too small for --cv {cv}")
    names = sensitive_names(sensitive)
    if len(names) > 1 and MODELS[model].single_sensitive:
        several = [name for name, entry in MODELS.items() if not entry.single_sensitive]
        raise ValueError(
            f"--sensitive: --model {model} takes one sensitive attribute; got "
            f"{len(names)} ({', '.join(names)}). Use --model {several[0]} (or "
            f"{', '.join(several[1:])}) or audit them one at a time"
        )

    if data is not None:
        X, y, s, info = load_csv(data, target, names)
    else:
        X, y, s, info = load_dataset(dataset, names)
    n_total = len(X)
    X, y, s = subsample(X, y, s, max_samples, random_state)
    check_groups(y, s, cv=cv, attacks=attack_names)
    info.update(
        n_rows_available=int(n_total),
        n_rows_used=int(len(X)),
        n_features=int(X.shape[1]),
        groups={
            str(k): int(v) for k, v in pd.Series(joint_groups(s)).value_counts().items()
        },
    )

    estimator = _make_pipeline(
        model,
        X,
        max_epochs=max_epochs,
        n_components=n_components,
        downstream=downstream,
    )
    if defense == "dro":
        frl = estimator.named_steps["frl"]
        if "group_weighting" not in frl.get_params():
            raise ValueError(
                "--defense dro needs --model cfair, cfair-eo or adversarial; "
                f"got {model!r}"
            )
        frl.set_params(group_weighting="dro", dro_groups="label_sensitive")
    sanitiser = DEFENSES[defense].make(estimator)
    scorers = {name: metric.scorer(random_state) for name, metric in METRICS.items()}
    results, fitted = cross_validate_robustness(
        estimator,
        X,
        y,
        sensitive_features=s,
        attacks={name: ATTACKS[name].make() for name in attack_names},
        budgets=budget_list,
        scoring=scorers,
        cv=cv,
        n_jobs=n_jobs,
        random_state=random_state,
        return_estimators=True,
        verbose=int(progress),
        defense=sanitiser,
        victim_training=PROTOCOLS[protocol].victim_training,
        n_repeats=repeats,
    )
    # Report raw metrics (e.g. probe AUC), not scikit-learn's negated scores.
    signs = {name: getattr(sc, "sign", 1) for name, sc in scorers.items()}
    results["value"] = results["value"] * results["metric"].map(signs)
    settings = {
        "model": model,
        "attacks": attack_names,
        "budgets": budget_list,
        "cv": cv,
        "max_samples": max_samples,
        "max_epochs": max_epochs,
        "n_components": n_components,
        "n_jobs": n_jobs,
        "random_state": random_state,
        "defense": defense,
        "downstream": downstream,
        "protocol": protocol,
        "repeats": repeats,
    }
    context = {"X": X, "y": y, "s": s, "data": info, "settings": settings}
    return AuditResult(results, fitted, context)


def _parse_budgets(value: str) -> list:
    """Budgets of ``--budgets``: fractions in (0, 1), whole counts, 0 = clean.

    A count is written without a decimal point: ``2.0`` is refused as
    ambiguous (two poisons, or 2 %?).

    >>> _parse_budgets("0,0.05,10")
    [0.0, 0.05, 10]
    """
    budgets = []
    for item in split_list(value, "--budgets"):
        try:
            number = float(item)
        except ValueError:
            raise ValueError(f"--budgets: {item!r} is not a number") from None
        if not np.isfinite(number):
            raise ValueError(f"--budgets: {item} is not a finite number")
        if number < 0:
            raise ValueError(f"--budgets: {item} is negative")
        if number < 1:
            budgets.append(number)
            continue
        if not number.is_integer():
            raise ValueError(
                f"--budgets: {item} is neither a fraction in (0, 1) nor a whole "
                "number of poisons"
            )
        count = int(number)
        try:
            written_as_count = int(item) == count  # digits only, no point
        except ValueError:
            written_as_count = False
        if not written_as_count:
            example = f"{count / 100:g}" if count < 100 else "0.05"
            raise ValueError(
                f"--budgets: {item} is ambiguous; write {count} for {count} "
                f"poison{'s' if count > 1 else ''} or a fraction in (0, 1) such "
                f"as {example}"
            )
        budgets.append(count)
    return budgets


def _parse_attacks(value: str | list[str]) -> list[str]:
    """The known attack names of ``value``, in order, each once."""
    if isinstance(value, str):
        names = split_list(value, "--attacks")
    else:
        names = [str(name) for name in value]
        if not names:
            raise ValueError("--attacks is empty")
    unknown = [name for name in names if name not in ATTACKS]
    if unknown:
        raise ValueError(
            f"--attacks: unknown {', '.join(unknown)}; choose from {', '.join(ATTACKS)}"
        )
    return list(dict.fromkeys(names))


def _make_pipeline(
    model: str, X, *, max_epochs: int, n_components: int, downstream: str
) -> Pipeline:
    """``Pipeline(make_preprocessor, FRL model, downstream classifier)``."""
    from ..datasets import make_preprocessor

    frl = MODELS[model].make(max_epochs=max_epochs, n_components=n_components)
    return Pipeline(
        [
            ("preprocessor", make_preprocessor(X)),
            ("frl", frl),
            ("classifier", DOWNSTREAM[downstream].make()),
        ]
    )


class AuditResult(NamedTuple):
    """What :func:`run_audit` returns: ``results, fitted, context``.

    A named tuple, so ``results, fitted, context = run_audit(...)`` and
    ``write_audit_report(*audit, out, elapsed=...)`` work as they read.

    .. versionadded:: 0.1

    Attributes
    ----------
    results : DataFrame
        Tidy results, one row per attack, budget, fold, repeat and metric,
        with raw metric values (see :func:`cross_validate_robustness`).
    fitted : Bunch
        Fitted estimators and test indices (see
        :func:`cross_validate_robustness`).
    context : dict
        The audited ``"X"``, ``"y"``, ``"s"``, the ``"settings"`` and the
        ``"data"`` description (see :func:`run_audit`).

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn.utils import Bunch
    >>> from skfrl.evaluation import AuditResult
    >>> results = pd.DataFrame({
    ...     "attack": ["clean", "clean", "random", "random"],
    ...     "budget": [0.0, 0.0, 0.1, 0.1], "fold": [0, 1, 0, 1],
    ...     "metric": "accuracy", "value": [0.80, 0.82, 0.78, 0.79]})
    >>> context = {"data": {"sensitive": "sex"}}
    >>> audit = AuditResult(results, Bunch(), context)
    >>> print(audit.summary_table().to_string(index=False))
    attack budget               accuracy
     clean    0 %          0.810 ± 0.014
    random   10 % 0.785 ± 0.007 (-0.025)
    """

    results: pd.DataFrame
    fitted: Bunch
    context: dict

    def summary(self, *, confidence: float = 0.95) -> pd.DataFrame:
        """:func:`summarize` of the results: mean, sd and paired changes.

        Parameters
        ----------
        confidence : float, default=0.95
            Level of the intervals of the changes.

        Returns
        -------
        summary : DataFrame
            One row per attack, budget and metric.
        """
        return summarize(self.results, confidence=confidence)

    def summary_table(self) -> pd.DataFrame:
        """The report's and console's table: ``"mean ± sd (change)"`` cells.

        Returns
        -------
        table : DataFrame
            One row per attack and budget, one column per metric.
        """
        return summary_table(self.summary())

    def verdict(self, *, confidence: float = 0.95) -> list[str]:
        """The verdict sentences of the report (Markdown, bold attacks).

        Parameters
        ----------
        confidence : float, default=0.95
            Level of the intervals the verdict reads.

        Returns
        -------
        sentences : list of str
            See :func:`robustness_verdict`.
        """
        summary = self.summary(confidence=confidence)
        sensitive = str(self.context["data"]["sensitive"])
        return verdict(summary, sensitive, confidence=confidence)
