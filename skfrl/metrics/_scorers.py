"""Scorers that need ``sensitive_features``, with scikit-learn metadata routing."""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
)
from sklearn.utils.metadata_routing import UNCHANGED, MetadataRequest

from ..utils import check_sensitive_features, get_representation
from ..utils._sklearn_compat import ordered_options, validate_params
from ._leakage import (
    CONTINUOUS_METRICS,
    LEAKAGE_DIRECTION,
    PROBE_CONSTRAINT,
    _check_probe_name,
    fld_score,
    mutual_information_lower_bound,
    representation_leakage,
)

__all__ = ["make_fairness_scorer", "make_leakage_scorer"]

#: Sign applied to each leakage metric so that greater is better (less
#: leakage): minus its direction of leakage.
LEAKAGE_SIGNS = {
    **{metric: -direction for metric, direction in LEAKAGE_DIRECTION.items()},
    "fld": -1,
    "mi": -1,
}

_FAIRNESS_METRICS = {
    "demographic_parity_difference": (demographic_parity_difference, -1),
    "equalized_odds_difference": (equalized_odds_difference, -1),
    "demographic_parity_ratio": (demographic_parity_ratio, 1),
    "equalized_odds_ratio": (equalized_odds_ratio, 1),
}


class _SensitiveFeaturesScorer:
    """Scorer called as ``scorer(estimator, X, y=None, *, sensitive_features)``.

    Subclasses implement ``_score(estimator, X, y, sensitive_features)``
    returning the raw metric and set ``_sign``. This base class holds the
    metadata-routing state: ``sensitive_features`` is requested for ``score``
    by default, so meta-estimators route it without a ``set_score_request``
    call once routing is enabled. Only public scikit-learn API is used: a
    consumer is any object whose ``get_metadata_routing`` returns a
    :class:`~sklearn.utils.metadata_routing.MetadataRequest`.
    """

    _sign = 1

    def __init__(self) -> None:
        self._sensitive_features_request = True

    @property
    def sign(self) -> int:
        """``+1`` or ``-1``: the score is ``sign * metric``."""
        return self._sign

    def __call__(self, estimator, X, y=None, *, sensitive_features=None) -> float:
        """Score a fitted ``estimator`` on ``X``, ``y`` and ``sensitive_features``.

        Parameters
        ----------
        estimator : estimator
            Fitted estimator.
        X : array-like of shape (n_samples, n_features)
            Input data.
        y : array-like of shape (n_samples,), default=None
            Targets, where the metric needs them.
        sensitive_features : array-like of shape (n_samples,) or \
(n_samples, n_attributes)
            Sensitive attribute(s) of the rows of ``X``. Required.

        Returns
        -------
        float
            Score, greater is better.
        """
        if sensitive_features is None:
            raise ValueError(
                f"{self!r} needs sensitive_features. Call it as "
                "scorer(estimator, X, y, sensitive_features=s); inside GridSearchCV, "
                "cross_validate and other meta-estimators, enable metadata routing "
                "with sklearn.set_config(enable_metadata_routing=True) and pass "
                "sensitive_features=s to fit (or params={'sensitive_features': s} "
                "to cross_validate)."
            )
        score = self._sign * float(self._score(estimator, X, y, sensitive_features))
        # Adding 0.0 turns a negated zero into 0.0, so no "-0.0" shows up.
        return score + 0.0

    def _score(self, estimator, X, y, sensitive_features) -> float:
        raise NotImplementedError

    def get_metadata_routing(self) -> MetadataRequest:
        """Get the metadata routing of this scorer.

        Returns
        -------
        MetadataRequest
            Requests ``sensitive_features`` for ``score`` (unless changed by
            :meth:`set_score_request`).
        """
        request = MetadataRequest(owner=self)
        request.score.add_request(
            param="sensitive_features", alias=self._sensitive_features_request
        )
        return request

    def set_score_request(self, *, sensitive_features=UNCHANGED):
        """Set how ``sensitive_features`` is routed to this scorer.

        It is requested by default; this only matters with metadata routing
        enabled (:func:`sklearn.set_config`).

        Parameters
        ----------
        sensitive_features : bool, None or str, default=UNCHANGED
            ``True``: requested; ``False``: not requested; ``None``: error if
            passed; a str: take the metadata passed under that name (an
            alias), e.g. ``"s_test"``.

        Returns
        -------
        self
            The scorer, for chaining.
        """
        if sensitive_features is UNCHANGED:
            return self
        # add_request validates the value (bool, None or an identifier).
        MetadataRequest(owner=self).score.add_request(
            param="sensitive_features", alias=sensitive_features
        )
        self._sensitive_features_request = sensitive_features
        return self

    def _accept_sample_weight(self) -> bool:
        # scikit-learn's search and multimetric code asks every scorer this
        # when fit receives sample_weight without routing; these scorers
        # ignore sample weights, which it then warns about.
        return False

    def _repr_args(self) -> list[str]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{self._factory}({', '.join(self._repr_args())})"


