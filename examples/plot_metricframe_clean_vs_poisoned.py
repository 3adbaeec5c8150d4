"""
=======================================================================
Per-group metrics of a classifier on clean and poisoned representations
=======================================================================

A poisoning attack on a fair representation is felt downstream: the
classifier trained on the representation may treat the groups differently.
:func:`~skfrl.evaluation.group_metric_frame` computes a fairlearn
:class:`~fairlearn.metrics.MetricFrame` for several fitted classifiers at
once, with the model as a control feature, so accuracy, selection rate and
error rates by group sit side by side for the clean and the poisoned
model.
"""

# %%
# Clean and poisoned models
# -------------------------
# The same pipeline (preprocessing, an adversarial fair representation, a
# logistic regression) is fitted twice on 4,000 Adult rows: once as is,
# and once inside :class:`~skfrl.attacks.PoisonedEstimator` with 10 % of
# anchoring poisons (NRAA) added to its training data. Both are evaluated
# on the same clean test rows.
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from skfrl.attacks import AnchorAttack, PoisonedEstimator
from skfrl.datasets import load_adult, make_preprocessor
from skfrl.evaluation import group_metric_frame
from skfrl.models import AdversarialFairRepresentation
from skfrl.plotting import plot_representation_map
from skfrl.utils import fit_with_sensitive

torch.set_num_threads(1)
X, y, s = load_adult(sensitive="sex", return_X_y_s=True)
rows = np.sort(np.random.default_rng(0).choice(len(X), size=6000, replace=False))
X, y, s = X.iloc[rows], y.iloc[rows], s.iloc[rows]
X_train, X_test, y_train, y_test, s_train, s_test = train_test_split(
    X, y, s, test_size=2000, stratify=y.astype(str) + s.astype(str), random_state=0
)

pipe = make_pipeline(
    make_preprocessor(X),
    AdversarialFairRepresentation(n_components=4, max_epochs=20, random_state=0),
    LogisticRegression(max_iter=1000),
)
clean = fit_with_sensitive(pipe, X_train, y_train, s_train)
poisoned = PoisonedEstimator(
    pipe, AnchorAttack("non_random", budget=0.1, random_state=0)
).fit(X_train, y_train, sensitive_features=s_train)
print("poisons added:", poisoned.attack_.n_poison_)

# %%
# The MetricFrame
# ---------------
# ``by_group`` is indexed by (model, sex); the default metrics for a binary
# target are accuracy, balanced accuracy, selection rate, true and false
# positive rates and the group sizes.
frame = group_metric_frame(
    {"clean": clean, "poisoned": poisoned},
    X_test,
    y_test,
    sensitive_features=s_test,
)
frame.by_group.round(3)

# %%
# ``difference()`` is each model's largest gap between the groups: the
# demographic-parity difference is the selection-rate gap, and the
# equalized-odds difference the larger of the two error-rate gaps.
frame.difference().round(3)

# %%
# Plotted by group
# ----------------
metrics = ["accuracy", "selection_rate", "true_positive_rate", "false_positive_rate"]
by_group = frame.by_group[metrics]
fig, axes = plt.subplots(1, len(metrics), figsize=(15, 3.6), sharey=False)
for ax, metric in zip(axes, metrics, strict=True):
    by_group[metric].unstack("model").plot.bar(ax=ax, rot=0)
    ax.set_title(metric)
    ax.set_xlabel("")
    ax.grid(axis="y", alpha=0.3)
fig.tight_layout()
plt.show()

# %%
# The representations themselves
# ------------------------------
# PCA maps of the two representations of the test rows, coloured by group:
# where the groups form separate clouds, the representation tells them
# apart.
fig = plot_representation_map(
    {"clean": clean, "poisoned": poisoned},
    X_test,
    s_test,
    random_state=0,
)
plt.show()

# %%
# Reading the result
# ------------------
# Compare each metric's gap between women and men across the two models:
# the attack is meant to widen the selection-rate and error-rate gaps (it
# pushes the decision boundary towards more positives for the advantaged
# group and more negatives for the other). With 2,000 test rows, gaps move
# by a few hundredths from noise alone; the cross-validated
# :func:`~skfrl.evaluation.cross_validate_robustness` gives the spread over
# folds.
