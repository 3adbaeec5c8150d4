"""Matplotlib figures for robustness evaluations and representations.

:func:`plot_robustness_curve` draws a metric against the poisoning budget
(one line per attack, error bars over folds) from the results of
:func:`skfrl.evaluation.cross_validate_robustness`;
:func:`plot_representation_map` draws 2-D maps (PCA or t-SNE) of
representations coloured by sensitive group, side by side;
:func:`plot_leakage_bars` draws leakage per model;
:func:`plot_leakage_history` draws leakage per training epoch, one line per
net, from the values a :class:`skfrl.callbacks.LeakageMonitor` recorded.
matplotlib is imported only when a function is called.
"""

from ._history import plot_leakage_history
from ._leakage import plot_leakage_bars
from ._representation import plot_representation_map
from ._robustness import plot_robustness_curve

__all__ = [
    "plot_leakage_bars",
    "plot_leakage_history",
    "plot_representation_map",
    "plot_robustness_curve",
]
