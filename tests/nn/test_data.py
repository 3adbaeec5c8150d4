"""TensorDictDataset and BatchIterator: batches sliced from prepared tensors."""

import numpy as np
import torch

from skfrl.nn import BatchIterator, TensorDictDataset


def _dataset(n=10):
    X = {"X": np.arange(2 * n, dtype=np.float32).reshape(n, 2), "s_cat": np.arange(n)}
    return TensorDictDataset(X, y=np.arange(n) * 10)


def test_dataset_slices_every_entry_alike():
    ds = _dataset()
    Xb, yb = ds[torch.tensor([3, 1])]
    assert Xb["s_cat"].tolist() == [3, 1]
    assert Xb["X"].tolist() == [[6.0, 7.0], [2.0, 3.0]]
    assert yb.tolist() == [30, 10]
    assert TensorDictDataset({"X": np.zeros((4, 1))})[0:2][1] is None


def test_iterator_covers_the_data_once_in_order():
    it = BatchIterator(_dataset(), batch_size=4)
    assert len(it) == 3
    assert [yb.tolist() for _, yb in it] == [
        [0, 10, 20, 30],
        [40, 50, 60, 70],
        [80, 90],
    ]


def test_shuffle_draws_from_torch_and_respects_subsets_and_drop_last():
    subset = torch.utils.data.Subset(_dataset(), [1, 3, 5, 7, 9])
    it = BatchIterator(subset, batch_size=2, shuffle=True, drop_last=True)
    assert len(it) == 2
    torch.manual_seed(0)
    first = [Xb["s_cat"].tolist() for Xb, _ in it]
    torch.manual_seed(0)
    again = [Xb["s_cat"].tolist() for Xb, _ in it]
    assert first == again
    seen = sum(first, [])
    assert len(seen) == 4 and set(seen) <= {1, 3, 5, 7, 9}
