"""
=====================================================
Robustness of a fair representation to data poisoning
=====================================================

:func:`~skfrl.evaluation.cross_validate_robustness` cross-validates a
model under several poisoning attacks and budgets: in each fold the
attack poisons the training part only, the model is refitted from scratch
on clean + poisoned rows and scored on the clean test part, next to the
unattacked model of the same fold (budget 0). Here the model is CFair
followed by a logistic regression, on the Adult census data, and the
attacks are

- ENG (:class:`~skfrl.attacks.PoisonGenerator`), which crafts poisons by
  gradient matching against the model itself to make the representation
  leak ``sex``;
- NRAA (:class:`~skfrl.attacks.AnchorAttack`), which places mislabelled
  points next to popular examples of each group;
- random poisoning, the floor any attack should beat.
"""

# %%
# The evaluation
# --------------
# 3,000 rows, 3 folds, budgets of 5 % and 10 % of the training part. The
# 21 work units (3 clean fits and 18 attacked ones) run on two processes
# (``n_jobs=2``); the numbers would be the same with ``n_jobs=1`` or on a
# Dask cluster.
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skfrl.attacks import AnchorAttack, PoisonGenerator, RandomPoisoning
from skfrl.datasets import load_adult, make_preprocessor
from skfrl.evaluation import cross_validate_robustness, summarize
from skfrl.metrics import make_fairness_scorer, make_leakage_scorer
from skfrl.models import CFair
from skfrl.plotting import plot_leakage_bars, plot_robustness_curve

X, y, s = load_adult(sensitive="sex", return_X_y_s=True)
rows = np.sort(np.random.default_rng(0).choice(len(X), size=3000, replace=False))
X, y, s = X.iloc[rows], y.iloc[rows], s.iloc[rows]

model = make_pipeline(
    make_preprocessor(X), CFair(max_epochs=15), LogisticRegression(max_iter=1000)
)
scoring = {
    "accuracy": "accuracy",
    "leakage": make_leakage_scorer("roc_auc", cv=3, random_state=0),
    "dp": make_fairness_scorer("demographic_parity_difference"),
}
start = time.perf_counter()
results = cross_validate_robustness(
    model,
    X,
    y,
    sensitive_features=s,
    attacks={
        "eng": PoisonGenerator(None, n_steps=100),
        "nraa": AnchorAttack("non_random"),
        "random": RandomPoisoning(),
    },
    budgets=[0, 0.05, 0.1],
    scoring=scoring,
    cv=3,
    n_jobs=2,
    random_state=0,
)
print(f"{results.groupby(['attack', 'budget', 'fold']).ngroups} units in "
      f"{time.perf_counter() - start:.0f} s")  # fmt: skip
results.head()

# %%
# One row per attack, budget, fold and metric: a tidy frame, ready for
# ``groupby`` or a plotting library. :func:`~skfrl.evaluation.summarize`
# gives the mean and spread over folds and the change from the clean model,
# paired by fold.
summary = summarize(results)
summary.round(3)

# %%
# Robustness curves
# -----------------
# Scores follow scikit-learn's convention (greater is better), so leakage
# and the demographic-parity gap come negated; ``sign=-1`` plots the raw
# metrics, for which higher means a more successful attack.
fig, axes = plt.subplots(1, 3, figsize=(15, 4))
plot_robustness_curve(results, "accuracy", ax=axes[0])
plot_robustness_curve(
    results, "leakage", sign=-1, ax=axes[1], ylabel="probe ROC AUC for sex"
)
plot_robustness_curve(
    results, "dp", sign=-1, ax=axes[2], ylabel="demographic-parity difference"
)
fig.tight_layout()
plt.show()

# %%
# Leakage at the largest budget
# -----------------------------
auc = results[results["metric"] == "leakage"]
bars = {"clean": -auc.loc[auc["attack"] == "clean", "value"]}
for attack in ["eng", "nraa", "random"]:
    part = auc[(auc["attack"] == attack) & (auc["budget"] == 0.1)]
    bars[f"{attack} 10%"] = -part["value"]
ax = plot_leakage_bars(bars, reference={"chance": 0.5}, ylabel="probe ROC AUC for sex")
plt.show()

# %%
# Reading the result
# ------------------
# An attack works when the curves for leakage (and the fairness gap) rise
# above the clean model's level by more than the noise. The ``change``
# column of the summary is paired by fold, and ``ci_low`` / ``ci_high`` give
# its 95 % interval (corrected for the folds' shared training rows);
# :func:`~skfrl.evaluation.robustness_verdict` says in words which changes
# are beyond noise, and how small a change this grid could detect. Note
# that the scores here are negated (greater is better), so a harmful rise
# of leakage is a *fall* of the ``leakage`` score.
from skfrl.evaluation import robustness_verdict

for line in robustness_verdict(summary, harm={"accuracy": -1, "leakage": -1, "dp": -1}):
    print(line)

# %%
# To make the comparison sharper, use more rows, folds or ``n_repeats``, or
# run the grid on a cluster (see the user guide).
