"""Batches sliced from prepared tensors: a dataset and its iterator."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

import numpy as np
import torch

__all__ = ["BatchIterator", "TensorDictDataset"]


class TensorDictDataset(torch.utils.data.Dataset):
    """A dataset of aligned tensors, indexed a whole batch at a time.

    skorch's default ``Dataset`` builds every batch sample by sample through
    a ``DataLoader``; slicing prepared tensors is several times faster for the
    small tabular networks of fair representation learning. Indexing with a
    slice, an index tensor or an int returns ``(X_batch, y_batch)``, where
    ``X_batch`` is a dict with the same keys as ``X``.

    .. versionadded:: 0.1

    Parameters
    ----------
    X : dict of str to array-like
        Aligned inputs (features, encoded sensitive attributes), each with
        the samples along its first axis.
    y : array-like or None, default=None
        Targets, or None for unsupervised models.

    See Also
    --------
    BatchIterator : Iterate over its batches.

    Examples
    --------
    >>> import numpy as np
    >>> from skfrl.nn import TensorDictDataset
    >>> ds = TensorDictDataset({"X": np.zeros((5, 2))}, y=np.arange(5))
    >>> len(ds)
    5
    >>> Xb, yb = ds[1:3]
    >>> Xb["X"].shape, yb.tolist()
    (torch.Size([2, 2]), [1, 2])
    """

    def __init__(self, X: Mapping[str, object], y: object = None):
        self.X = {k: torch.as_tensor(v) for k, v in X.items()}
        self.y = None if y is None else torch.as_tensor(y)
        self._len = len(next(iter(self.X.values())))

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, idx) -> tuple[dict, torch.Tensor | None]:
        Xi = {k: v[idx] for k, v in self.X.items()}
        return Xi, (None if self.y is None else self.y[idx])


class BatchIterator:
    """Iterate over a :class:`TensorDictDataset` (or a ``Subset`` of one).

    A drop-in for ``torch.utils.data.DataLoader`` as skorch's
    ``iterator_train`` and ``iterator_valid``: each batch is one indexing of
    the dataset. Shuffling draws from torch's global generator, which
    :class:`~skfrl._base.BaseFairNet` seeds from ``random_state`` during
    ``fit``.

    .. versionadded:: 0.1

    Parameters
    ----------
    dataset : TensorDictDataset or torch.utils.data.Subset
        Data to iterate over.
    batch_size : int, default=128
        Rows per batch.
    shuffle : bool, default=False
        Reshuffle at every pass.
    drop_last : bool, default=False
        Drop a last, smaller batch (useful for batch statistics).

    See Also
    --------
    TensorDictDataset : The dataset it slices.

    Examples
    --------
    >>> import numpy as np
    >>> from skfrl.nn import BatchIterator, TensorDictDataset
    >>> ds = TensorDictDataset({"X": np.zeros((5, 2))}, y=np.arange(5))
    >>> [yb.tolist() for _, yb in BatchIterator(ds, batch_size=2)]
    [[0, 1], [2, 3], [4]]
    >>> len(BatchIterator(ds, batch_size=2, drop_last=True))
    2
    """

    def __init__(
        self,
        dataset: TensorDictDataset | torch.utils.data.Subset,
        batch_size: int = 128,
        shuffle: bool = False,
        drop_last: bool = False,
    ):
        if isinstance(dataset, torch.utils.data.Subset):
            self.base = dataset.dataset
            self.indices = torch.as_tensor(np.asarray(dataset.indices))
        else:
            self.base = dataset
            self.indices = None
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last

    def __len__(self) -> int:
        n = len(self.base) if self.indices is None else len(self.indices)
        if self.drop_last:
            return n // self.batch_size
        return math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[dict, torch.Tensor | None]]:
        n = len(self.base) if self.indices is None else len(self.indices)
        if self.shuffle:
            order = torch.randperm(n)
            if self.indices is not None:
                order = self.indices[order]
        else:
            order = self.indices
        stop = n - n % self.batch_size if self.drop_last else n
        for start in range(0, stop, self.batch_size):
            if order is None:
                idx = slice(start, min(start + self.batch_size, n))
            else:
                idx = order[start : start + self.batch_size]
            yield self.base[idx]
