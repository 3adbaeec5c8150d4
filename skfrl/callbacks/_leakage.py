"""Track the held-out leakage of a net's representation during training."""

from __future__ import annotations

import contextlib
import numbers

import numpy as np
import torch
from skorch.callbacks import Callback

from ..metrics import check_leakage_metric, representation_leakage
from ..utils._sklearn_compat import Interval, validate_params

__all__ = ["LeakageMonitor", "leakage_volatility"]


def _n_rows(data) -> int:
    shape = getattr(data, "shape", None)
    if shape is not None and len(shape) > 0:
        return int(shape[0])
    return len(data)


def _fork_torch_rng(net):
    """Fork torch's CPU generator, and the CUDA one of the net's device."""
    device = torch.device(net.device) if net.device is not None else None
    devices = []
    if device is not None and device.type == "cuda" and torch.cuda.is_available():
        devices = [
            device.index if device.index is not None else torch.cuda.current_device()
        ]
    return torch.random.fork_rng(devices=devices)


@contextlib.contextmanager
def _preserve_training_mode(net):
    """Restore the train/eval flag of every submodule on exit.

    ``net.transform`` switches all modules to evaluation mode; training may
    continue after the callback, so each flag is put back as it was.
    """
    flags = []
    for attr in list(net._modules) + list(net._criteria):
        module = getattr(net, attr + "_", None)
        if isinstance(module, torch.nn.Module):
            flags.extend((m, m.training) for m in module.modules())
    try:
        yield
    finally:
        for module, training in flags:
            module.training = training


class LeakageMonitor(Callback):
    """Record the held-out leakage of the representation every few epochs.

    At the end of every ``every``-th epoch (the epochs where
    ``len(net.history) % every == 0``) the monitor computes
    ``Z = net.transform(X)`` and records
    :func:`~skfrl.metrics.representation_leakage` of ``Z`` for
    ``sensitive_features`` in the net's history under ``name``; other epochs
    record nothing. Use held-out data (not the training set) to see how
    much a probe trained on new data can recover ``s``.

    The measurement leaves training untouched: every module's train/eval
    flag is restored afterwards and torch's random generator is forked, so
    a fit with the monitor gives the same model as one without. When the
    net has a callback named ``"weight_averaging"`` with a ``swapped(net)``
    context manager, leakage is measured with the averaged weights swapped
    in, i.e. on the model ``fit`` returns.

    .. versionadded:: 0.1

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Evaluation data, preprocessed like the training data (what the
        net's ``transform`` expects).
    sensitive_features : array-like of shape (n_samples,)
        One sensitive attribute of the rows of ``X``.
    every : int, default=1
        Measure every ``every`` epochs.
    metric : {"roc_auc", "balanced_accuracy", "ber", "accuracy", "mae", "r2"}, \
default="roc_auc"
        Leakage metric, see :func:`~skfrl.metrics.representation_leakage`.
    probe : estimator, default=None
        Unfitted probe; None uses a scaled logistic regression (ridge for a
        continuous attribute).
    cv : int or cross-validation splitter, default=3
        Folds of the probe's cross-validation.
    name : str, default="leakage"
        Key of the values in ``net.history``.
    random_state : int, RandomState instance or None, default=0
        Seeds the fold shuffling when ``cv`` is an int.

    See Also
    --------
    leakage_volatility : Spread of the last recorded values.
    skfrl.plotting.plot_leakage_history : Leakage against epochs.

    Examples
    --------
    >>> from sklearn.model_selection import train_test_split
    >>> from skfrl.callbacks import LeakageMonitor
    >>> from skfrl.datasets import make_biased_classification
    >>> from skfrl.models import AdversarialFairRepresentation
    >>> X, y, s = make_biased_classification(n_samples=300, random_state=0)
    >>> X_tr, X_val, y_tr, y_val, s_tr, s_val = train_test_split(
    ...     X, y, s, test_size=0.4, random_state=0)
    >>> net = AdversarialFairRepresentation(
    ...     max_epochs=3, callbacks=[("leak", LeakageMonitor(X_val, s_val))],
    ...     random_state=0)
    >>> net = net.fit(X_tr, y_tr, sensitive_features=s_tr)
    >>> auc = net.history[:, "leakage"]
    >>> len(auc), all(0 <= v <= 1 for v in auc)
    (3, True)
    """

    def __init__(
        self,
        X,
        sensitive_features,
        *,
        every=1,
        metric="roc_auc",
        probe=None,
        cv=3,
        name="leakage",
        random_state=0,
    ):
        self.X = X
        self.sensitive_features = sensitive_features
        self.every = every
        self.metric = metric
        self.probe = probe
        self.cv = cv
        self.name = name
        self.random_state = random_state

    def initialize(self):
        """Validate the parameters.

        Returns
        -------
        self : LeakageMonitor
            The callback.
        """
        if (
            isinstance(self.every, bool)
            or not isinstance(self.every, numbers.Integral)
            or self.every < 1
        ):
            raise ValueError(f"every must be an int >= 1, got {self.every!r}.")
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty str, got {self.name!r}.")
        check_leakage_metric(self.metric)
        if isinstance(self.cv, numbers.Integral) and (
            isinstance(self.cv, bool) or self.cv < 2
        ):
            raise ValueError(f"cv must be an int >= 2 or a splitter, got {self.cv!r}.")
        if self.X is None or self.sensitive_features is None:
            missing = "X" if self.X is None else "sensitive_features"
            raise ValueError(f"{missing} is required, got None.")
        n_x, n_s = _n_rows(self.X), _n_rows(self.sensitive_features)
        if n_x != n_s:
            raise ValueError(
                f"sensitive_features has {n_s} rows but X has {n_x}; they "
                "must describe the same samples."
            )
        return self

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        """Measure and record leakage on every ``every``-th epoch."""
        if len(net.history) % self.every != 0:
            return
        net.history.record(self.name, self.measure(net))

    def measure(self, net) -> float:
        """Leakage of ``net``'s current representation of ``X``.

        Parameters
        ----------
        net : BaseFairNet
            A fitted (or training) net.

        Returns
        -------
        float
            The metric, e.g. a probe ROC AUC.
        """
        averaging = dict(getattr(net, "callbacks_", None) or []).get("weight_averaging")
        swapped = getattr(averaging, "swapped", None)
        with _fork_torch_rng(net), _preserve_training_mode(net):
            with swapped(net) if swapped is not None else contextlib.nullcontext():
                Z = net.transform(self.X)
        return representation_leakage(
            Z,
            self.sensitive_features,
            metric=self.metric,
            probe=self.probe,
            cv=self.cv,
            random_state=self.random_state,
        )


