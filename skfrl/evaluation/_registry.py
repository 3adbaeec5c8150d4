"""The choices of :func:`run_audit` (and ``skfrl audit``), one table per kind.

Each table maps a name to a one-line description and to what builds the
object, so that the command's ``--help``, the validation of the options,
the construction and the report's wording all read the same entry.
Factories import their class when called: ``skfrl audit --help`` should
not wait for PyTorch.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any, NamedTuple

__all__ = [
    "ATTACKS",
    "BINARY_ATTACKS",
    "DATASETS",
    "DEFENSES",
    "DOWNSTREAM",
    "METRICS",
    "MODELS",
    "PROTOCOLS",
    "audit_options",
    "metric_harm",
    "metric_labels",
]


def _call(path: str, /, *args, **kwargs) -> Any:
    """``path(*args, **kwargs)``, with ``path`` a dotted name imported now."""
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)(*args, **kwargs)


def _new(path: str, /, *args, **kwargs) -> Callable[..., Any]:
    """A factory of ``path(*args, **kwargs, **more)``, imported on its call."""
    return functools.partial(_call, path, *args, **kwargs)


class Choice(NamedTuple):
    """A named option: what it is, and the factory that builds it."""

    description: str
    make: Callable[..., Any]


class Dataset(NamedTuple):
    """A loader of :mod:`skfrl.datasets` and its sensitive attributes."""

    description: str
    loader: str
    sensitive: tuple[str, ...]


class Model(NamedTuple):
    """An FRL model: ``make(max_epochs=..., n_components=...)`` builds it."""

    description: str
    make: Callable[..., Any]
    # CFair models one sensitive attribute; the others take several.
    single_sensitive: bool = False


class Protocol(NamedTuple):
    """How the audited model meets the poisons."""

    description: str
    victim_training: str


class Metric(NamedTuple):
    """A reported metric: its scorer, wording and harmful direction."""

    description: str
    higher_means: str
    # +1 when an increase hurts (leakage, a fairness gap), -1 when a decrease does.
    harm: int
    # Readable name for axes and the verdict; ``{sensitive}`` is the attribute.
    label: str
    scorer: Callable[[int], Any]


DATASETS = {
    "adult": Dataset("UCI Adult census income", "load_adult", ("sex", "race")),
    "german": Dataset("UCI Statlog German credit", "load_german", ("sex", "age")),
    "compas": Dataset(
        "ProPublica COMPAS two-year recidivism", "load_compas", ("race", "sex")
    ),
    "drug": Dataset(
        "UCI Drug Consumption",
        "load_drug_consumption",
        ("gender", "age", "ethnicity"),
    ),
}

MODELS = {
    "cfair": Model(
        "CFair, class-weighted (balanced error rate) task loss",
        _new("skfrl.models.CFair", mode="balanced"),
        single_sensitive=True,
    ),
    "cfair-eo": Model(
        "CFair-EO, unweighted task loss (equalized odds)",
        _new("skfrl.models.CFair", mode="eo"),
        single_sensitive=True,
    ),
    "adversarial": Model(
        "adversarially fair representation (AdversarialFairRepresentation)",
        _new("skfrl.models.AdversarialFairRepresentation"),
    ),
    "icvae-s": Model(
        "invariant conditional VAE, supervised (ICVAE)",
        _new("skfrl.models.ICVAE", supervised=True),
    ),
    "icvae-us": Model(
        "invariant conditional VAE, unsupervised (ICVAE)",
        _new("skfrl.models.ICVAE", supervised=False),
    ),
    "vfae": Model(
        "variational fair autoencoder with an MMD penalty (VFAE)",
        _new("skfrl.models.VFAE"),
    ),
    "lfr": Model(
        "learned fair representations (LearnedFairRepresentation)",
        _new("skfrl.models.LearnedFairRepresentation"),
    ),
    "advvae": Model(
        "variational autoencoder with gradient-reversal adversaries (AdversarialVAE)",
        _new("skfrl.models.AdversarialVAE"),
    ),
}

ATTACKS = {
    "eng": Choice(
        "ENG gradient-matching attack (PoisonGenerator) against the model",
        # victim=None: the evaluation attacks each fold's own model.
        _new("skfrl.attacks.PoisonGenerator", None),
    ),
    "nraa": Choice(
        "non-random anchoring attack (AnchorAttack, Mehrabi et al. 2021)",
        _new("skfrl.attacks.AnchorAttack", "non_random"),
    ),
    "raa": Choice(
        "random anchoring attack (AnchorAttack)",
        _new("skfrl.attacks.AnchorAttack", "random"),
    ),
    "random": Choice(
        "random poisoning (resampled rows with feature noise)",
        _new("skfrl.attacks.RandomPoisoning"),
    ),
    "label_flip": Choice(
        "copies of training rows with flipped labels",
        _new("skfrl.attacks.LabelFlipping"),
    ),
}

#: Attacks that split the rows by a binary sensitive attribute.
BINARY_ATTACKS = ("eng", "nraa", "raa")


def _no_sanitiser(pipeline) -> None:
    return None


def _gradient_filter(pipeline):
    # The audited pipeline up to its FRL step: preprocessor -> model.
    return _call("skfrl.defenses.GradientFilter", pipeline[:-1], contamination=0.05)


def _defense(name: str, **params) -> Callable[[Any], Any]:
    """Factory of ``skfrl.defenses.<name>(**params)``; it needs no pipeline."""
    return lambda pipeline: _call(f"skfrl.defenses.{name}", **params)


# ``make(pipeline)`` builds the defense for the audited pipeline (None: none).
DEFENSES = {
    "none": Choice("no sanitiser", _no_sanitiser),
    "knn": Choice(
        "k-NN label consistency filter (removes 5 % of the training rows)",
        _defense("KNNConsistencyFilter", contamination=0.05),
    ),
    "loss": Choice(
        "cross-validated loss filter (removes 5 % of the training rows)",
        _defense("LossFilter", contamination=0.05),
    ),
    "spectral": Choice(
        "spectral-signature filter on a fair representation (removes 5 %)",
        _defense("SpectralSignatureFilter", contamination=0.05),
    ),
    "gradient": Choice(
        "per-sample gradient-norm filter through the audited model's "
        "training loss (removes 5 %)",
        _gradient_filter,
    ),
    "jtt": Choice(
        "Just Train Twice: the rows a quick model gets wrong are repeated "
        "5 times (group robustness, not a sanitiser)",
        _defense("JTTReweighter", output="resample"),
    ),
    # DRO is a training option of the model, which run_audit sets.
    "dro": Choice(
        "KL-DRO over label x group cells in the model's task and adversary "
        "losses (group_weighting='dro'; cfair, cfair-eo and adversarial only)",
        _no_sanitiser,
    ),
}

DOWNSTREAM = {
    "logistic": Choice(
        "logistic regression",
        _new("sklearn.linear_model.LogisticRegression", max_iter=1000),
    ),
    "pgd": Choice(
        "MLP adversarially trained with PGD on the representation "
        "(RobustMLPClassifier, eps 0.1)",
        _new("skfrl.defenses.RobustMLPClassifier", attack="pgd", eps=0.1),
    ),
    "l2l": Choice(
        "MLP adversarially trained with a learned attacker on the "
        "representation (RobustMLPClassifier, eps 0.1)",
        _new("skfrl.defenses.RobustMLPClassifier", attack="l2l", eps=0.1),
    ),
}

# How the audited model meets the poisons (``victim_training`` of
# cross_validate_robustness).
PROTOCOLS = {
    "retrain": Protocol(
        "the model is retrained from scratch on clean + poisoned rows", "retrain"
    ),
    "fine-tune": Protocol(
        "a model trained on the clean rows continues training on clean + "
        "poisoned rows for --max-epochs more epochs (the threat model of Liu et "
        "al., 2024); the clean reference continues on clean rows alone",
        "fine_tune",
    ),
}


# Reported metrics, in the order of the results and the report's tables;
# ``scorer(seed)`` is the scikit-learn scorer (raw values are reported).
METRICS = {
    "accuracy": Metric(
        "accuracy of the downstream classifier",
        "better task",
        -1,
        "accuracy of the downstream classifier",
        lambda seed: "accuracy",
    ),
    "probe_auc_s": Metric(
        "ROC AUC of a logistic probe predicting s from Z (0.5 = no leakage)",
        "more leakage",
        1,
        "probe ROC AUC for {sensitive} (logistic)",
        lambda seed: _call(
            "skfrl.metrics.make_leakage_scorer", "roc_auc", cv=3, random_state=seed
        ),
    ),
    "worst_probe_auc_s": Metric(
        "largest ROC AUC of three probes predicting s from Z (logistic, MLP, "
        "gradient-boosted trees)",
        "more leakage",
        1,
        "worst-case probe ROC AUC for {sensitive}",
        # A linear probe alone understates leakage: the worst of three.
        lambda seed: _call(
            "skfrl.metrics.make_leakage_scorer",
            "roc_auc",
            probe="worst",
            cv=3,
            random_state=seed,
        ),
    ),
    "fld_s": Metric(
        "Fisher linear separability of s in Z (0 = none)",
        "more leakage",
        1,
        "Fisher separability of {sensitive} in Z",
        lambda seed: _call("skfrl.metrics.make_leakage_scorer", "fld"),
    ),
    "dp_difference": Metric(
        "demographic-parity gap of the downstream predictions (0 = parity)",
        "less fair",
        1,
        "demographic-parity gap",
        lambda seed: _call(
            "skfrl.metrics.make_fairness_scorer", "demographic_parity_difference"
        ),
    ),
    "eo_difference": Metric(
        "equalized-odds gap of the downstream predictions (0 = equal odds)",
        "less fair",
        1,
        "equalized-odds gap",
        lambda seed: _call(
            "skfrl.metrics.make_fairness_scorer", "equalized_odds_difference"
        ),
    ),
}


def metric_labels(sensitive: str) -> dict[str, str]:
    """Readable names of the reported metrics, for axes and the verdict."""
    return {
        name: metric.label.format(sensitive=sensitive)
        for name, metric in METRICS.items()
    }


def metric_harm() -> dict[str, int]:
    """The direction of each reported metric that hurts, for the verdict."""
    return {name: metric.harm for name, metric in METRICS.items()}


def audit_options() -> dict[str, dict[str, str]]:
    """The named choices of :func:`run_audit`, each with a one-line description.

    The keys are the parameters that take a name: ``"dataset"``,
    ``"model"``, ``"attacks"``, ``"defense"``, ``"downstream"`` and
    ``"protocol"``; each maps the accepted names, in the order ``skfrl
    audit --help`` lists them, to what they stand for. The ``skfrl audit``
    command builds its options from these tables.

    .. versionadded:: 0.1

    Returns
    -------
    options : dict of str to dict of str to str
        ``{parameter: {name: description}}``.

    Examples
    --------
    >>> from skfrl.evaluation import audit_options
    >>> options = audit_options()
    >>> list(options)
    ['dataset', 'model', 'attacks', 'defense', 'downstream', 'protocol']
    >>> options["attacks"]["label_flip"]
    'copies of training rows with flipped labels'
    >>> options["dataset"]["german"]
    'UCI Statlog German credit (sensitive: sex, age)'
    """
    datasets = {
        name: f"{entry.description} (sensitive: {', '.join(entry.sensitive)})"
        for name, entry in DATASETS.items()
    }
    tables = {
        "model": MODELS,
        "attacks": ATTACKS,
        "defense": DEFENSES,
        "downstream": DOWNSTREAM,
        "protocol": PROTOCOLS,
    }
    return {
        "dataset": datasets,
        **{
            kind: {name: entry.description for name, entry in table.items()}
            for kind, table in tables.items()
        },
    }
