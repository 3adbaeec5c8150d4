"""Look into a fitted neural FRL model's training.

Tools that evaluate a fitted model's own training loss on any rows, on the
model of :mod:`sklearn.inspection`: the batches its training builds
(:class:`TrainingRows`), its training field with exact derivatives through
gradient reversal (:class:`TrainingGraph`), each row's first-order pull on
the fitted parameters (:class:`PerSampleField`, :func:`per_sample_fields`)
and the influence of training rows on an objective of the representation
(:func:`influence`). The poison-count bound
(:func:`skfrl.attacks.min_poison_count`), the ENG attack
(:class:`skfrl.attacks.PoisonGenerator`) and the gradient sanitiser
(:class:`skfrl.defenses.GradientFilter`) are built on them.
"""

from ._field import PerSampleField, per_sample_fields
from ._graph import TrainingGraph, encode_at, flat_gradient
from ._influence import influence
from ._rows import (
    TrainingRows,
    encode_inputs,
    group_codes,
    training_codes,
    training_rows,
)

__all__ = [
    "PerSampleField",
    "TrainingGraph",
    "TrainingRows",
    "encode_at",
    "encode_inputs",
    "flat_gradient",
    "group_codes",
    "influence",
    "per_sample_fields",
    "training_codes",
    "training_rows",
]
