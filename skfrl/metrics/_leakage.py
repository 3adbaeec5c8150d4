"""Leakage of a sensitive attribute from a representation: ``(Z, s) -> float``."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from numbers import Integral, Real

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    log_loss,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
)
from sklearn.model_selection import (
    KFold,
    StratifiedKFold,
    check_cv,
    cross_val_predict,
)
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_array, check_random_state

from ..utils import SensitiveAttribute, check_sensitive_features
from ..utils._sklearn_compat import (
    HasMethods,
    Interval,
    ordered_options,
    validate_params,
)

__all__ = [
    "balanced_error_rate",
    "check_leakage_metric",
    "fld_score",
    "leakage_by_probe",
    "mutual_information_lower_bound",
    "probe_family",
    "representation_leakage",
]

CATEGORICAL_METRICS = ("roc_auc", "balanced_accuracy", "ber", "accuracy", "log_loss")
CONTINUOUS_METRICS = ("mae", "r2")
PROBE_METRICS = CATEGORICAL_METRICS + CONTINUOUS_METRICS
#: Probabilities are clipped to [PROBA_CLIP, 1 - PROBA_CLIP] before the log,
#: as sklearn.metrics.log_loss long did, so that a confidently wrong probe
#: costs at most -log(1e-15) ~ 34.5 nats per sample instead of infinity.
PROBA_CLIP = 1e-15
#: +1 where a larger value of the probe metric means more leakage, -1 where
#: a smaller one does: the worst case over probes is the max, or the min.
LEAKAGE_DIRECTION = {
    "roc_auc": 1,
    "balanced_accuracy": 1,
    "ber": -1,
    "accuracy": 1,
    "log_loss": 1,
    "mae": -1,
    "r2": 1,
}
#: Names of the probes of :func:`probe_family`, by kind of ``s``.
PROBE_FAMILY = {
    "categorical": ("logistic", "mlp", "hgb"),
    "continuous": ("ridge", "mlp", "hgb"),
}
#: The probe name that stands for every probe of the family, worst case.
WORST_PROBE = "worst"
#: Every probe name ``probe=`` accepts.
PROBE_NAMES = ("logistic", "ridge", "mlp", "hgb", WORST_PROBE)
#: Constraints of the parameters the leakage functions share.
PROBE_CONSTRAINT = [HasMethods(["fit"]), ordered_options(PROBE_NAMES), None]
METRIC_CONSTRAINT = [ordered_options(PROBE_METRICS)]
# One hidden layer of 32 units trained by Adam (batches of 200) for at most
# 300 epochs. A step size of 3e-3 and tol=1e-3 (sklearn's defaults: 1e-3 and
# 1e-4) stop training once ten epochs in a row improve the training loss by
# less than 1e-3. On 5,000 x 8 synthetic data this gave the out-of-fold AUC
# of 300 full epochs (within 0.005) in a sixth to a tenth of the time; on
# 1,000 samples, with fewer batches per epoch, training runs for more epochs
# and the AUC again matched 300 full epochs.
_MLP_PARAMS = {
    "hidden_layer_sizes": (32,),
    "alpha": 1e-3,
    "learning_rate_init": 3e-3,
    "max_iter": 300,
    "tol": 1e-3,
    "early_stopping": False,
}
_HGB_PARAMS = {"max_iter": 100}


def _check_representation(Z) -> np.ndarray:
    # float64 so that FLD's small regulariser and solve are not at float32
    # precision; check_array copies only when it must convert.
    Z = check_array(Z, dtype=np.float64, ensure_all_finite=True, input_name="Z")
    peak = float(np.max(np.abs(Z))) if Z.size else 0.0
    if peak > _HUGE:
        # Squares of such values overflow; every metric here is invariant to
        # one common scale, so divide it out (normal inputs are untouched).
        Z = Z / peak
    return Z


#: Magnitude above which representations are rescaled before any product.
_HUGE = 1e100


def _check_one_attribute(
    s, n_samples: int, *, kinds=None, allow_continuous: bool = True
) -> tuple[np.ndarray, SensitiveAttribute]:
    values, attrs = check_sensitive_features(
        s,
        n_samples=n_samples,
        kinds=kinds,
        allow_continuous=allow_continuous,
        input_name="s",
    )
    if len(attrs) != 1:
        raise ValueError(
            f"s must hold a single sensitive attribute, got {len(attrs)} "
            f"({[a.name for a in attrs]}); score each attribute separately."
        )
    return values[0], attrs[0]


def _check_cv(cv, codes: np.ndarray | None, attr: SensitiveAttribute, random_state):
    """Turn an int into a shuffled (stratified) K-fold; pass splitters through."""
    if not isinstance(cv, Integral) or isinstance(cv, bool):
        # Splitters and iterables of splits are validated by cross_val_predict.
        return cv
    if attr.kind == "continuous":
        return KFold(n_splits=cv, shuffle=True, random_state=random_state)
    counts = np.bincount(codes, minlength=attr.n_classes)
    rare = np.flatnonzero(counts < cv)
    if rare.size:
        groups = ", ".join(
            f"{attr.classes.tolist()[j]!r} ({counts[j]} samples)" for j in rare.tolist()
        )
        raise ValueError(
            f"Too few samples per group of s for cv={cv} stratified folds: "
            f"{groups}. Every group needs at least cv samples; lower cv or merge "
            "rare groups."
        )
    return StratifiedKFold(n_splits=cv, shuffle=True, random_state=random_state)


def _default_probe(kind: str):
    if kind == "continuous":
        return make_pipeline(StandardScaler(), Ridge())
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))


def _check_probe(probe, kind: str):
    if probe is None:
        return _default_probe(kind)
    # The estimators of a dict of probes= reach here without a constraint.
    if not hasattr(probe, "fit"):
        raise TypeError(f"probe must be a scikit-learn estimator, got {probe!r}.")
    if kind == "categorical" and is_regressor(probe):
        raise ValueError(
            f"s is categorical, so probe must be a classifier; got the regressor "
            f"{probe!r}."
        )
    if kind == "continuous" and is_classifier(probe):
        raise ValueError(
            f"s is continuous, so probe must be a regressor; got the classifier "
            f"{probe!r}."
        )
    return clone(probe)


def _check_probe_name(probe: str, kind: str | None = None) -> tuple[str, ...]:
    """Validate a probe name; with ``kind``, the family names it stands for.

    Parameters take their names through ``PROBE_CONSTRAINT``; this checks
    the items of ``probes=`` and whether a name fits the kind of ``s``.
    """
    if probe not in PROBE_NAMES:
        raise ValueError(
            f"Unknown probe {probe!r}; probe must be an estimator, None or one of "
            f"{list(PROBE_NAMES)}."
        )
    if kind is None:
        return (probe,)
    if probe == WORST_PROBE:
        return PROBE_FAMILY[kind]
    if probe not in PROBE_FAMILY[kind]:
        valid = [*PROBE_FAMILY[kind], WORST_PROBE]
        raise ValueError(
            f"probe={probe!r} does not fit a {kind} s; for a {kind} s, probe "
            f"must be an estimator, None or one of {valid}."
        )
    return (probe,)


@validate_params(
    {"random_state": ["random_state"], "kind": [ordered_options(PROBE_FAMILY)]},
    prefer_skip_nested_validation=True,
)
def probe_family(random_state=None, *, kind: str = "categorical") -> dict:
    """Unfitted probes of increasing capacity, to measure leakage against.

    A representation can hide ``s`` from a linear probe and still leak it to
    a non-linear one, so leakage measured with one probe is a lower bound.
    The family holds three probes; :func:`leakage_by_probe` cross-validates
    each of them and reports the worst case, and
    ``representation_leakage(..., probe=name)`` accepts their names.

    For a categorical ``s`` (classifiers):

    - ``"logistic"``: ``make_pipeline(StandardScaler(),
      LogisticRegression(max_iter=1000))``, the default probe of
      :func:`representation_leakage`.
    - ``"mlp"``: ``make_pipeline(StandardScaler(), MLPClassifier(...))``,
      one hidden layer of 32 ReLU units, ``alpha=1e-3``, Adam with
      ``learning_rate_init=3e-3`` for at most ``max_iter=300`` epochs,
      ``tol=1e-3`` and ``early_stopping=False``: training stops once ten
      epochs in a row improve the training loss by less than ``tol``.
    - ``"hgb"``: ``HistGradientBoostingClassifier(max_iter=100)``.

    For a continuous ``s`` (regressors):

    - ``"ridge"``: ``make_pipeline(StandardScaler(), Ridge())``, the default
      probe of :func:`representation_leakage` for a continuous ``s``.
    - ``"mlp"``: the same network as an
      :class:`~sklearn.neural_network.MLPRegressor`, in a
      :class:`~sklearn.compose.TransformedTargetRegressor` that standardises
      ``s``.
    - ``"hgb"``: ``HistGradientBoostingRegressor(max_iter=100)``.

    On 5,000 samples of 8 components, one 5-fold cross-validation of the
    ``"mlp"`` or ``"hgb"`` probe takes about a second on one CPU thread.

    .. versionadded:: 0.1

    Parameters
    ----------
    random_state : int, RandomState instance or None, default=None
        Seeds of the ``"mlp"`` and ``"hgb"`` probes: two integers drawn from
        ``check_random_state(random_state)``, always both and in this order,
        whatever ``kind``. With ``None`` they come from NumPy's global random
        state, so seeding :func:`numpy.random.seed` makes them reproducible.
        The linear probes are deterministic.
    kind : {"categorical", "continuous"}, default="categorical"
        Kind of sensitive attribute the probes will predict: classifiers for
        a categorical one, regressors for a continuous one.

    Returns
    -------
    dict of str to estimator
        Probe name to unfitted probe, in the order listed above.

    See Also
    --------
    leakage_by_probe : Leakage measured by each probe, and the worst case.
    representation_leakage : Leakage measured by one probe, or the worst case.

    Examples
    --------
    >>> from skfrl.metrics import probe_family
    >>> probes = probe_family(random_state=0)
    >>> list(probes)
    ['logistic', 'mlp', 'hgb']
    >>> probes["hgb"]
    HistGradientBoostingClassifier(random_state=...)
    >>> list(probe_family(random_state=0, kind="continuous"))
    ['ridge', 'mlp', 'hgb']
    """
    rng = check_random_state(random_state)
    mlp_seed, hgb_seed = (int(v) for v in rng.randint(np.iinfo(np.int32).max, size=2))
    if kind == "categorical":
        return {
            "logistic": _default_probe("categorical"),
            "mlp": make_pipeline(
                StandardScaler(), MLPClassifier(**_MLP_PARAMS, random_state=mlp_seed)
            ),
            "hgb": HistGradientBoostingClassifier(**_HGB_PARAMS, random_state=hgb_seed),
        }
    return {
        "ridge": _default_probe("continuous"),
        "mlp": TransformedTargetRegressor(
            regressor=make_pipeline(
                StandardScaler(), MLPRegressor(**_MLP_PARAMS, random_state=mlp_seed)
            ),
            transformer=StandardScaler(),
        ),
        "hgb": HistGradientBoostingRegressor(**_HGB_PARAMS, random_state=hgb_seed),
    }


@validate_params(
    {
        "Z": ["array-like"],
        "s": ["array-like"],
        "eps": [Interval(Real, 0, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def fld_score(Z: ArrayLike, s: ArrayLike, *, eps: float = 1e-6) -> float:
    r"""Fisher linear discriminant separability of the groups of ``s`` in ``Z``.

    For a binary attribute this is the squared Mahalanobis distance between
    the two group means under the summed within-group covariance,

    .. math::

        \mathrm{FLD} = (\mu_1 - \mu_0)^\top (S_0 + S_1 + \epsilon\bar{v} I)^{-1}
        (\mu_1 - \mu_0),

    where :math:`\mu_g` is the mean of ``Z`` over group ``g``, :math:`S_g` its
    within-group covariance normalised by the group size :math:`n_g` (the
    maximum-likelihood estimate) and :math:`\bar{v}` the mean diagonal entry of
    :math:`S_0 + S_1`. Scaling the ridge by :math:`\bar{v}` makes the score
    invariant to multiplying ``Z`` by a constant (its units are arbitrary);
    if every within-group variance is zero the ridge is plain ``eps``.

    For :math:`k > 2` groups the score is the mean over all group pairs of the
    same squared Mahalanobis distance, measured under the pooled within-group
    scatter :math:`S_W = \tfrac{2}{k}\sum_g S_g`:

    .. math::

        \mathrm{FLD} = \binom{k}{2}^{-1} \sum_{g<h} (\mu_g - \mu_h)^\top
        (S_W + \epsilon\bar{v} I)^{-1} (\mu_g - \mu_h)
        = \operatorname{tr}\big((S_W + \epsilon\bar{v} I)^{-1} S_B\big),
        \quad S_B = \tfrac{2}{k-1}\sum_g (\mu_g - \bar\mu)(\mu_g - \bar\mu)^\top,

    with :math:`\bar\mu` the unweighted mean of the group means. It equals the
    binary formula for :math:`k = 2`. Groups are weighted equally, whatever
    their sizes, as in the binary formula.

    For two Gaussian groups sharing a covariance, :math:`S_0 + S_1` estimates
    twice that covariance, so the Bayes-optimal balanced error rate of
    predicting ``s`` from ``Z`` is :math:`\Phi(-\sqrt{\mathrm{FLD}/2})`, a
    decreasing function of the score.

    .. versionadded:: 0.1

    Parameters
    ----------
    Z : array-like of shape (n_samples, n_components)
        Representation. Never modified.
    s : array-like of shape (n_samples,)
        Categorical sensitive attribute with at least two groups.
    eps : float, default=1e-6
        Ridge added to the within-group scatter, relative to its mean
        variance. Must be non-negative; with ``eps=0`` a singular scatter is
        handled by a least-squares solve.

    Returns
    -------
    float
        Non-negative separability; 0 means equal group means (no linear
        separability). Under independence of ``Z`` and ``s`` it shrinks like
        ``n_components / n_samples``.

    Examples
    --------
    >>> import numpy as np
    >>> from skfrl.metrics import fld_score
    >>> Z = np.array([[0.0], [2.0], [3.0], [5.0]])

    Group means 1 and 4, within-group variances 1 and 1: ``3**2 / (1 + 1)``.

    >>> round(fld_score(Z, [0, 0, 1, 1]), 3)
    4.5
    >>> round(fld_score(Z, [0, 1, 0, 1]), 3)
    0.889
    """
    Z = _check_representation(Z)
    codes, attr = _check_one_attribute(
        s, Z.shape[0], kinds=None, allow_continuous=False
    )
    k = attr.n_classes
    n_features = Z.shape[1]
    means = np.empty((k, n_features))
    scatter = np.zeros((n_features, n_features))
    for g in range(k):
        Zg = Z[codes == g]
        means[g] = Zg.mean(axis=0)
        centred = Zg - means[g]
        scatter += centred.T @ centred / Zg.shape[0]
    scatter *= 2.0 / k
    mean_var = float(np.trace(scatter)) / n_features
    if mean_var > 0:
        ridge = eps * mean_var
    else:
        # No spread within the groups (e.g. one row each): a ridge on the
        # scale of the group means keeps the score finite and scale-free.
        spread = float(np.mean((means - means.mean(axis=0)) ** 2))
        ridge = eps * spread if spread > 0 else eps
    scatter[np.diag_indices_from(scatter)] += ridge
    # Rows of D span the between-group scatter: S_B = D.T @ D.
    D = (means - means.mean(axis=0)) * np.sqrt(2.0 / (k - 1))
    try:
        solved = np.linalg.solve(scatter, D.T)
    except np.linalg.LinAlgError:
        solved = np.linalg.lstsq(scatter, D.T, rcond=None)[0]
    return max(float(np.sum(D.T * solved)), 0.0)


@validate_params(
    {"s_true": ["array-like"], "s_pred": ["array-like"]},
    prefer_skip_nested_validation=True,
)
def balanced_error_rate(s_true: ArrayLike, s_pred: ArrayLike) -> float:
    """Balanced error rate: the mean over groups of the per-group error rate.

    Equal to ``1 - balanced_accuracy_score(s_true, s_pred)``. A predictor
    that ignores its input scores ``1 - 1/k`` for ``k`` groups, 0.5 in the
    binary case, whatever the group sizes; 0 is perfect prediction. As a
    leakage measure, a probe's balanced error rate near chance means little
    leakage.

    .. versionadded:: 0.1

    Parameters
    ----------
    s_true : array-like of shape (n_samples,)
        True groups.
    s_pred : array-like of shape (n_samples,)
        Predicted groups.

    Returns
    -------
    float
        Balanced error rate in ``[0, 1]``.

    Examples
    --------
    >>> from skfrl.metrics import balanced_error_rate
    >>> balanced_error_rate([0, 0, 0, 1], [0, 0, 0, 0])
    0.5
    >>> balanced_error_rate([0, 0, 1, 1], [0, 1, 1, 1])
    0.25
    """
    return float(1.0 - balanced_accuracy_score(s_true, s_pred))


def _group_entropy(codes: np.ndarray, n_classes: int) -> float:
    """Entropy in nats of the group shares of ``codes`` (all groups non-empty)."""
    shares = np.bincount(codes, minlength=n_classes) / codes.size
    return -float(np.sum(shares * np.log(shares)))


def _mean_cross_entropy(codes: np.ndarray, proba: np.ndarray) -> float:
    """Mean of ``-log proba[i, codes[i]]`` in nats, probabilities clipped."""
    p_true = np.clip(proba[np.arange(codes.size), codes], PROBA_CLIP, 1 - PROBA_CLIP)
    return -float(np.mean(np.log(p_true)))


@validate_params({"metric": METRIC_CONSTRAINT}, prefer_skip_nested_validation=True)
def check_leakage_metric(metric) -> str:
    """Validate the name of a probe metric of :func:`representation_leakage`.

    For code that takes a ``metric`` and passes it on later (e.g.
    :class:`~skfrl.callbacks.LeakageMonitor`) and should refuse a wrong
    name at once.

    .. versionadded:: 0.1

    Parameters
    ----------
    metric : str
        A metric name.

    Returns
    -------
    metric : str
        The same name.

    Raises
    ------
    ValueError
        If ``metric`` is not one of ``"roc_auc"``, ``"balanced_accuracy"``,
        ``"ber"``, ``"accuracy"``, ``"log_loss"`` (categorical ``s``),
        ``"mae"`` or ``"r2"`` (continuous ``s``).

    Examples
    --------
    >>> from skfrl.metrics import check_leakage_metric
    >>> check_leakage_metric("ber")
    'ber'
    >>> check_leakage_metric("auc")
    Traceback (most recent call last):
    ...
    sklearn.utils._param_validation.InvalidParameterError: The 'metric' parameter \
