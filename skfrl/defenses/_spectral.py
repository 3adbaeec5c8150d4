"""Spectral signatures (Tran, Li and Madry, NeurIPS 2018) on learned representations."""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.pipeline import Pipeline, make_pipeline

from ..utils import fill_random_state, get_representation, has_representation
from ..utils._sklearn_compat import HasMethods
from ._base import BaseSanitizer, _default_preprocessor, _fit_estimator

__all__ = ["SpectralSignatureFilter"]


def _default_representation():
    from ..models import AdversarialFairRepresentation

    return AdversarialFairRepresentation(
        n_components=8, hidden_layer_sizes=(32,), lr=1e-2, max_epochs=20
    )


class SpectralSignatureFilter(BaseSanitizer):
    """Remove rows with a large projection on the top singular vector of their class.

    Tran, Li and Madry (2018) observed that poisons leave a *spectral
    signature* in a learned representation: within the class they were
    labelled as, they are separated from the clean rows along the top
    singular vector of the centred representations. For every label ``c``
    with representations ``Z_c`` (centred on their mean), let ``v_c`` be
    the top right singular vector; a row's score is its squared projection
    ``((z - mean_c) . v_c)^2``. The scores of all classes are ranked
    together (Tran et al. remove the same share from each class instead).

    The representation comes from ``estimator`` fitted on the (suspect)
    data itself, with the sensitive features where given, as a defender
    would have to do.

    .. versionadded:: 0.1

    Parameters
    ----------
    estimator : estimator or None, default=None
        The representation model: an skfrl FRL model, a Pipeline with one
        (the output of its last FRL step is used, later steps are ignored)
        or any transformer. Cloned; a model that is not a Pipeline gets the
        default preprocessing (:func:`~skfrl.datasets.make_preprocessor`
        for DataFrames, ``StandardScaler`` for arrays) in front. None uses
        a small :class:`~skfrl.models.AdversarialFairRepresentation`
        (8 components, 20 epochs).
    contamination : float in (0, 0.5], default=0.05
        Share of rows to remove (Tran et al. remove 1.5 times the expected
        poison share).
    random_state : int, RandomState instance or None, default=None
        Seeds the model (where its ``random_state`` is None) and the
        tie-breaking.

    Attributes
    ----------
    estimator_ : estimator
        The fitted representation model.
    directions_ : dict
        Label -> top singular vector of its centred representations.
    scores_, threshold_, removed_mask_, sample_indices_, n_removed_
        See :class:`BaseSanitizer`.

    References
    ----------
    .. [1] B. Tran, J. Li and A. Madry, "Spectral Signatures in Backdoor
       Attacks", NeurIPS 2018.

    Examples
    --------
    >>> from skfrl.attacks import LabelFlipping
    >>> from skfrl.datasets import make_biased_classification
    >>> from skfrl.defenses import SpectralSignatureFilter
    >>> from skfrl.models import AdversarialFairRepresentation
    >>> X, y, s = make_biased_classification(n_samples=300, random_state=0)
    >>> attack = LabelFlipping(budget=0.05, random_state=0)
    >>> X_p, y_p, s_p = attack.fit_resample(X, y, sensitive_features=s)
    >>> model = AdversarialFairRepresentation(
    ...     n_components=4, hidden_layer_sizes=(16,), fairness_weight=0.0, lr=1e-2)
    >>> spectral = SpectralSignatureFilter(model, contamination=0.05,
    ...                                    random_state=0)
    >>> X_k, y_k, s_k = spectral.fit_resample(X_p, y_p, sensitive_features=s_p)
    >>> len(X_k), spectral.n_removed_
    (299, 16)
    >>> int((spectral.removed_mask_ & attack.poison_mask_).sum()) >= 5
    True
    """

    _parameter_constraints: dict = {
        **BaseSanitizer._parameter_constraints,
        "estimator": [HasMethods(["fit"]), None],
    }

    def __init__(self, estimator=None, *, contamination=0.05, random_state=None):
        super().__init__(contamination=contamination, random_state=random_state)
        self.estimator = estimator

    def _scores(self, X, y, S, rng):
        est = _default_representation() if self.estimator is None else self.estimator
        est = clone(est)
        if not isinstance(est, Pipeline):
            est = make_pipeline(_default_preprocessor(X), est)
        fill_random_state(est, rng.randint(2**31))
        _fit_estimator(est, X, y, S)
        if has_representation(est):
            Z = get_representation(est, X)
        elif hasattr(est, "transform"):
            Z = est.transform(X)
        else:
            raise TypeError(
                "estimator must produce a representation: an skfrl FRL model, a "
                "Pipeline with one, or a transformer; got "
                f"{type(self.estimator).__name__}."
            )
        Z = np.asarray(Z, dtype=np.float64)
        if Z.ndim != 2 or not np.all(np.isfinite(Z)):
            raise ValueError(
                "The representation must be a finite 2-D array; the model "
                "may have diverged (check its learning rate)."
            )
        self.estimator_ = est
        scores = np.zeros(len(Z))
        self.directions_ = {}
        for label in np.unique(y):
            members = np.flatnonzero(y == label)
            if len(members) < 2:
                continue
            centred = Z[members] - Z[members].mean(axis=0)
            _, _, vt = np.linalg.svd(centred, full_matrices=False)
            v = vt[0]
            # Raw squared projections: all classes live in the same Z, and
            # rescaling each class by its own spread ranked poisons lower in
            # our checks (a class holding poisons has an inflated spread).
            scores[members] = (centred @ v) ** 2
            self.directions_[label] = v
        return scores
