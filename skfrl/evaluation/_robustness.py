"""Cross-validated robustness of a model to poisoning attacks."""

from __future__ import annotations

import contextlib
import copy
import inspect
import numbers
import sys
import threading
import time
import zlib
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
from joblib import effective_n_jobs
from sklearn import config_context
from sklearn.base import clone, is_classifier
from sklearn.metrics import get_scorer
from sklearn.model_selection import KFold, StratifiedKFold, check_cv
from sklearn.utils import Bunch, check_random_state
from sklearn.utils.metadata_routing import get_routing_for_object
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_consistent_length
from threadpoolctl import threadpool_limits

from ..utils import (
    check_fine_tune,
    fill_random_state,
    fine_tune,
    fit_with_sensitive,
    representation_pipeline,
)
from ..utils._sklearn_compat import (
    HasMethods,
    Interval,
    ordered_options,
    validate_params,
)

__all__ = ["CLEAN", "cross_validate_robustness", "paired_interval", "summarize"]

#: Name of the unattacked reference in the ``attack`` column.
CLEAN = "clean"

#: Columns of the tidy result frame, in order.
RESULT_COLUMNS = [
    "attack",
    "budget",
    "fold",
    "repeat",
    "metric",
    "value",
    "fit_time",
    "attack_time",
    "n_poison",
    "n_removed",
    "n_poison_removed",
]


# -- validation ---------------------------------------------------------------
def _check_attacks(attacks) -> dict:
    # The container is the decorator's; its entries (names, attack objects)
    # are checked here, as no constraint describes a dict of attacks.
    if attacks is None:
        return {}
    if isinstance(attacks, Mapping):
        items = list(attacks.items())
    else:
        items, seen = [], {}
        for attack in attacks:
            # Unnamed attacks are named after their class, numbered on repeats.
            base = type(attack).__name__.lower()
            seen[base] = seen.get(base, 0) + 1
            name = base if seen[base] == 1 else f"{base}_{seen[base]}"
            items.append((name, attack))
    checked = {}
    for name, attack in items:
        if not isinstance(name, str) or not name:
            raise TypeError(f"attacks: names must be non-empty str, got {name!r}.")
        if name == CLEAN:
            raise ValueError(
                f"attacks: the name {CLEAN!r} is reserved for the unattacked "
                "reference (budget 0); rename that attack."
            )
        if (
            not hasattr(attack, "fit_resample")
            or "budget" not in getattr(attack, "get_params", dict)()
        ):
            raise TypeError(
                f"attacks[{name!r}] must be an skfrl attack (an estimator with a "
                f"budget parameter and fit_resample), got {attack!r}."
            )
        checked[name] = attack
    return checked


def _check_budgets(budgets) -> list:
    # Each budget is a fraction in [0, 1) or a count >= 0, told apart by its
    # type: no constraint describes such a list.
    budgets = [budgets] if isinstance(budgets, numbers.Number) else list(budgets)
    if not budgets:
        raise ValueError("budgets must hold at least one budget (0 = clean).")
    checked = []
    for b in budgets:
        if isinstance(b, bool) or not isinstance(b, numbers.Real):
            raise TypeError(f"budgets must be numbers, got {b!r}.")
        if isinstance(b, numbers.Integral):
            b = int(b)
            if b < 0:
                raise ValueError(f"budgets: a poison count must be >= 0, got {b}.")
        else:
            b = float(b)
            if not 0 <= b < 1:
                raise ValueError(
                    "budgets: a fraction of the training set must be in [0, 1), "
                    f"got {b}; use an int for a number of poisons."
                )
        if b not in checked:
            checked.append(b)
    # Fractions and counts sort together by value; 0 (clean) comes first.
    return sorted(checked, key=float)


def _check_scoring(scoring) -> dict[str, Callable]:
    # The container is the decorator's; the scorers in it are checked here.
    if isinstance(scoring, str):
        return {scoring: get_scorer(scoring)}
    if callable(scoring):
        return {"score": scoring}
    if isinstance(scoring, Mapping):
        items = list(scoring.items())
    else:
        items = []
        for name in scoring:
            if not isinstance(name, str):
                raise TypeError(
                    "scoring: a list must hold scorer names (str); use a dict "
                    f"{{name: scorer}} for callables, got {name!r}."
                )
            items.append((name, name))
    if not items:
        raise ValueError("scoring must name at least one scorer.")
    scorers = {}
    for name, scorer in items:
        if isinstance(scorer, str):
            try:
                scorer = get_scorer(scorer)
            except ValueError as exc:
                raise ValueError(f"scoring[{name!r}]: {exc}") from None
        elif not callable(scorer):
            raise TypeError(
                f"scoring[{name!r}] must be a scorer name or a callable "
                "scorer(estimator, X, y), got {scorer!r}."
            )
        scorers[str(name)] = scorer
    return scorers


