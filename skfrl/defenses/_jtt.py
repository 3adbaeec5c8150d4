"""Just Train Twice (Liu et al., ICML 2021): up-weight what a quick model gets wrong."""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.utils import check_random_state

from ..utils._sklearn_compat import (
    HasMethods,
    Interval,
    StrOptions,
    check_params,
)
from ._base import (
    _default_preprocessor,
    _seed_estimator,
    _set_input_features,
    _validate_xy,
)

__all__ = ["JTTReweighter"]


def _append_rows(original, idx: np.ndarray):
    """``original`` followed by copies of its rows ``idx``, same container.

    Copies of DataFrame/Series rows get fresh index labels (after the largest
    integer label, else ``"jtt_<i>"``) so that the index stays unique.
    """
    if original is None:
        return None
    if isinstance(original, pd.DataFrame | pd.Series):
        index = original.index
        m = len(idx)
        if pd.api.types.is_integer_dtype(index) and len(index):
            new_index = pd.RangeIndex(index.max() + 1, index.max() + 1 + m)
        else:
            new_index = pd.Index([f"jtt_{i}" for i in range(m)])
        extra = original.iloc[idx].set_axis(new_index, axis=0)
        return pd.concat([original, extra], axis=0)
    arr = np.asarray(original)
    return np.concatenate([arr, arr[idx]], axis=0)


class JTTReweighter(BaseEstimator):
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
    resample_indices_ : ndarray of int
        After :meth:`fit_resample`: the input row behind every output row
        (the input rows in order, then the extra copies).
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

    def _check_params(self) -> None:
        check_params(self)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

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
        if (
            self.threshold != "error"
            and self.estimator is not None
            and not hasattr(self.estimator, "predict_proba")
        ):
            raise TypeError(
                f"threshold={self.threshold} needs an estimator with "
                f"predict_proba; {type(self.estimator).__name__} has none."
            )
        X, y_arr, _ = _validate_xy(X, y, sensitive_features, name=type(self).__name__)
        _set_input_features(self, X)
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
                est.fit(X, y_arr)
        else:
            est = _seed_estimator(clone(self.estimator), rng.randint(2**31))
            est.fit(X, y_arr)
        if self.threshold == "error":
            errors = np.asarray(est.predict(X)) != y_arr
        else:
            proba = est.predict_proba(X)
            col = np.searchsorted(np.asarray(est.classes_), y_arr)
            errors = proba[np.arange(len(y_arr)), col] < self.threshold
        self.estimator_ = est
        self.error_mask_ = errors
        self.n_errors_ = int(errors.sum())
        self.sample_weight_ = np.where(errors, float(self.upweight), 1.0)
        return self

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
            copies of each error-set row, in the callers' containers
            (``s_up`` is None when ``sensitive_features`` is).
        """
        self._check_params()
        if self.output != "resample":
            raise ValueError(
                "fit_resample needs output='resample'; with output='weights' "
                "call fit and pass sample_weight_ to the final model."
            )
        self.fit(X, y, sensitive_features=sensitive_features)
        n = len(self.error_mask_)
        extra = np.repeat(
            np.flatnonzero(self.error_mask_), int(round(self.upweight)) - 1
        )
        self.resample_indices_ = np.r_[np.arange(n), extra]
        X_in = X if isinstance(X, pd.DataFrame) else np.asarray(X)
        y_in = y if isinstance(y, pd.Series) else np.asarray(y)
        return (
            _append_rows(X_in, extra),
            _append_rows(y_in, extra),
            _append_rows(sensitive_features, extra),
        )

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "error_mask_")