class _LeakageScorer(_SensitiveFeaturesScorer):
    _factory = "make_leakage_scorer"

    def __init__(self, metric, probe, cv, random_state, n_jobs, attribute=None):
        super().__init__()
        self.attribute = attribute
        self.metric = metric
        self.probe = probe
        self.cv = cv
        self.random_state = random_state
        self.n_jobs = n_jobs
        self._sign = LEAKAGE_SIGNS[metric]

    def _score(self, estimator, X, y, sensitive_features):
        Z = get_representation(estimator, X)
        columns = _attribute_columns(sensitive_features, self.attribute)
        if len(columns) == 1:
            return self._leakage(Z, columns[0])
        # Several attributes: report the most leaking one, the lowest score,
        # so a search that maximises the score protects every attribute.
        return min(
            (self._leakage(Z, col) for col in columns), key=lambda v: self._sign * v
        )

    def _leakage(self, Z, sensitive_features):
        if self.metric == "fld":
            return fld_score(Z, sensitive_features)
        if self.metric == "mi":
            return mutual_information_lower_bound(
                Z,
                sensitive_features,
                probe=self.probe,
                cv=self.cv,
                random_state=self.random_state,
                n_jobs=self.n_jobs,
            )
        return representation_leakage(
            Z,
            sensitive_features,
            probe=self.probe,
            metric=self.metric,
            cv=self.cv,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
        )

    def _repr_args(self):
        args = [f"metric={self.metric!r}"]
        for name, default in [
            ("probe", None),
            ("cv", 5),
            ("random_state", None),
            ("n_jobs", None),
            ("attribute", None),
        ]:
            value = getattr(self, name)
            if value is not default and value != default:
                args.append(f"{name}={value!r}")
        return args


def _attribute_columns(sensitive_features, attribute) -> list:
    """One column per sensitive attribute, or the one ``attribute`` names."""
    if isinstance(sensitive_features, pd.DataFrame):
        frame = sensitive_features
    else:
        arr = np.asarray(sensitive_features)
        if arr.ndim != 2:
            if attribute not in (None, 0):
                raise ValueError(
                    f"attribute={attribute!r} was given but sensitive_features "
                    "holds a single attribute."
                )
            return [sensitive_features]
        frame = pd.DataFrame(arr)
    if attribute is None:
        return [frame.iloc[:, j] for j in range(frame.shape[1])]
    if attribute in frame.columns:
        return [frame[attribute]]
    if isinstance(attribute, numbers.Integral) and 0 <= attribute < frame.shape[1]:
        return [frame.iloc[:, int(attribute)]]
    raise ValueError(
        f"attribute={attribute!r} is not a column of sensitive_features; its "
        f"columns are {list(frame.columns)}."
    )


