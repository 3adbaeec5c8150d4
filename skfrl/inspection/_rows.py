"""The rows a fitted victim's loss takes: encoded inputs with their codes."""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..utils import check_sensitive_features, sensitive_frame, split_representation
from ..utils._sklearn_compat import HasMethods, Interval, validate_params

__all__ = [
    "TrainingRows",
    "encode_inputs",
    "group_codes",
    "training_codes",
    "training_rows",
]


def _frl_step(estimator):
    """The fitted neural FRL step of ``estimator`` (a model or a Pipeline)."""
    return split_representation(
        estimator, neural=True, fitted=True, input_name="estimator"
    )[1]


@validate_params(
    {
        "y": ["array-like"],
        "sensitive_features": ["array-like", None],
        "input_name": [str],
    },
    prefer_skip_nested_validation=True,
)
def training_codes(
    estimator,
    y,
    sensitive_features,
    *,
    input_name: str = "y/sensitive_features",
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Label and sensitive codes of rows, as a fitted FRL model trained on them.

    Labels become indices into the model's ``classes_`` (models without a
    task head, whose loss ignores ``y``, get the rank of each label);
    categorical sensitive values become indices into their attribute's
    groups and continuous ones are standardised with the training mean and
    scale: the ``y``, ``s_cat`` and ``s_cont`` entries of the model's
    training batches.

    .. versionadded:: 0.1

    Parameters
    ----------
    estimator : BaseFairNet or Pipeline
        A fitted skfrl neural FRL model, or a Pipeline with one as a step.
    y : array-like of shape (n_samples,)
        Labels, in the values the model was fitted on.
    sensitive_features : array-like of shape (n_samples,) or \
