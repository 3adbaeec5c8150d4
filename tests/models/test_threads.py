import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from skfrl.datasets import make_biased_classification
from skfrl.models import CFair


class _Threads(Callback):
    def initialize(self):
        self.seen_ = []
        return self

    def on_epoch_end(self, net, **kwargs):
        self.seen_.append(torch.get_num_threads())


@pytest.mark.parametrize("n_threads, inside", [(1, 1), (None, 3)])
def test_fit_bounds_torch_threads_and_restores_them(n_threads, inside):
    X, y, s = make_biased_classification(n_samples=100, random_state=0)
    previous = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        spy = _Threads()
        model = CFair(max_epochs=2, n_threads=n_threads, callbacks=[("t", spy)])
        model.fit(X, y, sensitive_features=s)
        assert spy.seen_ == [inside, inside]
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(previous)


def test_n_threads_is_checked_and_kept_by_clone():
    from sklearn.base import clone

    X, y, s = make_biased_classification(n_samples=100, random_state=0)
    model = CFair(max_epochs=1, n_threads=2)
    assert clone(model).get_params()["n_threads"] == 2
    with pytest.raises(ValueError, match="n_threads"):
        CFair(n_threads=0).fit(X, y, sensitive_features=s)
    with pytest.raises(TypeError, match="n_threads"):
        CFair(n_threads=1.5).fit(X, y, sensitive_features=s)
    assert np.isfinite(model.fit(X, y, sensitive_features=s).transform(X)).all()