@validate_params(
    {
        "name": [str],
        "last": [Interval(numbers.Integral, 1, None, closed="left"), None],
    },
    prefer_skip_nested_validation=True,
)
def leakage_volatility(history, name: str = "leakage", last: int | None = 5) -> dict:
    """Mean and spread of the last recorded values of a history entry.

    Epoch-to-epoch variation of leakage shows how much the reported value
    depends on where training stops.

    .. versionadded:: 0.1

    Parameters
    ----------
    history : skorch History, list of dict or fitted net
        Per-epoch records, e.g. ``net.history`` (a net is read through its
        ``history``). Epochs without ``name`` are skipped.
    name : str, default="leakage"
        Key of the values, as given to :class:`LeakageMonitor`.
    last : int or None, default=5
        Use the last ``last`` recorded values; None uses all.

    Returns
    -------
    dict
        ``"mean"``, ``"sd"`` (``ddof=1``; NaN for a single value),
        ``"range"`` (max - min) and ``"n"`` (number of values used).

    Raises
    ------
    ValueError
        When no epoch recorded ``name``, or ``last`` is not a positive int.

    Examples
    --------
    >>> from skorch.history import History
    >>> from skfrl.callbacks import leakage_volatility
    >>> history = History()
    >>> for value in [0.9, 0.7, 0.6, 0.8]:
    ...     history.new_epoch()
    ...     history.record("leakage", value)
    >>> stats = leakage_volatility(history, last=3)
    >>> stats["n"], round(stats["mean"], 3), round(stats["sd"], 3)
    (3, 0.7, 0.1)
    """
    # A history, a list of records or a net: no constraint describes them.
    if not isinstance(history, list) and hasattr(history, "history"):
        history = history.history
    if history is None:
        raise ValueError("history is None; fit the net first.")
    values = [row[name] for row in history if name in row]
    if not values:
        raise ValueError(
            f"No epoch recorded {name!r}; add a LeakageMonitor(name={name!r}) "
            "callback to the net."
        )
    if last is not None:
        values = values[-last:]
    values = np.asarray(values, dtype=np.float64)
    return {
        "mean": float(values.mean()),
        "sd": float(values.std(ddof=1)) if values.size > 1 else float("nan"),
        "range": float(values.max() - values.min()),
        "n": int(values.size),
    }