of check_leakage_metric must be a str among {'roc_auc', ...}. Got 'auc' instead.
    """
    return metric


def _check_leakage_inputs(Z, s, metric: str):
    """Validated ``Z``, the codes or values of ``s`` and its attribute."""
    Z = _check_representation(Z)
    if metric in CONTINUOUS_METRICS:
        values, attr = _check_one_attribute(s, Z.shape[0], kinds="continuous")
    else:
        values, attr = _check_one_attribute(s, Z.shape[0])
        if attr.kind == "continuous":
            raise ValueError(
                f"metric={metric!r} needs a categorical s, but s looks continuous "
                "(a float with many distinct values). Use metric='mae' or 'r2', "
                "or bin s first."
            )
    return Z, values, attr


def _probe_leakage(probe, Z, values, attr, metric: str, cv, n_jobs) -> float:
    """``metric`` on the out-of-fold predictions of the (checked) ``probe``.

    ``metric`` is a probe metric, or ``"mi"``: ``H(s)`` minus the log loss
    of :func:`~sklearn.metrics.log_loss`, not clipped at 0.
    """
    if metric in ("log_loss", "mi"):
        if not hasattr(probe, "predict_proba"):
            raise ValueError(
                f"metric='log_loss' needs a probe with predict_proba; {probe!r} "
                "has none."
            )
        proba = cross_val_predict(
            probe, Z, values, cv=cv, method="predict_proba", n_jobs=n_jobs
        )
        entropy = _group_entropy(values, attr.n_classes)
        if metric == "mi":
            cross_entropy = log_loss(values, proba, labels=np.arange(attr.n_classes))
            return entropy - float(cross_entropy)
        return entropy - _mean_cross_entropy(values, proba)

    if metric == "roc_auc":
        binary = attr.n_classes == 2
        if hasattr(probe, "predict_proba"):
            method = "predict_proba"
        elif binary and hasattr(probe, "decision_function"):
            method = "decision_function"
        else:
            raise ValueError(
                f"metric='roc_auc' needs a probe with predict_proba"
                f"{' or decision_function' if binary else ''}; {probe!r} has none."
            )
        scores = cross_val_predict(
            probe, Z, values, cv=cv, method=method, n_jobs=n_jobs
        )
        if binary:
            return float(
                roc_auc_score(values, scores[:, 1] if scores.ndim == 2 else scores)
            )
        return float(
            roc_auc_score(
                values,
                scores,
                multi_class="ovr",
                average="macro",
                labels=np.arange(attr.n_classes),
            )
        )

    pred = cross_val_predict(probe, Z, values, cv=cv, n_jobs=n_jobs)
    score_func = {
        "balanced_accuracy": balanced_accuracy_score,
        "ber": balanced_error_rate,
        "accuracy": accuracy_score,
        "mae": mean_absolute_error,
        "r2": r2_score,
    }[metric]
    return float(score_func(values, pred))


def _leakage_by_probe(
    probes: dict, Z, values, attr, metric: str, splitter, random_state, n_jobs
) -> dict:
    """Leakage of each probe (label -> family name or estimator), same folds.

    The folds are drawn first, then the seeds of the family's probes, both
    from ``random_state``; the family's ConvergenceWarnings are silenced
    (their iteration budgets are part of their definition).
    """
    folds = list(
        check_cv(splitter, values, classifier=attr.kind == "categorical").split(
            Z, values
        )
    )
    family = probe_family(random_state, kind=attr.kind)
    leakage = {}
    for label, probe in probes.items():
        if isinstance(probe, str):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                leakage[label] = _probe_leakage(
                    family[probe], Z, values, attr, metric, folds, n_jobs
                )
        else:
            leakage[label] = _probe_leakage(
                _check_probe(probe, attr.kind), Z, values, attr, metric, folds, n_jobs
            )
    return leakage


def _worst_case(values, metric: str) -> float:
    """The most leaking of ``values`` of a probe metric (``"mi"``: the max)."""
    return float((min if LEAKAGE_DIRECTION.get(metric, 1) < 0 else max)(values))


@validate_params(
    {
        "Z": ["array-like"],
        "s": ["array-like"],
        "probe": PROBE_CONSTRAINT,
        "metric": METRIC_CONSTRAINT,
        "cv": ["cv_object"],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
    },
    # The caller's probe is fitted inside: its parameters get validated there.
    prefer_skip_nested_validation=False,
)
def representation_leakage(
    Z: ArrayLike,
    s: ArrayLike,
    *,
    probe=None,
    metric: str = "roc_auc",
    cv=5,
    random_state=None,
    n_jobs: int | None = None,
) -> float:
    """Cross-validated performance of a probe that predicts ``s`` from ``Z``.

    Every sample's prediction comes from a probe fitted on the other folds
    (:func:`~sklearn.model_selection.cross_val_predict`), and ``metric``
    compares these out-of-fold predictions with ``s``.

    .. versionadded:: 0.1

    Parameters
    ----------
    Z : array-like of shape (n_samples, n_components)
        Representation. Never modified.
    s : array-like of shape (n_samples,)
        One sensitive attribute: categorical for the classification metrics,
        numeric for ``"mae"`` and ``"r2"`` (then treated as continuous).
    probe : estimator or {"logistic", "ridge", "mlp", "hgb", "worst"}, \