(n_samples, n_attributes), or None
        One column per attribute the model was fitted with (None or no
        column for a model fitted without sensitive features).
    input_name : str, default="y/sensitive_features"
        Named in the error messages.

    Returns
    -------
    y_codes : ndarray of int64 of shape (n_samples,)
    s_cat : ndarray of int64 of shape (n_samples, n_categorical) or None
    s_cont : ndarray of float32 of shape (n_samples, n_continuous) or None

    Raises
    ------
    ValueError
        Labels or groups the model never saw, or a number of attributes
        other than the model's.

    Examples
    --------
    >>> from skfrl.datasets import make_biased_classification
    >>> from skfrl.inspection import training_codes
    >>> from skfrl.models import AdversarialFairRepresentation
    >>> X, y, s = make_biased_classification(n_samples=100, random_state=0)
    >>> victim = AdversarialFairRepresentation(max_epochs=1, random_state=0)
    >>> victim = victim.fit(X, y, sensitive_features=s)
    >>> y_codes, s_cat, s_cont = training_codes(victim, y, s)
    >>> y_codes.shape, s_cat.shape, s_cont
    ((100,), (100, 1), None)
    """
    frl = _frl_step(estimator)
    y = np.asarray(y)
    attrs = frl.sensitive_attributes_
    S = (
        pd.DataFrame(index=pd.RangeIndex(len(y)))
        if sensitive_features is None
        else sensitive_frame(sensitive_features, len(y))
    )
    if S.shape[1] != len(attrs):
        raise ValueError(
            f"{input_name} has {S.shape[1]} sensitive attribute(s) but the "
            f"victim was fitted with {len(attrs)}."
        )
    classes = getattr(frl, "classes_", None)
    if classes is not None:
        unknown = ~np.isin(y, classes)
        if unknown.any():
            raise ValueError(
                f"{input_name} holds labels the victim never saw: "
                f"{np.unique(y[unknown])[:5].tolist()}."
            )
        y_codes = np.searchsorted(classes, y)
    else:  # no task head: the loss ignores y
        y_codes = np.unique(y, return_inverse=True)[1]
    codes = frl.sensitive_encoder_.transform(S, input_name=input_name) if attrs else {}
    s_cat, s_cont = codes.get("s_cat"), codes.get("s_cont")
    return y_codes.astype(np.int64), s_cat, s_cont


@validate_params(
    {
        "values": ["array-like"],
        "attribute": [Interval(numbers.Integral, 0, None, closed="left")],
        "require_all": ["boolean"],
        "input_name": [str],
    },
    prefer_skip_nested_validation=True,
)
def group_codes(
    estimator,
    values,
    *,
    attribute: int = 0,
    require_all: bool = False,
    input_name: str = "s",
) -> np.ndarray:
    """Codes of one categorical sensitive attribute, as the model trained.

    .. versionadded:: 0.1

    Parameters
    ----------
    estimator : BaseFairNet or Pipeline
        A fitted skfrl neural FRL model, or a Pipeline with one as a step.
    values : array-like of shape (n_samples,)
        Values of the attribute.
    attribute : int, default=0
        Position of the attribute among those the model was fitted with.
    require_all : bool, default=False
        Whether every group of the attribute must occur in ``values``
        (e.g. to measure a separation between groups).
    input_name : str, default="s"
        Named in the error messages.

    Returns
    -------
    codes : ndarray of int64 of shape (n_samples,)
        Indices into the attribute's sorted groups.

    Raises
    ------
    ValueError
        ``values`` not 1-D, the attribute not categorical, groups the model
        never saw or (``require_all``) a group missing.

    Examples
    --------
    >>> from skfrl.datasets import make_biased_classification
    >>> from skfrl.inspection import group_codes
    >>> from skfrl.models import AdversarialFairRepresentation
    >>> X, y, s = make_biased_classification(n_samples=100, random_state=0)
    >>> victim = AdversarialFairRepresentation(max_epochs=1, random_state=0)
    >>> victim = victim.fit(X, y, sensitive_features=s)
    >>> group_codes(victim, [1, 0, 1]).tolist()
    [1, 0, 1]
    """
    frl = _frl_step(estimator)
    encoder = frl.sensitive_encoder_
    if encoder is None:
        raise ValueError(
            f"attribute={attribute} is not a categorical sensitive attribute of "
            "the victim (it was fitted without sensitive features)."
        )
    codes = encoder.group_codes(values, attribute, input_name=input_name)
    attr = encoder.attributes_[attribute]
    if require_all and not np.isin(np.arange(attr.n_classes), codes).all():
        raise ValueError(
            f"{input_name} must hold every group {attr.classes.tolist()} of the "
            f"victim's sensitive attribute {attr.name!r} (and no others)."
        )
    return codes


@validate_params(
    {
        "preprocessing": [HasMethods(["transform"]), None],
        "X": ["array-like"],
        "input_name": [str],
    },
    prefer_skip_nested_validation=True,
)
def encode_inputs(preprocessing, X, *, input_name: str = "X") -> np.ndarray:
    """Rows as the FRL step of a Pipeline receives them, in float32.

    ``X`` goes through the (fitted) steps before the FRL step; the result
    is densified, cast to float32 (the dtype of skfrl's modules) and made
    contiguous.

    .. versionadded:: 0.1

    Parameters
    ----------
    preprocessing : transformer or None
        The fitted steps before the FRL step (e.g. the first element
        returned by :func:`~skfrl.utils.split_representation`); None when
        ``X`` is already the FRL step's input.
    X : DataFrame or array-like of shape (n_samples, n_features)
        Raw rows.
    input_name : str, default="X"
        Named in the error messages.

    Returns
    -------
    E : ndarray of float32 of shape (n_samples, n_features_out)

    Raises
    ------
    ValueError
        ``X`` not 2-D, or non-finite values after preprocessing.

    Examples
    --------
    >>> import numpy as np
    >>> from skfrl.inspection import encode_inputs
    >>> encode_inputs(None, np.eye(2)).dtype
    dtype('float32')
    """
    if isinstance(X, pd.Series) or np.ndim(X) != 2:
        raise ValueError(f"{input_name} must be 2-D, got shape {np.shape(X)}.")
    E = preprocessing.transform(X) if preprocessing is not None else X
    if sp.issparse(E):
        E = E.toarray()
    E = np.asarray(E, dtype=np.float32)
    if not np.all(np.isfinite(E)):
        raise ValueError(f"{input_name} contains NaN or infinite values.")
    return np.ascontiguousarray(E)


@dataclass
class TrainingRows:
    """A batch of rows as a fitted FRL model's training loss takes it.

    The encoded inputs with their label and sensitive codes (see
    :func:`training_codes`); :class:`TrainingGraph` evaluates the model's
    loss and training field on such batches.

    .. versionadded:: 0.1

    Parameters
    ----------
    E : ndarray of shape (n_samples, n_features)
        Inputs of the FRL step (after any preprocessing).
    y : ndarray of int64 of shape (n_samples,)
        Label codes.
    s_cat : ndarray of int64 of shape (n_samples, n_categorical) or None
        Categorical sensitive codes.
    s_cont : ndarray of float32 of shape (n_samples, n_continuous) or None
        Standardised continuous sensitive values.

    See Also
    --------
    training_rows : The rows of raw data, validated.

    Examples
    --------
    >>> import numpy as np
    >>> from skfrl.inspection import TrainingRows
    >>> rows = TrainingRows(np.zeros((3, 2), "float32"), np.array([0, 1, 0]),
    ...                     np.array([[0], [1], [1]]), None)
    >>> len(rows), len(rows.take([0, 2])), len(rows.concat(rows))
    (3, 2, 6)
    """

    E: np.ndarray
    y: np.ndarray
    s_cat: np.ndarray | None
    s_cont: np.ndarray | None

    def __len__(self) -> int:
        return len(self.E)

    @classmethod
    def from_data(
        cls,
        estimator,
        E,
        y,
        sensitive_features,
        *,
        input_name: str = "y/sensitive_features",
    ) -> TrainingRows:
        """Rows of inputs ``E`` of the FRL step, with codes of ``y`` and ``s``.

        Parameters
        ----------
        estimator : BaseFairNet or Pipeline
            The fitted FRL model whose codes are used.
        E : ndarray of shape (n_samples, n_features)
            Inputs of the FRL step, kept as they are (dtype included).
        y : array-like of shape (n_samples,)
            Labels.
        sensitive_features : array-like or None
            One column per attribute of the model.
        input_name : str, default="y/sensitive_features"
            Named in the error messages.

        Returns
        -------
        TrainingRows

        Examples
        --------
        >>> from skfrl.datasets import make_biased_classification
        >>> from skfrl.inspection import TrainingRows
        >>> from skfrl.models import AdversarialFairRepresentation
        >>> X, y, s = make_biased_classification(n_samples=100, random_state=0)
        >>> X = X.astype("float32")
        >>> victim = AdversarialFairRepresentation(max_epochs=1, random_state=0)
        >>> victim = victim.fit(X, y, sensitive_features=s)
        >>> len(TrainingRows.from_data(victim, X, y, s))
        100
        """
        return cls(
            E, *training_codes(estimator, y, sensitive_features, input_name=input_name)
        )

    def take(self, indices) -> TrainingRows:
        """The rows at ``indices`` (an index array, a mask or a slice).

        Parameters
        ----------
        indices : array-like of int or bool, or slice

        Returns
        -------
        TrainingRows
        """
        return TrainingRows(
            self.E[indices],
            self.y[indices],
            None if self.s_cat is None else self.s_cat[indices],
            None if self.s_cont is None else self.s_cont[indices],
        )

    def concat(self, other: TrainingRows) -> TrainingRows:
        """These rows followed by ``other``'s.

        Parameters
        ----------
        other : TrainingRows
            Rows with the same entries.

        Returns
        -------
        TrainingRows
        """

        def cat(a, b):
            return None if a is None else np.concatenate([a, b])

        return TrainingRows(
            np.concatenate([self.E, other.E]),
            np.concatenate([self.y, other.y]),
            cat(self.s_cat, other.s_cat),
            cat(self.s_cont, other.s_cont),
        )


@validate_params(
    {
        "X": ["array-like"],
        "y": ["array-like"],
        "sensitive_features": ["array-like", None],
    },
    prefer_skip_nested_validation=True,
)
def training_rows(victim, X, y, *, sensitive_features=None) -> TrainingRows:
    """The training batch a fitted FRL model (or Pipeline) builds from raw data.

    ``X`` goes through the steps before the FRL step (:func:`encode_inputs`)
    and ``y`` and the sensitive features are coded as the model trained
    (:func:`training_codes`), after validation.

    .. versionadded:: 0.1

    Parameters
    ----------
    victim : BaseFairNet or Pipeline
        A fitted skfrl neural FRL model, or a fitted Pipeline
        ``[preprocessing ->] model [-> downstream]``.
    X : DataFrame or array-like of shape (n_samples, n_features)
        Raw rows, as the Pipeline receives them; at least two.
    y : array-like of shape (n_samples,)
        Labels.
    sensitive_features : array-like of shape (n_samples,) or \
(n_samples, n_attributes), default=None
        The attributes the model was fitted with.

    Returns
    -------
    TrainingRows

    Raises
    ------
    TypeError
        ``victim`` holds no skfrl neural FRL model.
    NotFittedError
        ``victim`` is not fitted.
    ValueError
        Wrong shapes, a number of features or attributes other than the
        model's, labels or groups the model never saw.

    Examples
    --------
    >>> from skfrl.datasets import make_biased_classification
    >>> from skfrl.inspection import training_rows
    >>> from skfrl.models import AdversarialFairRepresentation
    >>> X, y, s = make_biased_classification(n_samples=100, random_state=0)
    >>> victim = AdversarialFairRepresentation(max_epochs=1, random_state=0)
    >>> victim = victim.fit(X, y, sensitive_features=s)
    >>> rows = training_rows(victim, X, y, sensitive_features=s)
    >>> rows.E.dtype, rows.y.shape, rows.s_cat.shape
    (dtype('float32'), (100,), (100, 1))
    """
    pre, frl = split_representation(
        victim, neural=True, fitted=True, input_name="victim"
    )
    E = encode_inputs(pre, X, input_name="X")
    n = len(E)
    # Array contents and the victim's shapes: no constraint sees them.
    if n < 2:
        raise ValueError(f"X needs at least 2 samples, got {n}.")
    y_arr = np.asarray(y)
    if y_arr.ndim != 1 or len(y_arr) != n:
        raise ValueError(
            f"y must be 1-D with one label per row of X ({n}), got shape {y_arr.shape}."
        )
    if E.shape[1] != frl.n_features_in_:
        raise ValueError(
            f"X has {E.shape[1]} features after preprocessing but the victim "
            f"was fitted on {frl.n_features_in_}."
        )
    S = None
    if sensitive_features is not None:
        check_sensitive_features(
            sensitive_features, n_samples=n, input_name="sensitive_features"
        )
        S = sensitive_frame(sensitive_features, n)
    return TrainingRows.from_data(frl, E, y_arr, S, input_name="y/sensitive_features")
