"""Loss- and confidence-based filtering with out-of-fold predictions."""

from __future__ import annotations

import math
import numbers

import numpy as np
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, check_cv
from sklearn.pipeline import make_pipeline

from ..utils import fill_random_state
from ..utils._sklearn_compat import HasMethods, Interval, StrOptions
from ._base import BaseSanitizer, _default_preprocessor, _fit_estimator, _take

__all__ = ["LossFilter"]


def _out_of_fold_proba(estimator, X, y, S, cv, rng) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold ``predict_proba`` (as ``cross_val_predict``) and the classes.

    A loop of our own rather than ``cross_val_predict`` so that estimators
    taking ``sensitive_features`` (skfrl models, Pipelines with one) get
    them in every fold, with metadata routing enabled or not, and
    estimators that do not take them never see them.
    """
    classes = np.unique(y)
    if isinstance(cv, numbers.Integral) and not isinstance(cv, bool):
        if cv < 2:
            raise ValueError(f"cv must be at least 2, got {cv}.")
        splitter = StratifiedKFold(cv, shuffle=True, random_state=rng.randint(2**31))
    else:
        splitter = check_cv(cv, y, classifier=True)
    proba = np.full((len(y), len(classes)), np.nan)
    for train, test in splitter.split(X, y):
        est = clone(estimator)
        _fit_estimator(est, _take(X, train), y[train], _take(S, train))
        p = est.predict_proba(_take(X, test))
        cols = np.searchsorted(classes, est.classes_)
        proba[test] = 0.0
        proba[np.ix_(test, cols)] = p
    if np.isnan(proba).any():
        raise ValueError("cv must assign every row to exactly one test fold.")
    return proba, classes


class LossFilter(BaseSanitizer):
    """Remove rows a cross-validated classifier finds hard to fit.

    A classifier is fitted ``cv`` times; each row is scored by the
    out-of-fold probability the model gives its own label: its log-loss
    ``-log p(y | x)`` (``kind="loss"``) or its lack of confidence
    ``1 - p(y | x)`` (``kind="confidence"``). Both rank rows identically,
    so with a fraction ``contamination`` they remove the same rows; they
    differ in the scale of ``scores_`` and in the ``"auto"`` rule. Out-of-
    fold predictions keep a flexible model from memorising the poisons it
    is meant to find.

    Poisons with flipped labels have a high loss, but so do legitimate
    rows of a group the model fits badly: this filter is the kind that
    Panaitescu-Liess et al. (ICLR 2024) found to cut worst-group accuracy.

    .. versionadded:: 0.1

    Parameters
    ----------
    estimator : classifier or None, default=None
        Any estimator with ``predict_proba`` (cloned; fitted with
        ``sensitive_features`` where its ``fit`` takes them). None: a
        ``LogisticRegression`` after ``preprocessor``.
    contamination : float in (0, 0.5] or "auto", default=0.05
        Share of rows to remove, or ``"auto"``: rows whose own label is
        less likely than a uniform guess (``kind="loss"``: loss above
        ``log(n_classes)``) or less likely than not (``kind="confidence"``:
        ``p(y | x) < 0.5``); the two coincide for binary labels.
    kind : {"loss", "confidence"}, default="loss"
        Score scale, see above.
    cv : int or cross-validation splitter, default=3
        Folds; an int gives shuffled stratified folds seeded by
        ``random_state``.
    preprocessor : transformer or None, default=None
        Used with the default estimator only; None uses
        :func:`~skfrl.datasets.make_preprocessor` for DataFrames and a
        ``StandardScaler`` for arrays.
    random_state : int, RandomState instance or None, default=None
        Seeds the folds, the estimator (where its ``random_state`` is None)
        and the tie-breaking.

    Attributes
    ----------
    proba_own_ : ndarray of shape (n_samples,)
        Out-of-fold probability of each row's own label.
    scores_, threshold_, sample_indices_, removed_mask_, n_removed_
        See :class:`BaseSanitizer`.

    See Also
    --------
    JTTReweighter : Up-weights the same kind of rows instead of removing them.

    Examples
    --------
    >>> from skfrl.attacks import LabelFlipping
    >>> from skfrl.datasets import make_biased_classification
    >>> from skfrl.defenses import LossFilter
    >>> X, y, s = make_biased_classification(n_samples=300, random_state=0)
    >>> attack = LabelFlipping(budget=0.05, random_state=0)
    >>> X_p, y_p, s_p = attack.fit_resample(X, y, sensitive_features=s)
    >>> lf = LossFilter(contamination=0.05, random_state=0)
    >>> _ = lf.fit_resample(X_p, y_p, sensitive_features=s_p)
    >>> int((lf.removed_mask_ & attack.poison_mask_).sum()) >= 8
    True
    """

    _parameter_constraints: dict = {
        "contamination": [
            Interval(numbers.Real, 0, 0.5, closed="right"),
            StrOptions({"auto"}),
        ],
        "random_state": ["random_state"],
        "estimator": [HasMethods(["fit", "predict_proba"]), None],
        "kind": [StrOptions({"loss", "confidence"})],
        "cv": ["cv_object"],
        "preprocessor": [HasMethods(["fit_transform"]), None],
    }

    def __init__(
        self,
        estimator=None,
        *,
        contamination=0.05,
        kind="loss",
        cv=3,
        preprocessor=None,
        random_state=None,
    ):
        super().__init__(contamination=contamination, random_state=random_state)
        self.estimator = estimator
        self.kind = kind
        self.cv = cv
        self.preprocessor = preprocessor

    def _auto_threshold(self, scores):
        if self.kind == "loss":
            return math.log(self._n_classes)
        return 0.5

    def _scores(self, X, y, S, rng):
        if self.estimator is None:
            pre = (
                _default_preprocessor(X)
                if self.preprocessor is None
                else clone(self.preprocessor)
            )
            estimator = make_pipeline(pre, LogisticRegression(max_iter=1000))
        else:
            estimator = fill_random_state(clone(self.estimator), rng.randint(2**31))
        proba, classes = _out_of_fold_proba(estimator, X, y, S, self.cv, rng)
        self._n_classes = len(classes)
        p_own = proba[np.arange(len(y)), np.searchsorted(classes, y)]
        self.proba_own_ = p_own
        if self.kind == "loss":
            return -np.log(np.clip(p_own, 1e-12, 1.0))
        return 1.0 - p_own