@validate_params(
    {
        "metric": [ordered_options(LEAKAGE_SIGNS)],
        "probe": PROBE_CONSTRAINT,
        "cv": ["cv_object"],
        "random_state": ["random_state"],
        "n_jobs": [numbers.Integral, None],
        "attribute": [str, numbers.Integral, None],
    },
    prefer_skip_nested_validation=True,
)
def make_leakage_scorer(
    metric: str = "roc_auc",
    *,
    probe=None,
    cv=5,
    random_state=None,
    n_jobs: int | None = None,
    attribute=None,
):
    """Make a scorer of how much a fitted model's representation leaks ``s``.

    The scorer is called as ``scorer(estimator, X, y=None,
    sensitive_features=s)``. It takes the representation ``Z`` of ``X`` from

    - a fitted skfrl FRL model (see :func:`skfrl.utils.is_fair_representation`):
      ``estimator.transform(X)``;
    - a fitted :class:`~sklearn.pipeline.Pipeline` with an FRL step, last or
      followed by downstream steps such as a classifier: the pipeline's
      transform up to and including its last FRL step,

    and scores the leakage of ``s`` from ``Z``; ``y`` is ignored. Any other
    estimator raises ``TypeError``.

    Scores follow scikit-learn's convention, greater is better (here: less
    leakage), so metrics that grow with leakage are negated, as scikit-learn's
    ``neg_*`` scorers are:

    =======================  ==========================  =============  ==========
    ``metric``               raw metric                  no leakage     score
    =======================  ==========================  =============  ==========
    ``"roc_auc"``            probe ROC AUC               0.5            ``-AUC``
    ``"balanced_accuracy"``  probe balanced accuracy     ``1/k``        ``-value``
    ``"accuracy"``           probe accuracy              largest share  ``-value``
    ``"ber"``                probe balanced error rate   ``1 - 1/k``    ``+value``
    ``"log_loss"``           H(s) - probe log loss       0              ``-value``
    ``"mae"``                probe mean absolute error   large          ``+value``
    ``"r2"``                 probe R^2                   0              ``-value``
    ``"fld"``                :func:`fld_score`           0              ``-value``
    ``"mi"``                 MI lower bound (nats)       0              ``-value``
    =======================  ==========================  =============  ==========

    (``k`` is the number of groups; "largest share" is the largest group's
    share of the samples.)

    ``"log_loss"`` is the leakage of :func:`representation_leakage` in nats,
    ``H(s) - CE`` with ``CE`` the probe's out-of-fold cross-entropy, which
    grows with leakage, so the score is ``CE - H(s)``: 0 for no leakage,
    ``-H(s)`` for full leakage, possibly slightly positive for an overfitting
    probe. It is not scikit-learn's ``"neg_log_loss"``, which scores how well
    a classifier predicts ``y``.

    ``scorer.sign`` holds the sign, so ``scorer.sign * score`` recovers the
    raw metric.

    With metadata routing enabled (``sklearn.set_config(enable_metadata_routing=
    True)``) the scorer requests ``sensitive_features`` by default, so it works
    in ``GridSearchCV(..., scoring=scorer)``, in ``scoring={...}`` dicts and in
    ``cross_validate(..., params={"sensitive_features": s})``, which pass each
    test fold's ``s``. ``scorer.set_score_request(sensitive_features=...)``
    changes the request, e.g. to an alias.

    .. versionadded:: 0.1

    Parameters
    ----------
    metric : {"roc_auc", "balanced_accuracy", "accuracy", "ber", "log_loss", \
"mae", "r2", "fld", "mi"}, default="roc_auc"
        Leakage measure. The probe metrics are those of
        :func:`representation_leakage` (``"mae"`` and ``"r2"`` for a
        continuous ``s``); ``"fld"`` is :func:`fld_score` (no probe) and
        ``"mi"`` :func:`mutual_information_lower_bound`.

        .. versionchanged:: 0.1
           Added ``"log_loss"``.
    probe : estimator or {"logistic", "ridge", "mlp", "hgb", "worst"}, \
default=None
        Probe of :func:`representation_leakage`; ``None`` for its default.
        A name picks a probe of :func:`probe_family`, seeded from
        ``random_state`` at each call; ``"worst"`` scores the most leaking
        probe of the family (``"ridge"`` needs ``"mae"`` or ``"r2"``,
        ``"logistic"`` one of the other metrics). Not used by ``"fld"``;
        ``"log_loss"`` and ``"mi"`` need one with ``predict_proba``.

        .. versionchanged:: 0.1
           Added the probe names.
    cv : int or cross-validation splitter, default=5
        Folds of the probe within each scored set.
    random_state : int, RandomState instance or None, default=None
        Seeds the probe's fold shuffling and the probes named by ``probe``.
    n_jobs : int, default=None
        Probe folds fitted in parallel.
    attribute : str, int or None, default=None
        With several sensitive attributes (a DataFrame or 2-D array, as
        multi-attribute models are fitted with), the column name or position
        to score. ``None`` scores every attribute and returns the worst
        (most leaking) score.

    Returns
    -------
    scorer : callable
        Object with ``scorer(estimator, X, y=None, *, sensitive_features)``,
        ``get_metadata_routing()``, ``set_score_request()`` and ``sign``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.decomposition import PCA
    >>> from skfrl.metrics import make_leakage_scorer
    >>> class PCARepresentation(PCA):
    ...     _skfrl_representation = True  # how skfrl FRL models are recognised
    >>> rng = np.random.default_rng(0)
    >>> s = rng.integers(0, 2, size=300)
    >>> X = rng.normal(size=(300, 4)) + 2 * s[:, None]
    >>> frl = PCARepresentation(n_components=2).fit(X)
    >>> scorer = make_leakage_scorer("roc_auc", random_state=0)
    >>> scorer
    make_leakage_scorer(metric='roc_auc', random_state=0)
    >>> scorer(frl, X, sensitive_features=s) < -0.9  # minus the AUC
    True

    The worst case over the probes of :func:`probe_family`:

    >>> worst = make_leakage_scorer(probe="worst", cv=3, random_state=0)
    >>> worst
    make_leakage_scorer(metric='roc_auc', probe='worst', cv=3, random_state=0)
    >>> worst(frl, X, sensitive_features=s) < -0.9
    True
    """
    # How probe and metric go together: no constraint relates two parameters.
    if metric == "fld" and probe is not None:
        raise ValueError("metric='fld' uses no probe; leave probe=None.")
    if isinstance(probe, str):
        # The family's classifiers all have predict_proba.
        _check_probe_name(
            probe, "continuous" if metric in CONTINUOUS_METRICS else "categorical"
        )
    elif (
        metric in ("mi", "log_loss")
        and probe is not None
        and not hasattr(probe, "predict_proba")
    ):
        raise ValueError(
            f"metric={metric!r} needs a probe with predict_proba, got {probe!r}."
        )
    return _LeakageScorer(metric, probe, cv, random_state, n_jobs, attribute)


