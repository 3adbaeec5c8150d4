"""The valid input region of a victim, and the map between raw rows and it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

__all__ = ["FeatureSpace"]


@dataclass
class _Block:
    """Raw columns handled together and their slice of the encoded space."""

    kind: str  # "onehot", "numeric"
    columns: list  # raw column labels (names or positions)
    out: slice  # encoded columns
    categories: list = field(default_factory=list)  # onehot: one array per column
    mean: np.ndarray | None = None  # numeric: raw = encoded * scale + mean
    scale: np.ndarray | None = None


def _is_identity(step) -> bool:
    # A fitted ColumnTransformer stores "passthrough" as a FunctionTransformer
    # without a function.
    if isinstance(step, str):
        return step == "passthrough"
    return isinstance(step, FunctionTransformer) and step.func is None


def _final_step(transformer):
    return (
        transformer.steps[-1][1] if isinstance(transformer, Pipeline) else transformer
    )


class FeatureSpace:
    """Where poisons may live, and how they become realistic raw records.

    Attacks optimise in the victim's numeric input space (the *encoded*
    space: one-hot columns and scaled numerics) and decode the result into
    raw rows a data provider could submit: categories from the arg-max of
    each one-hot group, numerics un-scaled, clipped to the observed range
    and rounded where the training column holds integers only.

    The encoding is read from the victim's fitted preprocessing when there
    is one (a ``ColumnTransformer`` whose steps are ``OneHotEncoder``,
    ``StandardScaler``, ``"passthrough"`` or ``"drop"``; raw columns the
    victim drops are copied from each poison's base row), else inferred:
    numeric data are their own encoding, and a DataFrame with categorical
    columns is one-hot encoded with unscaled numerics.

    .. versionadded:: 0.1

    Parameters
    ----------
    preprocessor : ColumnTransformer or None, default=None
        A *fitted* transformer mapping raw rows to the victim's input.

    Attributes
    ----------
    n_features_out_ : int
        Dimension of the encoded space.
    lower_, upper_ : ndarray of shape (n_features_out,)
        Box of valid encoded values (observed range for numerics, [0, 1] for
        one-hot columns).
    groups_ : list of ndarray
        Encoded column indices of each one-hot group.
    integer_mask_ : ndarray of bool
        Encoded numeric columns whose raw training values are all integers.

    Examples
    --------
    >>> import pandas as pd
    >>> from skfrl.attacks import FeatureSpace
    >>> X = pd.DataFrame({"age": [25, 40, 61],
    ...                   "job": pd.Categorical(["a", "b", "a"])})
    >>> space = FeatureSpace().fit(X)
    >>> E = space.encode(X)
    >>> E.shape
    (3, 3)
    >>> E[0] = [0.2, 0.9, 70.4]  # job mostly "b", age above the range
    >>> space.decode(E)
       age job
    0   61   b
    1   40   b
    2   61   a
    """

    def __init__(self, preprocessor=None):
        self.preprocessor = preprocessor

    # -- fitting ------------------------------------------------------------
    def fit(self, X) -> FeatureSpace:
        """Learn the encoding, the valid box and the raw container format.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Raw training rows, as the victim receives them.

        Returns
        -------
        self : FeatureSpace
        """
        self._is_frame = isinstance(X, pd.DataFrame)
        if self._is_frame:
            self._columns = list(X.columns)
            self._dtypes = X.dtypes.copy()
            self._index_is_int = pd.api.types.is_integer_dtype(X.index)
        else:
            X = np.asarray(X)
            if X.ndim != 2:
                raise ValueError(f"X must be 2-D, got shape {X.shape}.")
            self._columns = list(range(X.shape[1]))
            self._dtype = X.dtype
        pre = self.preprocessor
        if (
            pre is None
            and self._is_frame
            and not all(
                pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t)
                for t in X.dtypes
            )
        ):
            from ..datasets import make_preprocessor

            pre = make_preprocessor(X, scale_numeric=False).fit(X)
        if pre is not None:
            if not isinstance(pre, ColumnTransformer):
                raise TypeError(
                    "preprocessor must be a fitted ColumnTransformer (e.g. from "
                    f"make_preprocessor), got {type(pre).__name__}."
                )
            check_is_fitted(pre, "transformers_")
        self.preprocessor_ = pre
        self._blocks = self._make_blocks(X)
        E = self.encode(X)
        self.n_features_out_ = E.shape[1]
        self.lower_ = E.min(axis=0)
        self.upper_ = E.max(axis=0)
        self.groups_ = []
        self.integer_mask_ = np.zeros(self.n_features_out_, dtype=bool)
        for block in self._blocks:
            idx = np.arange(block.out.start, block.out.stop)
            if block.kind == "onehot":
                self.lower_[idx], self.upper_[idx] = 0.0, 1.0
                start = block.out.start
                for cats in block.categories:
                    self.groups_.append(np.arange(start, start + len(cats)))
                    start += len(cats)
            else:
                raw = self._raw_numeric(X, block.columns)
                self.integer_mask_[idx] = np.all(np.mod(raw, 1) == 0, axis=0)
        return self

    def _raw_numeric(self, X, columns) -> np.ndarray:
        if self._is_frame:
            return X[columns].to_numpy(dtype=np.float64)
        return np.asarray(X[:, columns], dtype=np.float64)

    def _make_blocks(self, X) -> list[_Block]:
        pre = self.preprocessor_
        if pre is None:
            return [_Block("numeric", self._columns, slice(0, len(self._columns)))]
        blocks = []
        for name, transformer, columns in pre.transformers_:
            if transformer == "drop" or name == "remainder" and transformer == "drop":
                continue
            out = pre.output_indices_[name]
            if out.stop == out.start:
                continue
            cols = (
                list(np.asarray(self._columns)[columns])
                if not self._is_frame and (np.asarray(columns).dtype == bool)
                else list(columns)
            )
            step = _final_step(transformer)
            if isinstance(step, OneHotEncoder):
                if step.drop_idx_ is not None or getattr(
                    step, "_infrequent_enabled", False
                ):
                    raise ValueError(
                        "FeatureSpace decodes OneHotEncoder without drop= and "
                        "without infrequent-category grouping only."
                    )
                blocks.append(
                    _Block("onehot", cols, out, categories=list(step.categories_))
                )
            elif isinstance(step, StandardScaler) or _is_identity(step):
                n = out.stop - out.start
                mean = getattr(step, "mean_", None)
                scale = getattr(step, "scale_", None)
                blocks.append(
                    _Block(
                        "numeric",
                        cols,
                        out,
                        mean=np.zeros(n) if mean is None else mean,
                        scale=np.ones(n) if scale is None else scale,
                    )
                )
            else:
                raise TypeError(
                    f"FeatureSpace cannot decode the {type(step).__name__} step "
                    f"{name!r}; supported: OneHotEncoder, StandardScaler, "
                    "'passthrough' and 'drop'."
                )
        return blocks

    # -- mapping --------------------------------------------------------------
    def encode(self, X) -> np.ndarray:
        """Raw rows to the encoded space, as float64.

        Parameters
        ----------
        X : DataFrame or array-like
            Raw rows in the fitted format.

        Returns
        -------
        E : ndarray of shape (n_samples, n_features_out)
        """
        if self.preprocessor_ is None:
            if isinstance(X, pd.DataFrame):
                return X.to_numpy(dtype=np.float64)
            return np.asarray(X, dtype=np.float64)
        E = self.preprocessor_.transform(X)
        return np.asarray(E, dtype=np.float64)

    def project(self, E: np.ndarray) -> np.ndarray:
        """Clip to the valid box (one-hot columns relaxed to [0, 1]).

        Parameters
        ----------
        E : ndarray of shape (n, n_features_out)

        Returns
        -------
        ndarray
            A clipped copy.
        """
        return np.clip(E, self.lower_, self.upper_)

    def snap(self, E: np.ndarray) -> np.ndarray:
        """Make encoded rows exactly decodable (what :meth:`decode` yields).

        Parameters
        ----------
        E : ndarray of shape (n, n_features_out)

        Returns
        -------
        ndarray
            One-hot groups set to their arg-max, numerics clipped and, for
            integer columns, rounded in raw units.
        """
        E = self.project(np.asarray(E, dtype=np.float64))
        for group in self.groups_:
            winner = group[np.argmax(E[:, group], axis=1)]
            E[:, group] = 0.0
            E[np.arange(len(E)), winner] = 1.0
        for block in self._blocks:
            if block.kind != "numeric":
                continue
            idx = np.arange(block.out.start, block.out.stop)
            ints = self.integer_mask_[idx]
            if not ints.any():
                continue
            mean = 0.0 if block.mean is None else block.mean
            scale = 1.0 if block.scale is None else block.scale
            raw = E[:, idx] * scale + mean
            raw[:, ints] = np.round(raw[:, ints])
            E[:, idx] = (raw - mean) / scale
        return self.project(E)

    def decode(self, E: np.ndarray, base=None):
        """Encoded rows to raw rows in the fitted container format.

        Parameters
        ----------
        E : ndarray of shape (n, n_features_out)
            Encoded rows; snapped first, so any real values are accepted.
        base : DataFrame or array-like, default=None
            Raw rows supplying the columns the victim drops (required when
            it drops any).

        Returns
        -------
        DataFrame or ndarray
            Same columns, dtypes and categories as the fitted data.
        """
        E = self.snap(E)
        n = len(E)
        values: dict = {}
        for block in self._blocks:
            part = E[:, block.out]
            if block.kind == "onehot":
                start = 0
                for col, cats in zip(block.columns, block.categories, strict=True):
                    idx = np.argmax(part[:, start : start + len(cats)], axis=1)
                    values[col] = np.asarray(cats, dtype=object)[idx]
                    start += len(cats)
            else:
                mean = 0.0 if block.mean is None else block.mean
                scale = 1.0 if block.scale is None else block.scale
                raw = part * scale + mean
                for j, col in enumerate(block.columns):
                    values[col] = raw[:, j]
        missing = [c for c in self._columns if c not in values]
        if missing:
            if base is None or len(base) != n:
                raise ValueError(
                    f"The victim ignores raw columns {missing}; pass base rows "
                    "(one per poison) to copy them from."
                )
            for col in missing:
                values[col] = (
                    base[col].to_numpy() if self._is_frame else np.asarray(base)[:, col]
                )
        if not self._is_frame:
            out = np.column_stack([values[c] for c in self._columns])
            if np.issubdtype(self._dtype, np.integer):
                out = np.round(out.astype(np.float64))
            return out.astype(self._dtype)
        frame = {}
        for col in self._columns:
            dtype = self._dtypes[col]
            vals = values[col]
            if isinstance(dtype, pd.CategoricalDtype):
                frame[col] = pd.Categorical(vals, dtype=dtype)
            elif pd.api.types.is_integer_dtype(dtype):
                frame[col] = pd.array(np.round(np.asarray(vals, float)), dtype=dtype)
            elif pd.api.types.is_bool_dtype(dtype):
                frame[col] = pd.array(vals, dtype=dtype)
            else:
                frame[col] = pd.Series(vals).astype(dtype).to_numpy()
        return pd.DataFrame(frame, columns=self._columns)
