"""Just Train Twice (Liu et al., ICML 2021): up-weight what a quick model gets wrong."""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.utils import check_random_state

from ..utils import check_X_y_s, fill_random_state
from ..utils._sklearn_compat import HasMethods, Interval, StrOptions, check_params
from ._base import _BaseResampler, _default_preprocessor, _set_input_features

__all__ = ["JTTReweighter"]


class JTTReweighter(_BaseResampler):
    """Just Train Twice: find the rows a quick model gets wrong, up-weight them.

    JTT (Liu et al., ICML 2021) improves worst-group accuracy without group
    labels: an *identification* model is trained briefly (plain ERM), its
    error set (misclassified training rows, or rows whose own label it gives
    a probability below ``threshold``) is taken as a proxy for the hard
    groups, and the final model is retrained with those rows up-weighted
    ``upweight`` times. This class does the first stage and hands over the
    weights (``fit`` -> ``sample_weight_``) or an up-sampled training set
    (``fit_resample``, for models without ``sample_weight``, such as the
    skfrl FRL models).

    Poisons are hard rows too: JTT amplifies them as much as the minority
    rows it means to help (Panaitescu-Liess et al., ICLR 2024); measure it
    with :func:`~skfrl.metrics.poison_amplification`.

    .. versionadded:: 0.1

    Parameters
    ----------
    estimator : classifier or None, default=None
        The identification model (cloned; fitted on ``(X, y)`` without
        sensitive features, as JTT assumes none). None: a
        ``LogisticRegression`` limited to 20 iterations after
        ``preprocessor`` (its convergence warning is silenced: stopping
        early is the point).
    upweight : float >= 1, default=5.0
        Weight of the error set (``lambda_up``). ``fit_resample`` repeats
        each error-set row ``round(upweight) - 1`` extra times.
    threshold : "error" or float in (0, 1), default="error"
        ``"error"``: the error set is the misclassified rows; a float: the
        rows whose own label gets a predicted probability below it (needs
        ``predict_proba``).
    output : {"weights", "resample"}, default="weights"
        What the reweighting is used as: ``"weights"`` (call :meth:`fit`
        and pass ``sample_weight_`` to the final model) or ``"resample"``
        (call :meth:`fit_resample`; it raises for ``"weights"``).
    preprocessor : transformer or None, default=None
        Used with the default estimator only; None uses
        :func:`~skfrl.datasets.make_preprocessor` for DataFrames and a
        ``StandardScaler`` for arrays.
    random_state : int, RandomState instance or None, default=None
        Seeds the identification model where its ``random_state`` is None.

    Attributes
    ----------
    estimator_ : estimator
        The fitted identification model.
    error_mask_ : ndarray of bool of shape (n_samples,)
        The error set.
    n_errors_ : int
        Its size.
    sample_weight_ : ndarray of shape (n_samples,)
        1 outside the error set, ``upweight`` inside.
    sample_indices_ : ndarray of int
        After :meth:`fit_resample`: the input row behind every output row
        (the input rows in order, then the extra copies), so that the rows
        it returns are ``X[sample_indices_]``.
    n_features_in_ : int
        Number of columns of ``X``.
    feature_names_in_ : ndarray of str
        Column names of ``X``, when it is a DataFrame with string column
        names.

    See Also
    --------
    LossFilter : Removes the same kind of rows instead of up-weighting them.

    References
    ----------
    .. [1] E. Z. Liu, B. Haghgoo, A. S. Chen, A. Raghunathan, P. W. Koh,
       S. Sagawa, P. Liang and C. Finn, "Just Train Twice: Improving Group
       Robustness without Training Group Information", ICML 2021.

    Examples
    --------
    >>> import numpy as np
    >>> from skfrl.datasets import make_biased_classification
    >>> from skfrl.defenses import JTTReweighter
    >>> X, y, s = make_biased_classification(n_samples=300, flip_y=0.1,
    ...                                      random_state=0)
    >>> jtt = JTTReweighter(upweight=3.0).fit(X, y)
    >>> bool(np.all(jtt.sample_weight_[jtt.error_mask_] == 3.0))
    True
    >>> jtt = JTTReweighter(upweight=3, output="resample")
    >>> X_up, y_up, s_up = jtt.fit_resample(X, y, sensitive_features=s)
    >>> len(X_up) == len(X) + 2 * jtt.n_errors_
    True
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict"]), None],
        "upweight": [Interval(numbers.Real, 1, None, closed="left")],
        "threshold": [
            StrOptions({"error"}),
            Interval(numbers.Real, 0, 1, closed="neither"),
        ],
        "output": [StrOptions({"weights", "resample"})],
        "preprocessor": [HasMethods(["fit_transform"]), None],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimator=None,
        *,
        upweight=5.0,
        threshold="error",
        output="weights",
        preprocessor=None,
        random_state=None,
    ):
        self.estimator = estimator
        self.upweight = upweight
        self.threshold = threshold
        self.output = output
        self.preprocessor = preprocessor
        self.random_state = random_state

    _repeat_label_prefix = "jtt_"

    def _check_params(self) -> None:
        check_params(self)
        if (
            self.threshold != "error"
            and self.estimator is not None
            and not hasattr(self.estimator, "predict_proba")
        ):
            raise TypeError(
                f"threshold={self.threshold} needs an estimator with "
                f"predict_proba; {type(self.estimator).__name__} has none."
            )

    def fit(self, X, y, *, sensitive_features=None):
        """Fit the identification model and find the error set.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Training rows (never modified).
        y : array-like of shape (n_samples,)
            Labels.
        sensitive_features : array-like, default=None
            Validated for length only: JTT does not use groups.

        Returns
        -------
        self : JTTReweighter
        """
        self._check_params()
        X, y_arr, _ = check_X_y_s(
            X, y, sensitive_features, estimator_name=type(self).__name__
        )
        _set_input_features(self, X)
        self._identify(X, y_arr)
        return self

    def _identify(self, X, y) -> None:
        """Fit the identification model on validated data; find the error set."""
        rng = check_random_state(self.random_state)
        if self.estimator is None:
            pre = (
                _default_preprocessor(X)
                if self.preprocessor is None
                else clone(self.preprocessor)
            )
            est = make_pipeline(pre, LogisticRegression(max_iter=20))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                est.fit(X, y)
        else:
            est = fill_random_state(clone(self.estimator), rng.randint(2**31))
            est.fit(X, y)
        if self.threshold == "error":
            errors = np.asarray(est.predict(X)) != y
        else:
            proba = est.predict_proba(X)
            col = np.searchsorted(np.asarray(est.classes_), y)
            errors = proba[np.arange(len(y)), col] < self.threshold
        self.estimator_ = est
        self.error_mask_ = errors
        self.n_errors_ = int(errors.sum())
        self.sample_weight_ = np.where(errors, float(self.upweight), 1.0)

    def fit_resample(self, X, y, *, sensitive_features=None):
        """Fit, then return the data with the error set repeated.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Training rows (never modified).
        y : array-like of shape (n_samples,)
            Labels.
        sensitive_features : array-like, default=None
            Protected attribute(s), carried along (not used).

        Returns
        -------
        X_up, y_up, s_up
            The input rows in order, then ``round(upweight) - 1`` extra
            copies of each error-set row (the rows ``sample_indices_``), in
            the callers' containers (``s_up`` is None when
            ``sensitive_features`` is). Copies of DataFrame and Series rows
            get fresh index labels (after the largest integer label, else
            ``"jtt_<i>"``) so that the index stays unique.
        """
        self._check_params()
        if self.output != "resample":
            raise ValueError(
                "fit_resample needs output='resample'; with output='weights' "
                "call fit and pass sample_weight_ to the final model."
            )
        return super().fit_resample(X, y, sensitive_features=sensitive_features)

    def _fit_resample(self, X, y, S) -> np.ndarray:
        self._identify(X, y)
        extra = np.repeat(
            np.flatnonzero(self.error_mask_), int(round(self.upweight)) - 1
        )
        return np.r_[np.arange(len(y)), extra]

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "error_mask_")
