"""PoisonedEstimator: poison the training data inside ``fit``."""

from __future__ import annotations

import copy

from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.utils import get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ..utils import check_fine_tune, fine_tune, fit_with_sensitive

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
    victim_training : {"retrain", "fine_tune"}, default="retrain"
        ``"retrain"``: fit a clone of ``estimator`` from scratch on clean +
        poison. ``"fine_tune"``: fit it on the clean data first
        (``clean_estimator_``), let an attack with ``victim=None`` and a
        ``prefit`` parameter craft against that model, then continue
        training a copy of it on clean + poison for ``fine_tune_epochs``
        epochs (:func:`skfrl.utils.fine_tune`).
    fine_tune_epochs : int or None, default=None
        Epochs of continued training; None: the model's ``max_epochs``.

    Attributes
    ----------
    estimator_ : estimator
        The victim fitted on the poisoned data.
    attack_ : BaseAttack
        The fitted attack (``n_poison_``, ``poison_mask_`` ...).
    clean_estimator_ : estimator
        Only with ``victim_training="fine_tune"``: the model trained on the
        clean data, which the attack targets and training continues from.

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

    def __init__(
        self, estimator, attack, *, victim_training="retrain", fine_tune_epochs=None
    ):
        self.estimator = estimator
        self.attack = attack
        self.victim_training = victim_training
        self.fine_tune_epochs = fine_tune_epochs

    def __sklearn_tags__(self):
        """The victim's tags (type, task and transformer tags), like a Pipeline.

        The attacks refuse missing values and sparse input and need ``y``.
        """
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.estimator_type = inner.estimator_type
        tags.classifier_tags = copy.deepcopy(inner.classifier_tags)
        tags.regressor_tags = copy.deepcopy(inner.regressor_tags)
        tags.transformer_tags = (
            copy.deepcopy(inner.transformer_tags)
            if hasattr(self.estimator, "transform")
            else None
        )
        tags.input_tags = copy.deepcopy(inner.input_tags)
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        tags.target_tags.required = True
        tags.non_deterministic = inner.non_deterministic
        return tags

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
        if self.victim_training not in ("retrain", "fine_tune"):
            raise ValueError(
                "victim_training must be 'retrain' or 'fine_tune', got "
                f"{self.victim_training!r}."
            )
        if self.victim_training == "fine_tune":
            check_fine_tune(
                self.estimator, self.fine_tune_epochs, input_name="fine_tune_epochs"
            )
        self.attack_ = clone(self.attack)
        if self.victim_training == "fine_tune":
            self.clean_estimator_ = fit_with_sensitive(
                clone(self.estimator), X, y, sensitive_features
            )
            params = self.attack_.get_params(deep=False)
            if params.get("victim", False) is None and "prefit" in params:
                # The attacker crafts against the clean model that continues.
                self.attack_.set_params(victim=self.clean_estimator_, prefit=True)
        X_aug, y_aug, s_aug = self.attack_.fit_resample(
            X, y, sensitive_features=sensitive_features
        )
        if self.victim_training == "fine_tune":
            self.estimator_ = fine_tune(
                self.clean_estimator_, X_aug, y_aug, s_aug, epochs=self.fine_tune_epochs
            )
        else:
            self.estimator_ = fit_with_sensitive(
                clone(self.estimator), X_aug, y_aug, s_aug
            )
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
        if sample_weight is None:
            return self.estimator_.score(X, y)
        return self.estimator_.score(X, y, sample_weight=sample_weight)