def _wants_sensitive_features(scorer) -> bool:
    """Whether ``scorer`` should receive the test fold's sensitive features.

    Scorers that take part in metadata routing (skfrl's scorers, and
    scikit-learn scorers after ``set_score_request(sensitive_features=True)``)
    say so through their request; plain callables through a
    ``sensitive_features`` parameter.
    """
    if hasattr(scorer, "get_metadata_routing"):
        request = get_routing_for_object(scorer)
        return bool(request.consumes(method="score", params={"sensitive_features"}))
    try:
        parameters = inspect.signature(scorer).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return False
    return "sensitive_features" in parameters


def _take(data, indices):
    if isinstance(data, pd.DataFrame | pd.Series):
        return data.iloc[indices]
    return np.asarray(data)[indices]


def _stratification_labels(y, s, n_splits: int):
    """Joint (y, s) cells when every cell fills the folds, else y, else None."""
    if type_of_target(y) not in ("binary", "multiclass"):
        return None
    y_str = pd.Series(np.asarray(y)).astype(str).to_numpy()
    s_frame = pd.DataFrame(np.asarray(s).reshape(len(y_str), -1))
    joint = y_str.astype(object)
    if s_frame.shape[1] <= 3 and all(
        s_frame[c].nunique() <= 10 for c in s_frame.columns
    ):
        for c in s_frame.columns:
            joint = joint + "|" + s_frame[c].astype(str).to_numpy()
        if pd.Series(joint).value_counts().min() >= n_splits:
            return joint
    if pd.Series(y_str).value_counts().min() >= n_splits:
        return y_str
    return None


def _repeated_splits(cv, estimator, X, y, s, entropy: int, n_repeats: int):
    """Folds of every repeat, in order; repeat 0 keeps the seed of a single run."""
    folds = []
    for repeat in range(n_repeats):
        seed = _seed(entropy, 0) if repeat == 0 else _seed(entropy, 0, repeat)
        folds += _splits(cv, estimator, X, y, s, seed)
    return folds


