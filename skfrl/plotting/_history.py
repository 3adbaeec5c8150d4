"""Leakage against training epochs, from the histories of fitted nets."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..utils._sklearn_compat import validate_params

__all__ = ["plot_leakage_history"]

_METRIC_LABELS = {
    "roc_auc": "held-out probe ROC AUC",
    "balanced_accuracy": "held-out probe balanced accuracy",
    "ber": "held-out probe balanced error rate",
    "accuracy": "held-out probe accuracy",
    "mae": "held-out probe MAE",
    "r2": "held-out probe R²",
}


def _is_history(obj) -> bool:
    """A skorch History or a plain list of per-epoch dicts."""
    return isinstance(obj, list) and all(isinstance(row, Mapping) for row in obj)


def _as_runs(histories) -> list[tuple[str | None, object]]:
    """``[(default label, net or history), ...]``, one entry per line."""
    if isinstance(histories, Mapping):
        return [(str(k), v) for k, v in histories.items()]
    if _is_history(histories) and len(histories) > 0:
        return [(None, histories)]
    if hasattr(histories, "history") and not isinstance(histories, list | tuple):
        return [(None, histories)]
    if isinstance(histories, list | tuple):
        return [(None, h) for h in histories]
    raise TypeError(
        "histories must be a fitted net, a skorch History, or a list or dict "
        f"of them, got {type(histories).__name__}."
    )


def _epochs_values(run, name: str, index: int) -> tuple[np.ndarray, np.ndarray]:
    history = run if _is_history(run) else getattr(run, "history", None)
    if history is None or not _is_history(history):
        raise TypeError(
            f"histories[{index}] is neither a fitted net nor a skorch History "
            f"(got {type(run).__name__})."
        )
    rows = [(k, row) for k, row in enumerate(history, start=1) if name in row]
    epochs = np.array([row.get("epoch", k) for k, row in rows], dtype=float)
    values = np.array([row[name] for _, row in rows], dtype=float)
    return epochs, values


def _monitor_metric(run, name: str):
    """The metric of the net's LeakageMonitor recording ``name``, if any."""
    for _, cb in getattr(run, "callbacks_", None) or []:
        if getattr(cb, "name", None) == name and hasattr(cb, "metric"):
            return cb.metric
    return None


@validate_params(
    {"name": [str], "labels": ["array-like", None], "ylabel": [str, None]},
    prefer_skip_nested_validation=True,
)
def plot_leakage_history(
    histories, *, name="leakage", labels=None, ylabel=None, ax=None
):
    """Leakage of the representation per epoch, one line per fitted net.

    Draws the values a :class:`~skfrl.callbacks.LeakageMonitor` recorded in
    each net's history: how leakage evolves, and oscillates, during
    training.

    .. versionadded:: 0.1

    Parameters
    ----------
    histories : net, History, list or dict
        A fitted net (its ``history`` is read), a skorch ``History`` (or a
        list of per-epoch dicts), or a list of them; a dict
        ``{label: net_or_history}`` names the lines. Epochs without
        ``name`` are skipped, so a monitor with ``every=2`` draws every
        second epoch.
    name : str, default="leakage"
        History key of the values, the ``name`` of the monitor.
    labels : list of str, default=None
        One legend label per line. None uses the dict keys, else the nets'
        class names; a single unnamed line gets no legend.
    ylabel : str, default=None
        Label of the y axis. None derives it from the monitor's metric when
        nets are given (``"held-out probe ROC AUC"`` for the default
        metric; ``name`` when their metrics differ), else uses
        ``"held-out probe ROC AUC"`` for ``name="leakage"`` and ``name``
        otherwise.
    ax : matplotlib Axes, default=None
        Axes to draw on; a new figure when None.

    Returns
    -------
    ax : matplotlib Axes
        The axes drawn on.

    Raises
    ------
    ValueError
        When a history holds no ``name`` values, or ``labels`` has the wrong
        length.

    See Also
    --------
    skfrl.callbacks.LeakageMonitor : Records the values.
    plot_leakage_bars : Leakage per model, at the end of training.

    Examples
    --------
    >>> from skorch.history import History
    >>> from skfrl.plotting import plot_leakage_history
    >>> runs = {}
    >>> for label, values in [("adv", [0.8, 0.7, 0.72]), ("cfair", [0.7, 0.6, 0.55])]:
    ...     runs[label] = History()
    ...     for epoch, value in enumerate(values, start=1):
    ...         runs[label].new_epoch()
    ...         runs[label].record("epoch", epoch)
    ...         runs[label].record("leakage", value)
    >>> ax = plot_leakage_history(runs)
    >>> len(ax.get_lines()), ax.get_ylabel()
    (2, 'held-out probe ROC AUC')
    """
    import matplotlib.pyplot as plt

    runs = _as_runs(histories)
    if not runs:
        raise ValueError("histories holds no history to draw.")
    if labels is not None:
        labels = [str(label) for label in labels]
        if len(labels) != len(runs):
            raise ValueError(
                f"labels has {len(labels)} entries but there are {len(runs)} histories."
            )
    else:
        labels = [
            label
            if label is not None
            else (None if _is_history(run) else type(run).__name__)
            for label, run in runs
        ]
        if len(runs) > 1:
            labels = [
                label if label is not None else f"run {i}"
                for i, label in enumerate(labels)
            ]
            if len(set(labels)) < len(labels):
                labels = [f"{label} {i}" for i, label in enumerate(labels)]
        elif not isinstance(histories, Mapping):
            labels = [None]
    if ylabel is None:
        metrics = {_monitor_metric(run, name) for _, run in runs} - {None}
        if len(metrics) == 1:
            ylabel = _METRIC_LABELS.get(metrics.pop(), name)
        elif metrics:  # monitors with different metrics
            ylabel = name
        else:
            ylabel = _METRIC_LABELS["roc_auc"] if name == "leakage" else name
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    for i, ((_, run), label) in enumerate(zip(runs, labels, strict=True)):
        epochs, values = _epochs_values(run, name, i)
        if values.size == 0:
            raise ValueError(
                f"histories[{i}] recorded no {name!r}; fit it with a "
                f"LeakageMonitor(name={name!r}) callback."
            )
        ax.plot(epochs, values, marker="o", markersize=3, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if any(label is not None for label in labels):
        ax.legend()
    return ax
