"""Cross-validated robustness evaluation of models under poisoning attacks.

:func:`cross_validate_robustness` runs every (fold, attack, budget) as a
joblib work unit and returns a tidy DataFrame; :func:`summarize` condenses
it per attack and budget, with intervals of the paired changes;
:func:`robustness_verdict` says in plain words what changed beyond noise;
:func:`group_metric_frame` reports a classifier's
metrics by sensitive group (a :class:`fairlearn.metrics.MetricFrame`) for
clean and poisoned models side by side. :func:`run_audit` is the ``skfrl
audit`` command in Python (its choices listed by :func:`audit_options`),
and :func:`write_audit_report` writes its report folder.
"""

from ._audit import AuditResult, run_audit
from ._audit_report import write_audit_report
from ._groups import group_metric_frame
from ._registry import audit_options
from ._robustness import (
    CLEAN,
    cross_validate_robustness,
    paired_interval,
    summarize,
)
from ._verdict import robustness_verdict

__all__ = [
    "CLEAN",
    "AuditResult",
    "audit_options",
    "cross_validate_robustness",
    "group_metric_frame",
    "paired_interval",
    "robustness_verdict",
    "run_audit",
    "summarize",
    "write_audit_report",
]
