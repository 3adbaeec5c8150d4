"""k-nearest-neighbour consistency filter (label sanitisation)."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.neighbors import NearestNeighbors

from ..utils import check_sensitive_features
from ..utils._sklearn_compat import HasMethods, Interval, StrOptions
from ._base import BaseSanitizer, _encode

__all__ = ["KNNConsistencyFilter"]


def _group_codes(S) -> np.ndarray:
    """One integer per row for the joint group over all sensitive attributes."""
    values, attrs = check_sensitive_features(S)
    continuous = [a.name for a in attrs if a.kind != "categorical"]
    if continuous:
        raise ValueError(
            f"on='group' needs categorical sensitive attributes; {continuous} "
            "are continuous."
        )
    return np.unique(np.column_stack(values), axis=0, return_inverse=True)[1].ravel()


def _neighbours(E: np.ndarray, n_neighbors: int, chunk_size: int) -> np.ndarray:
    """Indices of each row's ``n_neighbors`` nearest other rows.

    Queried ``chunk_size`` rows at a time, so at most ``chunk_size x n``
    distances exist at once.
    """
    n = len(E)
    nn = NearestNeighbors(n_neighbors=n_neighbors + 1).fit(E)
    out = np.empty((n, n_neighbors), dtype=np.intp)
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        idx = nn.kneighbors(E[start:stop], return_distance=False)
        # A row is normally its own nearest neighbour, but exact duplicates
        # may push it out of the first slot (or out of the list): drop it
        # wherever it is, else drop the farthest neighbour.
        not_self = idx != np.arange(start, stop)[:, None]
        order = np.argsort(~not_self, axis=1, kind="stable")
        out[start:stop] = np.take_along_axis(idx, order, axis=1)[:, :n_neighbors]
    return out


class KNNConsistencyFilter(BaseSanitizer):
    """Remove rows whose label (or group) disagrees with their neighbours.

    Each row's ``n_neighbors`` nearest other rows are found in the
    preprocessed numeric space; its score is the share of them whose label
    (``on="label"``, Paudice et al. 2018), sensitive group (``"group"``) or
    either (``"both"``: the mean of the two shares) differs from its own.
    Label-flipped and anchoring poisons sit among rows of the other label,
    so they score high; so, however, do legitimate rows of a minority in a
    region dominated by another group or label.

    Neighbours are queried ``chunk_size`` rows at a time, so memory grows
    linearly with the number of rows (no ``n x n`` distance matrix).

    .. versionadded:: 0.1

    Parameters
    ----------
    n_neighbors : int, default=10
        Neighbours per row (excluding the row itself).
    contamination : float in (0, 0.5] or "auto", default=0.05
        Share of rows to remove, or ``"auto"``: remove the rows whose
        neighbours mostly disagree (score above 0.5).
    on : {"label", "group", "both"}, default="label"
        What must agree; ``"group"`` and ``"both"`` need categorical
        ``sensitive_features`` (several attributes form joint groups).
    preprocessor : transformer or None, default=None
        Maps ``X`` to numbers (cloned and fitted on the data). None uses
        :func:`~skfrl.datasets.make_preprocessor` for DataFrames and a
        ``StandardScaler`` for arrays.
    chunk_size : int, default=1024
        Rows per neighbour query (memory ``chunk_size x n_samples``).
    random_state : int, RandomState instance or None, default=None
        Breaks ties between equal scores.

    Attributes
    ----------
    preprocessor_ : transformer
        The fitted preprocessor.
    scores_, threshold_, sample_indices_, removed_mask_, n_removed_
        See :class:`BaseSanitizer`.

    See Also
    --------
    LossFilter : Disagreement with a classifier instead of with neighbours.

    References
    ----------
    .. [1] A. Paudice, L. Muñoz-González and E. C. Lupu, "Label Sanitization
       against Label Flipping Poisoning Attacks", ECML PKDD workshops, 2018.

    Examples
    --------
    >>> from skfrl.attacks import LabelFlipping
    >>> from skfrl.datasets import make_biased_classification
    >>> from skfrl.defenses import KNNConsistencyFilter
    >>> X, y, s = make_biased_classification(n_samples=300, random_state=0)
    >>> attack = LabelFlipping(budget=0.05, random_state=0)
    >>> X_p, y_p, s_p = attack.fit_resample(X, y, sensitive_features=s)
    >>> knn = KNNConsistencyFilter(contamination=0.05, random_state=0)
    >>> X_k, y_k, s_k = knn.fit_resample(X_p, y_p, sensitive_features=s_p)
    >>> X_k.shape, knn.n_removed_
    ((299, 10), 16)
    >>> int((knn.removed_mask_ & attack.poison_mask_).sum()) >= 8
    True
    """

    _parameter_constraints: dict = {
        "contamination": [
            Interval(numbers.Real, 0, 0.5, closed="right"),
            StrOptions({"auto"}),
        ],
        "random_state": ["random_state"],
        "n_neighbors": [Interval(numbers.Integral, 1, None, closed="left")],
        "on": [StrOptions({"label", "group", "both"})],
        "preprocessor": [HasMethods(["fit_transform"]), None],
        "chunk_size": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        n_neighbors=10,
        *,
        contamination=0.05,
        on="label",
        preprocessor=None,
        chunk_size=1024,
        random_state=None,
    ):
        super().__init__(contamination=contamination, random_state=random_state)
        self.n_neighbors = n_neighbors
        self.on = on
        self.preprocessor = preprocessor
        self.chunk_size = chunk_size

    def _auto_threshold(self, scores):
        return 0.5

    def _scores(self, X, y, S, rng):
        n = len(X)
        if self.n_neighbors >= n:
            raise ValueError(
                f"n_neighbors={self.n_neighbors} must be smaller than the "
                f"number of samples ({n})."
            )
        if self.on != "label" and S is None:
            raise ValueError(
                f"on={self.on!r} compares sensitive groups: pass sensitive_features."
            )
        self.preprocessor_, E = _encode(self.preprocessor, X)
        idx = _neighbours(E, self.n_neighbors, self.chunk_size)
        parts = []
        if self.on in ("label", "both"):
            parts.append((y[idx] != y[:, None]).mean(axis=1))
        if self.on in ("group", "both"):
            g = _group_codes(S)
            parts.append((g[idx] != g[:, None]).mean(axis=1))
        return np.mean(parts, axis=0)
