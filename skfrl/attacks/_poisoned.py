"""PoisonedEstimator: poison the training data inside ``fit``."""

from __future__ import annotations

from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ..utils import fit_with_sensitive

__all__ = ["PoisonedEstimator"]


def _estimator_has(attr):
    def check(self):
        target = getattr(self, "estimator_", self.estimator)
        return hasattr(target, attr)

    return check


class PoisonedEstimator(MetaEstimatorMixin, BaseEstimator):
    """Fit ``estimator`` on training data poisoned by ``attack``.

    ``fit`` runs ``attack.fit_resample`` on the training data it receives and
    fits a clone of ``estimator`` on clean + poison; ``transform``,
    ``predict``, ``predict_proba`` and ``score`` delegate to it. Inside
    ``cross_validate`` or ``GridSearchCV`` only the training folds are
    poisoned and every test fold stays clean, which is how an attacked model
    is evaluated. ``sensitive_features`` is routed to ``fit`` like for any
    skfrl model.

    .. versionadded:: 0.1

    Parameters
    ----------
    estimator : estimator or Pipeline
        The victim, e.g. an FRL model or ``Pipeline(preprocessor, FRL, clf)``.
    attack : BaseAttack
        Attack applied to each training set (cloned at every ``fit``).

    Attributes
    ----------
    estimator_ : estimator
        The victim fitted on the poisoned data.
    attack_ : BaseAttack
        The fitted attack (``n_poison_``, ``poison_mask_`` ...).

    Examples
    --------
    >>> from skfrl.attacks import PoisonedEstimator, RandomPoisoning
    >>> from skfrl.datasets import make_biased_classification
    >>> from skfrl.models import AdversarialFairRepresentation
    >>> X, y, s = make_biased_classification(n_samples=200, random_state=0)
    >>> model = PoisonedEstimator(
    ...     AdversarialFairRepresentation(max_epochs=2, random_state=0),
    ...     RandomPoisoning(budget=0.1, random_state=0))
    >>> model.fit(X, y, sensitive_features=s).transform(X).shape
    (200, 8)
    >>> model.attack_.n_poison_
    20
    """

    # The leakage scorers look through this wrapper to ``estimator_``.
    _skfrl_wrapper = True

    def __init__(self, estimator, attack):
        self.estimator = estimator
        self.attack = attack

    def fit(self, X, y=None, *, sensitive_features=None):
        """Poison ``(X, y, sensitive_features)`` and fit the victim on it.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Clean training data.
        y : array-like of shape (n_samples,)
            Labels.
        sensitive_features : array-like
            Protected attribute(s), required by the attacks.

        Returns
        -------
        self : PoisonedEstimator
        """
        if sensitive_features is None:
            raise ValueError(
                "PoisonedEstimator needs sensitive_features: attacks target them."
            )
        self.attack_ = clone(self.attack)
        X_aug, y_aug, s_aug = self.attack_.fit_resample(
            X, y, sensitive_features=sensitive_features
        )
        self.estimator_ = fit_with_sensitive(clone(self.estimator), X_aug, y_aug, s_aug)
        if hasattr(self.estimator_, "classes_"):
            self.classes_ = self.estimator_.classes_
        if hasattr(self.estimator_, "n_features_in_"):
            self.n_features_in_ = self.estimator_.n_features_in_
        return self

    @available_if(_estimator_has("transform"))
    def transform(self, X):
        """Transform with the poisoned victim."""
        check_is_fitted(self)
        return self.estimator_.transform(X)

    @available_if(_estimator_has("predict"))
    def predict(self, X):
        """Predict with the poisoned victim."""
        check_is_fitted(self)
        return self.estimator_.predict(X)

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities of the poisoned victim."""
        check_is_fitted(self)
        return self.estimator_.predict_proba(X)

    @available_if(_estimator_has("score"))
    def score(self, X, y, sample_weight=None):
        """Score of the poisoned victim."""
        check_is_fitted(self)
        return self.estimator_.score(X, y)
