"""A default tabular preprocessor for the data sets' mixed-type frames."""

from __future__ import annotations

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from ..utils._sklearn_compat import validate_params

__all__ = ["make_preprocessor", "one_hot_groups"]


@validate_params(
    {"X": [pd.DataFrame], "scale_numeric": ["boolean"]},
    prefer_skip_nested_validation=True,
)
def make_preprocessor(
    X: pd.DataFrame, *, scale_numeric: bool = True
) -> ColumnTransformer:
    """Make an unfitted transformer that one-hot encodes and scales ``X``.

    Columns are assigned by their dtype in ``X``:

    - ``category``, ``object``, string and ``bool`` columns are one-hot
      encoded (``handle_unknown="ignore"``, so unseen values encode as all
      zeros). For ``category`` columns the categories of the dtype are used,
      not the values seen in ``fit``, so that every sample of a data set
      gets the same output columns;
    - numeric columns are standardised (or passed through when
      ``scale_numeric=False``).

    The transformer outputs a DataFrame (``set_output(transform="pandas")``):
    first the one-hot columns (float64, named ``<column>_<value>``), then the
    numeric columns under their own names (float64 when scaled, unchanged
    otherwise). Missing values are not imputed:
    a missing numeric value stays NaN and a missing category encodes as all
    zeros; the skfrl loaders return complete data.

    .. versionadded:: 0.1

    Parameters
    ----------
    X : DataFrame
        Data whose columns (and dtypes) the transformer is built for. It is
        only inspected, neither fitted on nor modified.
    scale_numeric : bool, default=True
        Whether to standardise numeric columns.

    Returns
    -------
    preprocessor : ColumnTransformer
        Unfitted; ``verbose_feature_names_out=False``.

    Raises
    ------
    TypeError
        If ``X`` is not a DataFrame.
    ValueError
        If a column has a dtype that is neither numeric nor categorical
        (for example datetime), or ``X`` has no columns.

    Examples
    --------
    >>> import pandas as pd
    >>> from skfrl.datasets import make_preprocessor
    >>> X = pd.DataFrame(
    ...     {"age": [25, 40, 60], "job": pd.Categorical(["a", "b", "a"])}
    ... )
    >>> Xt = make_preprocessor(X).fit_transform(X)
    >>> list(Xt.columns)
    ['job_a', 'job_b', 'age']
    >>> Xt["job_a"].tolist()
    [1.0, 0.0, 1.0]
    """
    if X.shape[1] == 0:
        raise ValueError("X has no columns.")

    categorical, labelled, numeric, unsupported = [], [], [], []
    for column, dtype in X.dtypes.items():
        if isinstance(dtype, pd.CategoricalDtype):
            categorical.append(column)
        elif (
            pd.api.types.is_bool_dtype(dtype)
            or pd.api.types.is_object_dtype(dtype)
            or pd.api.types.is_string_dtype(dtype)
        ):
            labelled.append(column)
        elif pd.api.types.is_numeric_dtype(dtype):
            numeric.append(column)
        else:
            unsupported.append(f"{column!r} ({dtype})")
    if unsupported:
        raise ValueError(
            "make_preprocessor handles numeric, category, object, string and bool "
            f"columns; these are not: {', '.join(unsupported)}."
        )

    def one_hot(categories="auto") -> OneHotEncoder:
        return OneHotEncoder(
            categories=categories, handle_unknown="ignore", sparse_output=False
        )

    transformers = []
    if categorical:
        # OneHotEncoder rejects unsorted numeric categories; string ones keep
        # the dtype's order.
        dtype_categories = [
            sorted(X[c].cat.categories)
            if pd.api.types.is_numeric_dtype(X[c].cat.categories)
            else list(X[c].cat.categories)
            for c in categorical
        ]
        transformers.append(("categorical", one_hot(dtype_categories), categorical))
    if labelled:
        transformers.append(("labelled", one_hot(), labelled))
    if numeric:
        scaler = StandardScaler() if scale_numeric else "passthrough"
        transformers.append(("numeric", scaler, numeric))
    preprocessor = ColumnTransformer(
        transformers, remainder="drop", verbose_feature_names_out=False
    )
    return preprocessor.set_output(transform="pandas")


@validate_params(
    {"preprocessor": [ColumnTransformer]}, prefer_skip_nested_validation=True
)
def one_hot_groups(preprocessor: ColumnTransformer) -> list[list[int]]:
    """Output column indices of each one-hot encoded input column.

    Feeds the ``categorical_groups`` parameter of the VAE models (and
    :class:`~skfrl.nn.MixedReconstructionLoss`), so that each original
    categorical column is reconstructed with a softmax over its one-hot
    columns instead of a Gaussian per column.

    .. versionadded:: 0.1

    Parameters
    ----------
    preprocessor : ColumnTransformer
        A fitted transformer, typically from :func:`make_preprocessor`. Any
        ``ColumnTransformer`` works: its ``OneHotEncoder`` steps (also as
        the last step of a ``Pipeline``) are located through
        ``output_indices_``; ``drop`` and infrequent-category grouping of
        the encoder are honoured.

    Returns
    -------
    groups : list of list of int
        One list per one-hot encoded input column, in output column order,
        holding the indices of its columns in the transformer's output.

    Raises
    ------
    TypeError
        If ``preprocessor`` is not a ``ColumnTransformer``.
    sklearn.exceptions.NotFittedError
        If it is not fitted yet.

    Examples
    --------
    >>> import pandas as pd
    >>> from skfrl.datasets import make_preprocessor, one_hot_groups
    >>> X = pd.DataFrame({"age": [25, 40, 60],
    ...                   "job": pd.Categorical(["a", "b", "c"]),
    ...                   "sex": ["f", "m", "f"]})
    >>> pre = make_preprocessor(X).fit(X)
    >>> list(pre.get_feature_names_out())
    ['job_a', 'job_b', 'job_c', 'sex_f', 'sex_m', 'age']
    >>> one_hot_groups(pre)
    [[0, 1, 2], [3, 4]]
    """
    check_is_fitted(
        preprocessor,
        "transformers_",
        msg=(
            "This ColumnTransformer is not fitted yet; call fit (or "
            "fit_transform) on the training data before one_hot_groups."
        ),
    )
    groups: list[list[int]] = []
    for name, transformer, _ in preprocessor.transformers_:
        encoder = transformer
        if isinstance(encoder, Pipeline):
            encoder = encoder.steps[-1][1]
        if not isinstance(encoder, OneHotEncoder):
            continue
        start = preprocessor.output_indices_[name].start
        drop_idx = getattr(encoder, "drop_idx_", None)
        infrequent = getattr(encoder, "infrequent_categories_", None)
        for i, categories in enumerate(encoder.categories_):
            width = len(categories)
            if infrequent is not None and infrequent[i] is not None:
                # Infrequent categories share a single output column.
                width -= len(infrequent[i]) - 1
            if drop_idx is not None and drop_idx[i] is not None:
                width -= 1
            if width > 0:
                groups.append(list(range(start, start + width)))
            start += width
        if start != preprocessor.output_indices_[name].stop:
            raise ValueError(  # pragma: no cover - a guard against new encoders
                f"Could not map the one-hot columns of transformer {name!r} to "
                "output indices."
            )
    return groups
