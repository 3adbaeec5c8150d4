"""
=========================================================
Comparing the FRL models: accuracy against leakage of sex
=========================================================

Every fair representation model of :mod:`skfrl.models` is fitted twice on
the Adult census data: once with its fairness term at the default weight
("fair") and once with that weight set to 0 ("unconstrained": the same
architecture and training, the fairness term switched off). For each
representation ``Z`` we measure, on held-out data,

- the accuracy of a downstream
  :class:`~sklearn.linear_model.LogisticRegression` trained on ``Z``, and
- the leakage of ``sex`` from ``Z``: the cross-validated ROC AUC of a
  logistic probe that predicts ``sex`` from ``Z``
  (:func:`skfrl.metrics.representation_leakage`; 0.5 is chance level).

An arrow goes from each model's unconstrained version to its fair one. A
model that does its job moves left (less leakage) and not much down (little
accuracy lost).

To run in about a minute on one CPU core, this example uses small
subsamples and a single seed, so single points are noisy. The
:ref:`models_benchmark` page has the same comparison with larger samples,
three seeds and more metrics.
"""

# %%
# Data
# ----
# 4,000 rows of the original Adult training part to fit on and 2,000 rows
# of its test part to evaluate on. ``sex`` is not among the features, but
# ``relationship`` (``Husband`` / ``Wife``) is, so the raw features leak it
# almost perfectly.
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skfrl.datasets import load_adult, make_preprocessor
from skfrl.metrics import representation_leakage
from skfrl.models import (
    ICVAE,
    VFAE,
    AdversarialFairRepresentation,
    AdversarialVAE,
    CFair,
    LearnedFairRepresentation,
)

# One thread: small networks gain nothing from more, and the timings stay
# comparable on a busy machine.
torch.set_num_threads(1)
rng = np.random.default_rng(0)


def subsample(subset, n):
    """``n`` random rows (in their original order) of an Adult part."""
    X, y, s = load_adult(sensitive="sex", subset=subset, return_X_y_s=True)
    rows = np.sort(rng.choice(len(X), size=n, replace=False))
    return X.iloc[rows], y.iloc[rows].to_numpy(), s.iloc[rows]


X_train, y_train, s_train = subsample("train", 4_000)
X_test, y_test, s_test = subsample("test", 2_000)

# The models are trained on one-hot encoded, standardised features.
preprocessor = make_preprocessor(X_train).fit(X_train)
Xt_train = preprocessor.transform(X_train).to_numpy(np.float32)
Xt_test = preprocessor.transform(X_test).to_numpy(np.float32)
print(f"train: {Xt_train.shape}, test: {Xt_test.shape}")

# %%
# How a representation is scored
# ------------------------------


def score(Z_train, Z_test):
    """Downstream accuracy and probe ROC AUC for ``sex``, on the test part."""
    downstream = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    downstream.fit(Z_train, y_train)
    accuracy = downstream.score(Z_test, y_test)
    auc = representation_leakage(Z_test, s_test, cv=3, random_state=0)
    return accuracy, auc


raw_accuracy, raw_auc = score(Xt_train, Xt_test)
print(f"raw features: accuracy={raw_accuracy:.3f}, probe AUC={raw_auc:.3f}")

# %%
# The models and their fairness weights
# -------------------------------------
# Each entry is a model with its default parameters and the name of the
# parameter that weighs its fairness term; setting it to 0 gives the
# unconstrained version.
models = {
    "Adversarial": (AdversarialFairRepresentation(), "fairness_weight"),
    "CFair": (CFair(mode="balanced"), "fairness_weight"),
    "CFair-EO": (CFair(mode="eo"), "fairness_weight"),
    "LFR": (LearnedFairRepresentation(), "fairness_weight"),
    "ICVAE-S": (ICVAE(supervised=True), "fairness_weight"),
    "ICVAE-US": (ICVAE(supervised=False), "fairness_weight"),
    "VFAE": (VFAE(), "fairness_weight"),
    "AdversarialVAE": (AdversarialVAE(), "fairness_weight"),
}

start = time.perf_counter()
rows = []
for name, (model, weight) in models.items():
    for fair in (True, False):
        params = {"random_state": 0}
        if not fair:
            params[weight] = 0.0
        frl = clone(model).set_params(**params)
        frl.fit(Xt_train, y_train, sensitive_features=s_train)
        accuracy, auc = score(frl.transform(Xt_train), frl.transform(Xt_test))
        rows.append({"model": name, "fair": fair, "accuracy": accuracy, "auc": auc})
results = pd.DataFrame(rows)
print(f"16 models fitted and scored in {time.perf_counter() - start:.0f} s")
print(results.round(3).to_string(index=False))

# %%
# Accuracy against leakage
# ------------------------
# Hollow markers are the unconstrained versions, filled ones the fair
# versions; each arrow points from the first to the second. The black star
# is the raw features, the dotted line chance-level leakage.
fig, ax = plt.subplots(figsize=(9, 5.5))
colors = plt.get_cmap("tab10").colors
for i, (name, group) in enumerate(results.groupby("model", sort=False)):
    color = colors[i % len(colors)]
    fair = group[group["fair"]].iloc[0]
    free = group[~group["fair"]].iloc[0]
    ax.annotate(
        "",
        xy=(fair["auc"], fair["accuracy"]),
        xytext=(free["auc"], free["accuracy"]),
        arrowprops={"arrowstyle": "->", "color": color, "lw": 1.5},
    )
    ax.plot(free["auc"], free["accuracy"], "o", mfc="none", mec=color, ms=8)
    ax.plot(fair["auc"], fair["accuracy"], "o", color=color, ms=8, label=name)
ax.plot(raw_auc, raw_accuracy, "*", color="black", ms=14, label="raw features")
ax.axvline(0.5, color="black", ls=":", lw=1)
ax.set_xlabel("probe ROC AUC for sex from Z (held-out; 0.5 = chance)")
ax.set_ylabel("downstream accuracy (held-out)")
ax.set_title("Adult: unconstrained (hollow) -> fair (filled)")
ax.grid(alpha=0.3)
ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
fig.tight_layout()
plt.show()

# %%
# Reading the figure
# ------------------
# Good trade-offs are arrows that point left and stay roughly level: the
# fairness term removes information about ``sex`` that the task did not
# need. Arrows that point right mean the fair version leaks *more* than the
# unconstrained one to this linear probe; with these small samples and one
# seed that can be noise, but see the benchmark page for the models where
# it is not. Two things to keep in mind:
#
# - CFair does not aim at an ``s``-free representation: its adversaries work
#   within each class of ``y`` (equalized odds), so a representation that
#   predicts income still tells ``sex`` apart to the extent that income
#   differs between men and women.
# - The probe is linear. Leakage that a linear probe misses may still be
#   found by a more flexible one (pass e.g. a gradient-boosting classifier
#   as ``probe=`` to :func:`~skfrl.metrics.representation_leakage`).