default=None
        Unfitted classifier (categorical ``s``) or regressor (continuous
        ``s``); it is cloned. ``None`` uses
        ``make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))``,
        or ``make_pipeline(StandardScaler(), Ridge())`` for a continuous
        ``s``. ``"roc_auc"`` needs ``predict_proba`` (or, for binary ``s``,
        ``decision_function``); ``"log_loss"`` needs ``predict_proba``.

        A name picks a probe of :func:`probe_family`, seeded from
        ``random_state``: ``"logistic"`` (categorical ``s`` only; the same as
        ``None``), ``"ridge"`` (continuous ``s`` only; the same as ``None``),
        ``"mlp"`` or ``"hgb"``. ``"worst"`` cross-validates every probe of
        the family on the same folds and returns the most leaking value: the
        largest, or the smallest for ``"ber"`` and ``"mae"``, where smaller
        means more leakage. :func:`leakage_by_probe` returns each probe's
        value besides.

        .. versionchanged:: 0.1
           Added the probe names.
    metric : {"roc_auc", "balanced_accuracy", "ber", "accuracy", "log_loss", \
"mae", "r2"}, default="roc_auc"
        For a categorical ``s``:

        - ``"roc_auc"``: area under the ROC curve; one-vs-rest, macro-averaged
          for more than two groups. 0.5 means no leakage, 1 full leakage.
        - ``"balanced_accuracy"``: chance level is ``1/k`` for ``k`` groups.
        - ``"ber"``: balanced error rate, see :func:`balanced_error_rate`;
          chance level ``1 - 1/k``, so larger means *less* leakage.
        - ``"accuracy"``: chance level is the largest group's share.
        - ``"log_loss"``: ``H(s) - CE`` in nats (natural log), where ``CE``
          is the probe's mean out-of-fold cross-entropy (log loss) and
          ``H(s)`` the empirical entropy of the group shares of ``s``, which
          is the cross-entropy of the best constant predictor. Larger means
          *more* leakage: 0 means no leakage, ``H(s)`` (at most ``log k``)
          full leakage. This is the leakage measure of the ENG attack
          (Liu et al., ICLR 2024; :class:`~skfrl.attacks.PoisonGenerator`),
          the binary cross-entropy of a classifier predicting ``s`` from
          ``Z``, shifted so that chance level is 0 and signed so that larger
          means more leakage, like the other metrics. Probabilities are
          clipped to ``[1e-15, 1 - 1e-15]``, as
          :func:`~sklearn.metrics.log_loss` used to, so the value is always
          finite. It can be negative: slightly when ``Z`` carries no
          information on ``s``, much more for a probe that overfits with
          confident wrong predictions, since a probe fitted on other folds
          can do worse than the constant predictor. Apart from the
          probability clipping, it is :func:`mutual_information_lower_bound`
          before that function clips at 0.

        For a continuous ``s``:

        - ``"mae"``: mean absolute error; larger means less leakage.
        - ``"r2"``: coefficient of determination; 0 means no leakage.

        .. versionchanged:: 0.1
           Added ``"log_loss"``.
    cv : int or cross-validation splitter, default=5
        An int gives ``StratifiedKFold(cv, shuffle=True)`` on ``s`` for a
        categorical ``s`` (every group needs at least ``cv`` samples), or
        ``KFold(cv, shuffle=True)`` for a continuous one.
    random_state : int, RandomState instance or None, default=None
        Seeds the fold shuffling when ``cv`` is an int, and, for a probe
        name, the probes of :func:`probe_family` (drawn after the folds).
        With ``None`` both come from NumPy's global random state.
    n_jobs : int, default=None
        Folds fitted in parallel, as in
        :func:`~sklearn.model_selection.cross_val_predict`.

    Returns
    -------
    float
        The metric on the out-of-fold predictions. Out-of-fold scores can
        fall slightly on the wrong side of chance level (e.g. an AUC of 0.49,
        or a negative ``"log_loss"`` value) when ``Z`` carries no information
        on ``s``.

    Raises
    ------
    ValueError
        For an unknown metric, a metric that does not fit the kind of ``s``,
        NaN in ``Z`` or ``s``, a length mismatch, a single group, a group
        with fewer than ``cv`` samples, an unknown probe name, a probe that
        does not fit the kind of ``s``, or a probe without the method the
        metric needs.

    See Also
    --------
    fld_score : Probe-free linear separability.
    leakage_by_probe : Leakage measured by each probe of a family.
    mutual_information_lower_bound : Leakage in nats, clipped at 0.
    make_leakage_scorer : The same as a scorer for model selection.

    Examples
    --------
    >>> import numpy as np
    >>> from skfrl.metrics import representation_leakage
    >>> rng = np.random.default_rng(0)
    >>> s = rng.integers(0, 2, size=400)
    >>> Z = rng.normal(size=(400, 3))
    >>> Z[:, 0] += 3 * s  # plant s in the first component
    >>> representation_leakage(Z, s, random_state=0) > 0.9
    True
    >>> representation_leakage(Z[:, 1:], s, random_state=0) < 0.6
    True

    The ``"log_loss"`` leakage is in nats, between about 0 and ``log 2`` here.

    >>> leak = representation_leakage(Z, s, metric="log_loss", random_state=0)
    >>> bool(0.3 < leak <= np.log(2))
    True
    >>> none = representation_leakage(Z[:, 1:], s, metric="log_loss", random_state=0)
    >>> bool(abs(none) < 0.05)  # no leakage: about 0, maybe slightly negative
    True

    A linear probe misses ``s`` when it sets the radius of a ring; the
    worst case over the probe family finds it.

    >>> s = rng.integers(0, 2, size=300)
    >>> angle = rng.uniform(0, 2 * np.pi, size=300)
    >>> ring = (1 + s)[:, None] * np.c_[np.cos(angle), np.sin(angle)]
    >>> representation_leakage(ring, s, random_state=0) < 0.6
    True
    >>> representation_leakage(ring, s, probe="worst", random_state=0) > 0.9
    True
    """
    Z, values, attr = _check_leakage_inputs(Z, s, metric)
    splitter = _check_cv(
        cv, values if attr.kind == "categorical" else None, attr, random_state
    )
    if isinstance(probe, str):
        # Whether the name fits the kind of s: no constraint relates the two.
        names = _check_probe_name(probe, attr.kind)
        leakage = _leakage_by_probe(
            {name: name for name in names},
            Z,
            values,
            attr,
            metric,
            splitter,
            random_state,
            n_jobs,
        )
        return _worst_case(leakage.values(), metric)
    probe = _check_probe(probe, attr.kind)
    return _probe_leakage(probe, Z, values, attr, metric, splitter, n_jobs)


@validate_params(
    {
        "Z": ["array-like"],
        "s": ["array-like"],
        "metric": METRIC_CONSTRAINT,
        "probes": [Mapping, "array-like", None],
        "cv": ["cv_object"],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
    },
    prefer_skip_nested_validation=False,
)
def leakage_by_probe(
    Z: ArrayLike,
    s: ArrayLike,
    *,
    metric: str = "roc_auc",
    probes=None,
    cv=5,
    random_state=None,
    n_jobs: int | None = None,
) -> dict:
    """Leakage of ``s`` from ``Z`` measured by several probes, and the worst.

    Every probe is cross-validated as in :func:`representation_leakage`, on
    the same folds, and the result holds each probe's value and, under
    ``"worst"``, the most leaking of them: the largest value, or the
    smallest for ``"ber"`` and ``"mae"``, where smaller means more leakage.
    A linear probe can find no leakage where a non-linear one finds some,
    so the worst case is the safer measure;
    ``representation_leakage(Z, s, probe="worst")`` returns it alone. Being
    the most leaking of several noisy estimates, it sits a little on the
    leaking side of chance level when ``Z`` carries no information on ``s``
    (e.g. an AUC of 0.51 where each probe scores about 0.5).

    .. versionadded:: 0.1

    Parameters
    ----------
    Z : array-like of shape (n_samples, n_components)
        Representation. Never modified.
    s : array-like of shape (n_samples,)
        One sensitive attribute: categorical for the classification metrics,
        numeric for ``"mae"`` and ``"r2"`` (then treated as continuous).
    metric : {"roc_auc", "balanced_accuracy", "ber", "accuracy", "log_loss", \
"mae", "r2"}, default="roc_auc"
        Leakage measure, see :func:`representation_leakage`.
    probes : sequence of str, or dict of str to estimator or str, default=None
        ``None``: every probe of :func:`probe_family` for the kind of ``s``,
        ``("logistic", "mlp", "hgb")`` for a categorical ``s`` or
        ``("ridge", "mlp", "hgb")`` for a continuous one. A sequence names
        some of them. A dict maps labels to family names or to unfitted
        estimators (cloned, as ``probe`` of :func:`representation_leakage`),
        e.g. to add a probe of one's own; no label may be ``"worst"``.
    cv : int or cross-validation splitter, default=5
        An int gives ``StratifiedKFold(cv, shuffle=True)`` on ``s`` for a
        categorical ``s``, or ``KFold(cv, shuffle=True)`` for a continuous
        one. Its splits are drawn once and shared by every probe.
    random_state : int, RandomState instance or None, default=None
        Seeds the fold shuffling when ``cv`` is an int, then the probes of
        :func:`probe_family`. With ``None`` both come from NumPy's global
        random state. The same ``random_state`` gives the values of
        ``representation_leakage(Z, s, probe=name, random_state=...)``.
    n_jobs : int, default=None
        Folds fitted in parallel, as in
        :func:`~sklearn.model_selection.cross_val_predict`.

    Returns
    -------
    dict of str to float
        Each probe's leakage under its name or label, in the order of
        ``probes``, then ``"worst"``.

    Raises
    ------
    ValueError
        As :func:`representation_leakage`; also for no probes, an unknown
        probe name, ``"worst"`` among the probes, or a probe that does not
        fit the kind of ``s``.

    See Also
    --------
    probe_family : The probes.
    representation_leakage : Leakage measured by one probe, or the worst case.

    Examples
    --------
    >>> import numpy as np
    >>> from skfrl.metrics import leakage_by_probe
    >>> rng = np.random.default_rng(0)
    >>> s = rng.integers(0, 2, size=300)
    >>> angle = rng.uniform(0, 2 * np.pi, size=300)
    >>> Z = (1 + s)[:, None] * np.c_[np.cos(angle), np.sin(angle)]
    >>> leakage = leakage_by_probe(Z, s, random_state=0)
    >>> list(leakage)
    ['logistic', 'mlp', 'hgb', 'worst']
    >>> bool(leakage["logistic"] < 0.6 and leakage["worst"] > 0.9)
    True
    >>> leakage["worst"] == max(leakage["logistic"], leakage["mlp"], leakage["hgb"])
    True
    """
    if probes is not None:
        probes = _check_probes_argument(probes)
    Z, values, attr = _check_leakage_inputs(Z, s, metric)
    splitter = _check_cv(
        cv, values if attr.kind == "categorical" else None, attr, random_state
    )
    if probes is None:
        probes = {name: name for name in PROBE_FAMILY[attr.kind]}
    for probe in probes.values():
        if isinstance(probe, str):
            _check_probe_name(probe, attr.kind)
    leakage = _leakage_by_probe(
        probes, Z, values, attr, metric, splitter, random_state, n_jobs
    )
    leakage[WORST_PROBE] = _worst_case(leakage.values(), metric)
    return leakage


def _check_probes_argument(probes) -> dict:
    """``probes`` of :func:`leakage_by_probe` as a dict label -> name/estimator.

    Its type is the decorator's; its items stay checked here (no constraint
    describes a list of names or a dict of labelled probes).
    """
    if isinstance(probes, Mapping):
        probes = dict(probes)
    else:
        probes = {name: name for name in probes}
    if not probes:
        raise ValueError("probes must name at least one probe.")
    for label, probe in probes.items():
        if label == WORST_PROBE:
            raise ValueError(
                f"{WORST_PROBE!r} cannot label a probe of probes: it is the key "
                "of the worst case in the result."
            )
        if isinstance(probe, str):
            _check_probe_name(probe)
        elif not isinstance(label, str):
            raise TypeError(f"probe labels must be str, got {label!r}.")
    return probes


@validate_params(
    {
        "Z": ["array-like"],
        "s": ["array-like"],
        "probe": PROBE_CONSTRAINT,
        "cv": ["cv_object"],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
    },
    prefer_skip_nested_validation=False,
)
def mutual_information_lower_bound(
    Z: ArrayLike,
    s: ArrayLike,
    *,
    probe=None,
    cv=5,
    random_state=None,
    n_jobs: int | None = None,
) -> float:
    r"""Variational lower bound on the mutual information ``I(Z; s)``, in nats.

    Computes :math:`\max(0, H(s) - \mathrm{CE})`, where :math:`H(s)` is the
    empirical entropy of ``s`` and :math:`\mathrm{CE}` the cross-validated
    cross-entropy (log loss) of a probe :math:`q(s \mid Z)`.

    Why it is a lower bound (Barber and Agakov, 2003): for any conditional
    distribution :math:`q`,
    :math:`I(Z; s) = H(s) - H(s \mid Z) \ge H(s) + \mathbb{E}[\log q(s \mid Z)]`,
    because the gap is :math:`\mathbb{E}_Z\,\mathrm{KL}(p(s \mid Z) \,\|\,
    q(s \mid Z)) \ge 0`. The held-out log loss estimates
    :math:`-\mathbb{E}[\log q(s \mid Z)]` without the optimism of an
    in-sample fit; a better probe gives a tighter bound. A probe worse than
    predicting the group shares gives a negative difference, clipped to 0
    since mutual information is non-negative. Being an estimate, the value
    carries sampling noise of its own.

    .. versionadded:: 0.1

    Parameters
    ----------
    Z : array-like of shape (n_samples, n_components)
        Representation. Never modified.
    s : array-like of shape (n_samples,)
        One categorical sensitive attribute.
    probe : classifier or {"logistic", "mlp", "hgb", "worst"}, default=None
        Unfitted classifier with ``predict_proba``; it is cloned. ``None``
        uses ``make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))``.
        A name picks a probe of :func:`probe_family`; ``"worst"`` takes the
        largest bound over the family, a better probe giving a tighter bound.

        .. versionchanged:: 0.1
           Added the probe names.
    cv : int or cross-validation splitter, default=5
        An int gives ``StratifiedKFold(cv, shuffle=True)`` on ``s``.
    random_state : int, RandomState instance or None, default=None
        Seeds the fold shuffling when ``cv`` is an int, and, for a probe
        name, the probes of :func:`probe_family` (drawn after the folds).
    n_jobs : int, default=None
        Folds fitted in parallel.

    Returns
    -------
    float
        Lower bound in nats, between 0 and :math:`H(s) \le \log k`.

    Examples
    --------
    >>> import numpy as np
    >>> from skfrl.metrics import mutual_information_lower_bound
    >>> rng = np.random.default_rng(0)
    >>> s = rng.integers(0, 2, size=400)
    >>> Z = rng.normal(size=(400, 2)) + 4 * s[:, None]
    >>> mi = mutual_information_lower_bound(Z, s, random_state=0)
    >>> bool(0.5 < mi <= np.log(2))
    True
    """
    if isinstance(probe, str):
        # Whether the name fits a categorical s: no constraint says that.
        names = _check_probe_name(probe, "categorical")
    Z = _check_representation(Z)
    codes, attr = _check_one_attribute(s, Z.shape[0], allow_continuous=False)
    splitter = _check_cv(cv, codes, attr, random_state)
    if isinstance(probe, str):
        bounds = _leakage_by_probe(
            {name: name for name in names},
            Z,
            codes,
            attr,
            "mi",
            splitter,
            random_state,
            n_jobs,
        )
        return max(_worst_case(bounds.values(), "mi"), 0.0)
    probe = _check_probe(probe, "categorical")
    if not hasattr(probe, "predict_proba"):
        raise ValueError(
            f"mutual_information_lower_bound needs a probe with predict_proba; "
            f"{probe!r} has none."
        )
    return max(_probe_leakage(probe, Z, codes, attr, "mi", splitter, n_jobs), 0.0)