class _FairnessScorer(_SensitiveFeaturesScorer):
    _factory = "make_fairness_scorer"

    def __init__(self, metric, response_method, kwargs):
        super().__init__()
        self.metric = metric
        self.response_method = response_method
        self.kwargs = kwargs
        self._func, self._sign = _FAIRNESS_METRICS[metric]

    def _score(self, estimator, X, y, sensitive_features):
        predict = getattr(estimator, self.response_method, None)
        if predict is None:
            raise TypeError(
                f"{self!r} needs an estimator with {self.response_method}(); "
                f"{type(estimator).__name__} has none. For a representation "
                "model, score a Pipeline(frl_model, classifier) instead."
            )
        y_pred = np.asarray(predict(X))
        values, _ = check_sensitive_features(
            sensitive_features, n_samples=len(y_pred), allow_continuous=False
        )
        groups = values[0] if len(values) == 1 else np.column_stack(values)
        if y is None:
            if self.metric.startswith("equalized_odds"):
                raise ValueError(f"{self!r} needs y (true labels); got y=None.")
            # Demographic parity ignores y_true, but fairlearn still wants one.
            y = y_pred
        return self._func(y, y_pred, sensitive_features=groups, **self.kwargs)

    def _repr_args(self):
        args = [f"metric={self.metric!r}"]
        if self.response_method != "predict":
            args.append(f"response_method={self.response_method!r}")
        args.extend(f"{k}={v!r}" for k, v in self.kwargs.items())
        return args


@validate_params(
    {"metric": [ordered_options(_FAIRNESS_METRICS)], "response_method": [str]},
    prefer_skip_nested_validation=True,
)
def make_fairness_scorer(
    metric: str = "demographic_parity_difference",
    *,
    response_method: str = "predict",
    **kwargs,
):
    """Make a scorer of the fairness of a fitted model's predictions.

    The scorer is called as ``scorer(estimator, X, y, sensitive_features=s)``;
    it predicts with ``getattr(estimator, response_method)(X)`` and applies
    the :mod:`fairlearn.metrics` function ``metric`` to ``y``, the predictions
    and ``s``. Several attributes (a 2-D ``s``) are crossed into intersectional
    groups, as fairlearn does.

    Scores follow scikit-learn's convention, greater is better (fairer):

    ===================================  ===========  ==========
    ``metric``                           fair value   score
    ===================================  ===========  ==========
    ``"demographic_parity_difference"``  0            ``-value``
    ``"equalized_odds_difference"``      0            ``-value``
    ``"demographic_parity_ratio"``       1            ``+value``
    ``"equalized_odds_ratio"``           1            ``+value``
    ===================================  ===========  ==========

    Metadata routing works as for :func:`make_leakage_scorer`:
    ``sensitive_features`` is requested by default.

    .. versionadded:: 0.1

    Parameters
    ----------
    metric : str, default="demographic_parity_difference"
        One of the four fairlearn metrics above.
    response_method : str, default="predict"
        Name of the estimator's method that returns predicted labels.
    **kwargs
        Passed to the fairlearn metric, e.g. ``method="to_overall"`` or
        ``agg="mean"``.

    Returns
    -------
    scorer : callable
        Object with ``scorer(estimator, X, y=None, *, sensitive_features)``,
        ``get_metadata_routing()``, ``set_score_request()`` and ``sign``.
        ``y`` may be omitted for demographic parity only.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.dummy import DummyClassifier
    >>> from skfrl.metrics import make_fairness_scorer
    >>> X = np.zeros((4, 1))
    >>> y = np.array([1, 1, 0, 0])
    >>> clf = DummyClassifier(strategy="constant", constant=1).fit(X, y)
    >>> scorer = make_fairness_scorer("demographic_parity_difference")
    >>> scorer
    make_fairness_scorer(metric='demographic_parity_difference')
    >>> scorer(clf, X, y, sensitive_features=["a", "a", "b", "b"])
    0.0
    """
    return _FairnessScorer(metric, response_method, kwargs)