def _splits(cv, estimator, X, y, s, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    if isinstance(cv, numbers.Integral) and not isinstance(cv, bool):
        labels = _stratification_labels(y, s, cv)
        if labels is None:
            splitter = KFold(cv, shuffle=True, random_state=seed)
            return list(splitter.split(np.zeros(len(y))))
        # Stratifying by (y, s) keeps every group in every test fold, which
        # per-group and fairness metrics need.
        splitter = StratifiedKFold(cv, shuffle=True, random_state=seed)
        return list(splitter.split(np.zeros(len(labels)), labels))
    splitter = check_cv(cv, y, classifier=is_classifier(estimator))
    return [
        (np.asarray(train), np.asarray(test))
        for train, test in splitter.split(X, y, groups=None)
    ]


# -- seeds ----------------------------------------------------------------------
def _entropy(random_state) -> int:
    if random_state is None:
        return int(np.random.SeedSequence().entropy)
    if isinstance(random_state, np.random.RandomState):
        return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    return int(random_state)


def _tag(value) -> int:
    # Names and budgets enter the seed by value, not by position, so adding
    # an attack or a budget to the grid leaves the other units' seeds alone.
    return zlib.crc32(repr(value).encode())


def _seed(entropy: int, *key) -> int:
    sequence = np.random.SeedSequence(entropy, spawn_key=tuple(key))
    return int(sequence.generate_state(1)[0] & 0x7FFFFFFF)


# -- work unit ------------------------------------------------------------------
@contextlib.contextmanager
def _unit_context(seed: int):
    """One thread and a seeded global NumPy RNG inside a work unit.

    Parallelism is across units; one torch/BLAS thread per unit also makes
    floating-point reductions, and so the results, the same whatever
    ``n_jobs`` or back-end runs the unit. Code that draws from NumPy's
    global RNG (e.g. a scorer with ``random_state=None``) gets a stream of
    the unit's own; the caller's global state is restored afterwards.
    """
    torch = sys.modules.get("torch")
    previous = torch.get_num_threads() if torch is not None else None
    # Torch's thread count is per process: units that share a process
    # through threads (a Dask worker with several threads) would reset it
    # under each other's feet, so there it stays at one.
    restore = threading.current_thread() is threading.main_thread()
    # The legacy global RNG on purpose: it is what random_state=None draws from.
    rng_state = np.random.get_state()  # noqa: NPY002
    np.random.seed(seed)  # noqa: NPY002
    with threadpool_limits(limits=1):
        if torch is not None:
            torch.set_num_threads(1)
        try:
            yield
        finally:
            if torch is not None and restore:
                torch.set_num_threads(previous)
            np.random.set_state(rng_state)  # noqa: NPY002


def _seeded_scorers(scorers: dict, seeds: dict) -> dict:
    """Copies of the scorers whose unset ``random_state`` gets its own seed.

    skfrl's leakage scorers cross-validate a probe; with
    ``random_state=None`` they would draw from NumPy's global RNG, which
    threads of one worker process (e.g. a Dask worker with several threads)
    share, so numbers would depend on scheduling.
    """
    out = {}
    for name, scorer in scorers.items():
        if getattr(scorer, "random_state", 0) is None:
            scorer = copy.copy(scorer)
            scorer.random_state = seeds[name]
        out[name] = scorer
    return out


def _score(scorer, estimator, X, y, s) -> float:
    if _wants_sensitive_features(scorer):
        # scikit-learn's own scorers only accept metadata with routing on.
        with config_context(enable_metadata_routing=True):
            return float(scorer(estimator, X, y, sensitive_features=s))
    return float(scorer(estimator, X, y))


def _evaluate_unit(
    estimator,
    attack,
    X,
    y,
    s,
    train,
    test,
    scorers,
    *,
    estimator_seed,
    unit_seed,
    return_estimator,
    defense=None,
    base=None,
    fine_tune_epochs=None,
    scorer_seeds=None,
):
    with _unit_context(unit_seed):
        X_train, y_train, s_train = _take(X, train), _take(y, train), _take(s, train)
        model = fill_random_state(clone(estimator), estimator_seed)
        attack_time, n_poison = 0.0, 0
        if attack is not None:
            attack = fill_random_state(clone(attack), unit_seed, deep=False)
            params = attack.get_params(deep=False)
            if "victim" in params and attack.victim is None:
                # White-box: the attacker crafts against the evaluated model,
                # under fine-tuning the very clean model that will continue.
                if base is not None and "prefit" in params:
                    attack.set_params(victim=representation_pipeline(base), prefit=True)
                else:
                    attack.set_params(victim=representation_pipeline(clone(model)))
            start = time.perf_counter()
            X_train, y_train, s_train = attack.fit_resample(
                X_train, y_train, sensitive_features=s_train
            )
            attack_time = time.perf_counter() - start
            n_poison = int(attack.n_poison_)
        n_removed = n_poison_removed = 0
        if defense is not None:
            # The defender sanitises the (possibly poisoned) training part,
            # clean folds included, so the clean reference is defended too.
            n_rows = len(X_train)
            defense = fill_random_state(clone(defense), unit_seed, deep=False)
            X_train, y_train, s_kept = defense.fit_resample(
                X_train, y_train, sensitive_features=s_train
            )
            # Every defense says which input rows it returned (one contract:
            # sample_indices_); a row never returned was removed.
            kept = np.asarray(defense.sample_indices_, dtype=np.intp)
            if s_kept is None:
                s_kept = _take(s_train, kept)
            removed = np.ones(n_rows, dtype=bool)
            removed[kept] = False
            n_removed = int(removed.sum())
            # Attacks append their poisons after the original rows.
            if n_poison:
                n_poison_removed = int(removed[n_rows - n_poison :].sum())
            s_train = s_kept
        start = time.perf_counter()
        if base is None:
            fit_with_sensitive(model, X_train, y_train, s_train)
        else:
            model = fine_tune(base, X_train, y_train, s_train, epochs=fine_tune_epochs)
        fit_time = time.perf_counter() - start
        X_test, y_test, s_test = _take(X, test), _take(y, test), _take(s, test)
        if scorer_seeds is not None:
            scorers = _seeded_scorers(scorers, scorer_seeds)
        scores = {
            name: _score(scorer, model, X_test, y_test, s_test)
            for name, scorer in scorers.items()
        }
    return Bunch(
        scores=scores,
        fit_time=fit_time,
        attack_time=attack_time,
        n_poison=n_poison,
        n_removed=n_removed,
        n_poison_removed=n_poison_removed,
        estimator=model if return_estimator else None,
    )


def _fit_base(estimator, X, y, s, train, *, estimator_seed, unit_seed):
    """The clean model of a fold that ``victim_training="fine_tune"`` continues."""
    with _unit_context(unit_seed):
        model = fill_random_state(clone(estimator), estimator_seed)
        return fit_with_sensitive(
            model, _take(X, train), _take(y, train), _take(s, train)
        )


#: Seconds to start a local worker process and import torch and skfrl in
#: it (measured: 4-8 s on 2 cores); below that saving, units run in-process.
_WORKER_START_S = 6.0


def _local_pool() -> bool:
    """Whether the active joblib back-end starts local worker processes."""
    from joblib.parallel import get_active_backend

    backend, _ = get_active_backend()
    return type(backend).__name__ in ("LokyBackend", "MultiprocessingBackend")


def _costly(attack) -> bool:
    # Attacks that train a victim (ENG) take longest; dispatching them first
    # keeps workers busy until the end.
    return attack is not None and "victim" in attack.get_params(deep=False)


@validate_params(
    {
        "estimator": [HasMethods(["fit"])],
        "X": ["array-like"],
        "y": ["array-like"],
        "sensitive_features": ["array-like"],
        "attacks": [Mapping, list, tuple, None],
        "budgets": [numbers.Real, "array-like"],
        "scoring": [str, callable, list, tuple, set, Mapping],
        "cv": ["cv_object"],
        "n_jobs": [numbers.Integral, None],
        # Any int >= 0 seeds a SeedSequence, not only the 32-bit ones.
        "random_state": [
            Interval(numbers.Integral, 0, None, closed="left"),
            np.random.RandomState,
            None,
        ],
        "return_estimators": ["boolean"],
        "verbose": ["verbose"],
        "defense": [HasMethods(["fit_resample", "get_params"]), None],
        "victim_training": [ordered_options(["retrain", "fine_tune"])],
        "fine_tune_epochs": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "n_repeats": [Interval(numbers.Integral, 1, None, closed="left")],
    },
    # The caller's estimator, attacks, defense and scorers run inside: their
    # own parameters get validated there.
    prefer_skip_nested_validation=False,
)
def cross_validate_robustness(
    estimator,
    X,
    y,
    *,
    sensitive_features,
    attacks,
    budgets,
    scoring,
    cv=5,
    n_jobs: int | None = None,
    random_state=None,
    return_estimators: bool = False,
    verbose: int = 0,
    defense=None,
    victim_training: str = "retrain",
    fine_tune_epochs: int | None = None,
    n_repeats: int = 1,
):
    """Cross-validate a model under poisoning attacks of several budgets.

    For every fold of ``cv``, every attack and every budget, the attack
    poisons the training part only (``fit_resample``), a clone of
    ``estimator`` is fitted on the clean + poisoned rows, and every scorer
    of ``scoring`` scores it on the clean test part. Budget 0 is the
    unattacked reference: it is fitted once per fold and reported with
    ``attack="clean"``.

    Each (fold, attack, budget) is an independent work unit run through
    :class:`joblib.Parallel`, so ``n_jobs`` parallelises on one machine and
    a surrounding ``with joblib.parallel_backend("dask"):`` (or Ray's
    back-end) distributes the units over a cluster. Inside a unit, torch and
    BLAS run on one thread.

    Results do not depend on ``n_jobs`` or the back-end: every unit gets its
    seeds from ``random_state`` and its own (fold, attack name, budget)
    through :class:`numpy.random.SeedSequence`, never from the order in which
    workers run. Unset (``None``) ``random_state`` parameters of the
    estimator (and of its steps) get one seed per fold, the same for every
    attack and budget, so each attacked model differs from its fold's clean
    model by the poisons, not by its initialisation; unset ``random_state``
    of an attack gets a seed per (fold, attack, budget), and so does NumPy's
    global RNG inside the unit (for code such as a scorer with
    ``random_state=None``; the caller's global state is restored). Scorers
    with an unset ``random_state`` (skfrl's leakage scorers) get one seed per
    fold and scorer, the same for every attack and budget. Seeds set by the
    caller are kept.

    Scorers receive ``sensitive_features`` of the test fold when they
    request it: skfrl's :func:`~skfrl.metrics.make_leakage_scorer` and
    :func:`~skfrl.metrics.make_fairness_scorer` do by default, a
    scikit-learn scorer does after ``set_score_request(sensitive_features=
    True)`` (e.g. ``make_scorer(fairlearn.metrics.
    demographic_parity_difference, greater_is_better=False)``), and a plain
    callable does when it has a ``sensitive_features`` parameter.

    .. versionadded:: 0.1

    Parameters
    ----------
    estimator : estimator or Pipeline
        Unfitted model, e.g. ``Pipeline(preprocessor, FRL model,
        classifier)``. It is fitted through
        :func:`skfrl.utils.fit_with_sensitive`, so ``sensitive_features``
        reaches every step whose ``fit`` takes it (with metadata routing
        enabled, every step that requests it). Never modified.
    X : DataFrame or array-like of shape (n_samples, n_features)
        Data. Never modified.
    y : array-like of shape (n_samples,)
        Labels.
    sensitive_features : array-like of shape (n_samples,) or \
(n_samples, n_attributes)
        Protected attribute(s).
    attacks : dict of str to attack, or list of attacks
        Poisoning attacks (:mod:`skfrl.attacks`); a list is named after the
        classes. Each is cloned and its ``budget`` set to each budget. An
        attack with a ``victim`` parameter set to ``None`` (e.g.
        ``PoisonGenerator(victim=None)``) attacks the fold's clone of
        ``estimator`` (white-box); a victim given explicitly is kept (a
        surrogate model of the attacker's).
    budgets : list of float or int
        Budgets: fractions of the training part in ``[0, 1)`` or numbers of
        poisons. ``0`` adds the clean reference.
    scoring : str, callable, list of str or dict of str to scorer
        Scorers called as ``scorer(estimator, X_test, y_test)`` (plus
        ``sensitive_features=`` when requested, see above); greater is
        better by scikit-learn's convention, so skfrl's leakage scorers
        report negated leakage.
    cv : int, cross-validation splitter or iterable, default=5
        An int gives shuffled K-fold, stratified by the joint (y, s) cells
        when every cell has at least ``cv`` rows (else by y).
    n_jobs : int or None, default=None
        Work units run in parallel (joblib semantics: ``-1`` = all cores,
        ``None`` = 1 unless inside a ``parallel_backend`` context), at most
        one per unit. With local worker processes (joblib's default
        back-end), the cheapest unit runs in this process and is timed; when
        even units that cheap would save less than starting the workers
        costs (about 6 s), they run here too, so ``n_jobs`` never makes a
        small grid slower. Numbers do not depend on it.
    random_state : int, RandomState instance or None, default=None
        Seed of the folds and of every unit; ``None`` draws fresh entropy.
    return_estimators : bool, default=False
        Also return the fitted estimators and the folds' test indices.
    verbose : int, default=0
        Show a progress bar of the work units (tqdm) when > 0.
    defense : sanitiser, resampler or None, default=None
        A defense of :mod:`skfrl.defenses` with ``fit_resample(X, y, *,
        sensitive_features)`` and ``sample_indices_`` (a sanitiser, or a
        resampler such as ``JTTReweighter(output="resample")``). It is
        cloned and applied to every unit's training part after poisoning
        and before fitting, the clean reference included; ``n_removed`` and
        ``n_poison_removed`` in the results count the input rows it did not
        return (0 for a resampler that keeps every row).
    victim_training : {"retrain", "fine_tune"}, default="retrain"
        How the victim meets the poisons. ``"retrain"``: every unit trains
        a fresh clone of ``estimator`` from scratch on its (clean +
        poisoned) training part. ``"fine_tune"``: the threat model of Liu
        et al. (2024, Assumption 2), a victim well trained before the
        attack: the clean model of each fold is trained once, every attack
        crafts against that model (attacks with a ``prefit`` parameter and
        ``victim=None``), and a copy of it continues training on clean +
        poison for ``fine_tune_epochs`` epochs
        (:func:`skfrl.utils.fine_tune`); the clean reference continues on
        the clean part alone for the same epochs, so the comparison stays
        paired.
    fine_tune_epochs : int or None, default=None
        Epochs of continued training with ``victim_training="fine_tune"``;
        None: the model's ``max_epochs``.
    n_repeats : int, default=1
        Repeated cross-validation: ``cv`` (an int) is run ``n_repeats``
        times with differently shuffled folds, and the ``fold`` column
        numbers the ``n_repeats * cv`` splits (``repeat`` says which repeat
        a fold belongs to). Every split keeps the seeds it derives from
        ``random_state`` and its own index, so the first repeat gives the
        numbers of ``n_repeats=1``.

    Returns
    -------
    results : DataFrame
        One row per (attack, budget, fold, metric) with the columns
        ``attack`` (``"clean"`` for budget 0), ``budget``, ``fold``,
        ``repeat``, ``metric``, ``value``, ``fit_time`` (seconds to fit the estimator),
        ``attack_time`` (seconds of ``fit_resample``), ``n_poison``, and
        ``n_removed`` / ``n_poison_removed`` (rows the ``defense`` removed,
        and how many of them were poisons; 0 without a defense).
        Summarise it with :func:`summarize`.
    fitted : Bunch
        Only with ``return_estimators=True``: ``estimators``, a dict
        ``{(attack, budget, fold): fitted estimator}``, and ``test_indices``,
        a list of each fold's test row positions.

    See Also
    --------
    summarize : Mean, spread and change versus clean per attack and budget.
    skfrl.attacks.PoisonedEstimator : Poison inside ``fit``, for
        ``cross_validate`` and ``GridSearchCV``.

    Examples
    --------
    >>> from skfrl.attacks import RandomPoisoning
    >>> from skfrl.datasets import make_biased_classification
    >>> from skfrl.evaluation import cross_validate_robustness, summarize
    >>> from skfrl.metrics import make_leakage_scorer
    >>> from skfrl.models import AdversarialFairRepresentation
    >>> X, y, s = make_biased_classification(n_samples=200, random_state=0)
    >>> results = cross_validate_robustness(
    ...     AdversarialFairRepresentation(max_epochs=2),
    ...     X, y, sensitive_features=s,
    ...     attacks={"random": RandomPoisoning()},
    ...     budgets=[0, 0.1],
    ...     scoring={"accuracy": "accuracy", "leakage": make_leakage_scorer(cv=3)},
    ...     cv=2, random_state=0)
    >>> results[["attack", "budget", "fold", "metric"]].head(3)
      attack  budget  fold    metric
    0  clean     0.0     0  accuracy
    1  clean     0.0     0   leakage
    2  clean     0.0     1  accuracy
    >>> summarize(results)[["attack", "budget", "metric", "n_folds"]]
       attack  budget    metric  n_folds
    0   clean     0.0  accuracy        2
    1   clean     0.0   leakage        2
    2  random     0.1  accuracy        2
    3  random     0.1   leakage        2
    """
    check_consistent_length(X, y, sensitive_features)
    attacks = _check_attacks(attacks)
    budgets = _check_budgets(budgets)
    scorers = _check_scoring(scoring)
    # How the parameters go together, and what the estimator must be to be
    # fine-tuned: no constraint relates two parameters.
    if victim_training == "fine_tune":
        check_fine_tune(estimator, fine_tune_epochs, input_name="fine_tune_epochs")
    elif fine_tune_epochs is not None:
        raise ValueError(
            "fine_tune_epochs is only used with victim_training='fine_tune'."
        )
    if n_repeats > 1 and not (
        isinstance(cv, numbers.Integral) and not isinstance(cv, bool)
    ):
        raise ValueError(
            "n_repeats > 1 needs cv to be an int (the number of folds); a "
            "splitter object repeats itself (e.g. RepeatedStratifiedKFold)."
        )
    entropy = _entropy(random_state)
    folds = _repeated_splits(
        cv, estimator, X, y, sensitive_features, entropy, int(n_repeats)
    )
    n_per_repeat = len(folds) // int(n_repeats)
    if n_jobs is not None:
        n_jobs = effective_n_jobs(n_jobs)
    bases = [None] * len(folds)
    if victim_training == "fine_tune":
        bases = Parallel(n_jobs=None if n_jobs is None else min(n_jobs, len(folds)))(
            delayed(_fit_base)(
                estimator,
                X,
                y,
                sensitive_features,
                train,
                estimator_seed=_seed(entropy, 1, fold),
                unit_seed=_seed(entropy, 3, fold),
            )
            for fold, (train, _) in enumerate(folds)
        )

    units = []  # (attack name, budget, fold, attack object or None)
    if 0 in budgets:
        units += [(CLEAN, 0.0, k, None) for k in range(len(folds))]
    for name, attack in attacks.items():
        units += [
            (name, b, k, clone(attack).set_params(budget=b))
            for b in budgets
            if b != 0
            for k in range(len(folds))
        ]
    units.sort(key=lambda unit: not _costly(unit[3]))

    calls = [
        (
            (
                estimator,
                attack,
                X,
                y,
                sensitive_features,
                folds[fold][0],
                folds[fold][1],
                scorers,
            ),
            dict(
                estimator_seed=_seed(entropy, 1, fold),
                unit_seed=_seed(entropy, 2, fold, _tag(name), _tag(float(budget))),
                return_estimator=return_estimators,
                defense=defense,
                base=bases[fold],
                fine_tune_epochs=fine_tune_epochs,
                # One probe seed per fold and scorer: clean and attacked
                # models of a fold are probed alike (a paired comparison).
                scorer_seeds={
                    scorer: _seed(entropy, 4, fold, _tag(scorer)) for scorer in scorers
                },
            ),
        )
        for name, budget, fold, attack in units
    ]
    if n_jobs is not None and units:
        # No more workers than units: each worker process imports torch.
        n_jobs = min(n_jobs, len(units))
    progress = None
    if verbose:
        from tqdm.auto import tqdm

        progress = tqdm(total=len(units), desc="robustness", unit="fit")
    outputs = [None] * len(calls)
    todo = list(range(len(calls)))
    if n_jobs is not None and n_jobs > 1 and _local_pool():
        # Run and time the last (cheapest) unit here: when even units that
        # cheap would save less than starting worker processes costs, the
        # rest runs here too.
        last = todo.pop()
        start = time.perf_counter()
        args, kwargs = calls[last]
        outputs[last] = _evaluate_unit(*args, **kwargs)
        elapsed = time.perf_counter() - start
        if progress is not None:
            progress.update(1)
        if elapsed * len(todo) * (1 - 1 / n_jobs) < _WORKER_START_S:
            n_jobs = None
    jobs = (delayed(_evaluate_unit)(*calls[i][0], **calls[i][1]) for i in todo)
    parallel = Parallel(n_jobs=n_jobs, return_as="generator")
    for i, out in zip(todo, parallel(jobs), strict=True):
        outputs[i] = out
        if progress is not None:
            progress.update(1)
    if progress is not None:
        progress.close()

    order = {name: i for i, name in enumerate([CLEAN, *attacks])}
    rows, estimators = [], {}
    for (name, budget, fold, _), out in zip(units, outputs, strict=True):
        for metric, value in out.scores.items():
            rows.append(
                (
                    name,
                    float(budget),
                    fold,
                    fold // n_per_repeat,
                    metric,
                    value,
                    out.fit_time,
                    out.attack_time,
                    out.n_poison,
                    out.n_removed,
                    out.n_poison_removed,
                )
            )
        if return_estimators:
            estimators[(name, float(budget), fold)] = out.estimator
    results = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    metric_order = {m: i for i, m in enumerate(scorers)}
    results = results.sort_values(
        ["attack", "budget", "fold", "metric"],
        key=lambda col: (
            col.map(order)
            if col.name == "attack"
            else (col.map(metric_order) if col.name == "metric" else col)
        ),
        kind="stable",
    ).reset_index(drop=True)
    if return_estimators:
        return results, Bunch(
            estimators=estimators, test_indices=[test for _, test in folds]
        )
    return results


@validate_params(
    {
        "differences": ["array-like"],
        "confidence": [Interval(numbers.Real, 0, 1, closed="neither")],
        "n_splits": [Interval(numbers.Real, 0, None, closed="neither"), None],
    },
    prefer_skip_nested_validation=True,
)
def paired_interval(
    differences, *, confidence: float = 0.95, n_splits: float | None = None
) -> dict:
    """Mean, standard error and t interval of paired differences.

    The statistics every "beats" in skfrl rests on: the differences are
    paired (an attacked run minus the clean run of the same seed or fold),
    and the interval is Student's t at ``confidence``. With ``n_splits``
    (the K of K-fold cross-validation the differences come from), the
    variance is inflated by Nadeau and Bengio's correction
    ``1/n + 1/(K - 1)``, because folds share training rows and their results
    are correlated; without it, the differences are taken as independent
    (e.g. one per seed).

    .. versionadded:: 0.1

    Parameters
    ----------
    differences : array-like of shape (n,)
        Paired differences; NaNs are not allowed.
    confidence : float in (0, 1), default=0.95
        Coverage of the interval.
    n_splits : float or None, default=None
        K of the K-fold splits the differences come from (corrected
        resampled t); None: plain paired t.

    Returns
    -------
    dict
        ``mean``, ``se``, ``low``, ``high`` and ``n``; ``se``, ``low`` and
        ``high`` are NaN with fewer than two differences.

    Examples
    --------
    >>> from skfrl.evaluation import paired_interval
    >>> r = paired_interval([0.02, 0.05, 0.03, 0.04])
    >>> round(r["mean"], 3), r["low"] > 0
    (0.035, True)
    """
    from scipy import stats

    d = np.asarray(differences, dtype=float)
    # Array contents: no constraint sees the shape or the values.
    if d.ndim != 1:
        raise ValueError(f"differences must be 1-D, got shape {d.shape}.")
    if not np.all(np.isfinite(d)):
        raise ValueError("differences contains NaN or infinite values.")
    n = len(d)
    mean = float(np.mean(d)) if n else np.nan
    if n < 2:
        return dict(mean=mean, se=np.nan, low=np.nan, high=np.nan, n=n)
    var = float(np.var(d, ddof=1))
    if n_splits is not None and n_splits > 1:
        # Nadeau & Bengio (2003): the test/train ratio of K-fold, 1 / (K - 1).
        se = float(np.sqrt(var * (1.0 / n + 1.0 / (n_splits - 1))))
    else:
        se = float(np.sqrt(var / n))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * se
    return dict(mean=mean, se=se, low=mean - half, high=mean + half, n=n)


@validate_params(
    {
        "results": [pd.DataFrame],
        "reference": [str],
        "confidence": [Interval(numbers.Real, 0, 1, closed="neither")],
        "interval": [ordered_options(["corrected_t", "t"])],
    },
    prefer_skip_nested_validation=True,
)
def summarize(
    results: pd.DataFrame,
    *,
    reference: str = CLEAN,
    confidence: float = 0.95,
    interval: str = "corrected_t",
) -> pd.DataFrame:
    """Mean, spread and change versus the clean model, with an interval.

    The change is paired by fold: each fold's value minus the same fold's
    clean value, so the folds' own difficulty cancels out. Its interval is a
    Student-t interval over the folds (and repeats) of
    :func:`cross_validate_robustness`. Folds of a cross-validation share
    most of their training rows, so their results are correlated and the
    plain t interval is too narrow; ``interval="corrected_t"`` (default)
    uses the corrected resampled t of Nadeau and Bengio (2003), which
    inflates the variance of the mean from ``s^2 / J`` to
    ``s^2 (1 / J + 1 / (K - 1))`` for ``J`` paired differences from
    ``K``-fold splits. A change is ``significant`` when its interval
    excludes 0.

    .. versionadded:: 0.1

    Parameters
    ----------
    results : DataFrame
        Output of :func:`cross_validate_robustness` (columns ``attack``,
        ``budget``, ``fold``, ``metric``, ``value``, and ``repeat`` when
        the folds were repeated).
    reference : str, default="clean"
        Attack name of the reference rows.
    confidence : float in (0, 1), default=0.95
        Confidence level of the intervals.
    interval : {"corrected_t", "t"}, default="corrected_t"
        ``"corrected_t"``: Nadeau-Bengio corrected resampled t, assuming
        K-fold splits (K = folds per repeat); ``"t"``: the plain paired t
        interval, which treats folds as independent.

    Returns
    -------
    summary : DataFrame
        One row per (attack, budget, metric), in the order of ``results``,
        with ``mean`` and ``sd`` (standard deviation over folds, ``ddof=1``),
        ``n_folds``, ``change`` (mean paired difference from the reference;
        0 for the reference itself, NaN without reference rows),
        ``change_sd``, ``change_se`` (its standard error), ``ci_low`` and
        ``ci_high`` (the interval) and ``significant`` (the interval
        excludes 0; False for the reference and when fewer than two folds).

    Examples
    --------
    >>> import pandas as pd
    >>> from skfrl.evaluation import summarize
    >>> results = pd.DataFrame({
    ...     "attack": ["clean"] * 3 + ["eng"] * 3,
    ...     "budget": [0.0] * 3 + [0.1] * 3,
    ...     "fold": [0, 1, 2] * 2,
    ...     "metric": ["auc"] * 6,
    ...     "value": [0.60, 0.64, 0.62, 0.70, 0.72, 0.73]})
    >>> summary = summarize(results)
    >>> columns = ["attack", "mean", "change", "ci_low", "ci_high", "significant"]
    >>> summary[columns].round(3)
      attack   mean  change  ci_low  ci_high  significant
    0  clean  0.620   0.000   0.000    0.000        False
    1    eng  0.717   0.097   0.037    0.157         True
    """
    # The frame's columns: no constraint describes them.
    missing = {"attack", "budget", "fold", "metric", "value"} - set(results.columns)
    if missing:
        raise ValueError(
            f"results lacks the columns {sorted(missing)}; pass the frame "
            "returned by cross_validate_robustness."
        )
    keys = ["attack", "budget", "metric"]
    ref = results.loc[results["attack"] == reference, ["fold", "metric", "value"]]
    ref = ref.drop_duplicates(["fold", "metric"]).rename(columns={"value": "_ref"})
    columns = ["attack", "budget", "fold", "metric", "value"]
    frame = results[columns].merge(ref, on=["fold", "metric"], how="left")
    frame["_change"] = frame["value"] - frame["_ref"]
    n_repeats = results["repeat"].nunique() if "repeat" in results else 1
    grouped = frame.groupby(keys, sort=False)
    summary = grouped.agg(
        mean=("value", "mean"),
        sd=("value", "std"),
        n_folds=("value", "size"),
        change=("_change", "mean"),
        change_sd=("_change", "std"),
    ).reset_index()
    stats_rows = []
    for (attack, _, _), group in grouped:
        d = group["_change"].dropna().to_numpy(dtype=float)
        if attack == reference or not len(d):
            mean = 0.0 if attack == reference else np.nan
            stats_rows.append((0.0 if len(d) else np.nan, mean, mean))
            continue
        k = len(d) / max(n_repeats, 1)
        r = paired_interval(
            d, confidence=confidence, n_splits=k if interval == "corrected_t" else None
        )
        stats_rows.append((r["se"], r["low"], r["high"]))
    summary[["change_se", "ci_low", "ci_high"]] = pd.DataFrame(
        stats_rows, index=summary.index, dtype=float
    )
    summary["significant"] = (summary["ci_low"] > 0) | (summary["ci_high"] < 0)
    return summary
