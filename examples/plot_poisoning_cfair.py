"""
=================================================
Poisoning a CFair pipeline: leakage versus budget
=================================================

A data provider who can add a few rows to the training data of a fair
representation model may try to make the representation leak the
sensitive attribute again. This example poisons a
``make_preprocessor -> CFair`` pipeline fitted on Adult (sensitive attribute
``sex``) with each attack of :mod:`skfrl.attacks` at budgets of 0 %
(clean), 5 % and 10 % of the training set, retrains the victim from scratch
on clean + poisoned rows, and measures how well a logistic probe recovers
``sex`` from the representation of clean held-out rows
(:func:`skfrl.metrics.representation_leakage`, ROC AUC; 0.5 is chance).

Poisoned rows are valid raw records: attacks work in the encoded feature
space and decode poisons back into categories and in-range numbers.

To run in a few minutes on one CPU core this example uses 3,000 training
rows and one seed, so single points are noisy: differences of a few
hundredths of AUC are within the run-to-run spread. The
:ref:`attacks_benchmark` page reports several seeds, data sets and victims:
against CFair no attack moves leakage beyond that spread at these budgets,
while ENG clearly raises it against the VAE-based models (ICVAE).
"""

# %%
# Data and victim
# ---------------
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from sklearn.base import clone
from sklearn.pipeline import make_pipeline

from skfrl.attacks import (
    AnchorAttack,
    LabelFlipping,
    PoisonGenerator,
    RandomPoisoning,
)
from skfrl.datasets import load_adult, make_preprocessor
from skfrl.metrics import representation_leakage
from skfrl.models import CFair

torch.set_num_threads(1)
X, y, s = load_adult(sensitive="sex", subset="train", return_X_y_s=True)
X_test, y_test, s_test = load_adult(sensitive="sex", subset="test", return_X_y_s=True)
rows = np.sort(np.random.default_rng(0).choice(len(X), size=3000, replace=False))
X, y, s = X.iloc[rows], y.iloc[rows], s.iloc[rows]
X_test, y_test, s_test = X_test.iloc[:2000], y_test.iloc[:2000], s_test.iloc[:2000]

victim = make_pipeline(make_preprocessor(X), CFair(random_state=0))

# %%
# The attacks
# -----------
# :class:`~skfrl.attacks.PoisonGenerator` (ENG) fits the victim on the clean
# data and crafts poisons by gradient matching against it; the other attacks
# do not look at the victim.


def make_attacks(budget):
    return {
        "ENG": PoisonGenerator(victim, budget=budget, random_state=0),
        "RAA": AnchorAttack("random", budget=budget, random_state=0),
        "NRAA": AnchorAttack("non_random", budget=budget, random_state=0),
        "random": RandomPoisoning(budget=budget, random_state=0),
        "label flip": LabelFlipping(budget=budget, flip_sensitive=True, random_state=0),
    }


def leakage_after_retraining(X_train, y_train, s_train):
    """Fit a fresh victim on (possibly poisoned) data; leakage on clean rows."""
    model = clone(victim).fit(X_train, y_train, cfair__sensitive_features=s_train)
    Z_test = model.transform(X_test)
    return representation_leakage(Z_test, s_test, cv=3, random_state=0)


clean = leakage_after_retraining(X, y, s)
records = []
for budget in (0.05, 0.10):
    for name, attack in make_attacks(budget).items():
        X_aug, y_aug, s_aug = attack.fit_resample(X, y, sensitive_features=s)
        auc = leakage_after_retraining(X_aug, y_aug, s_aug)
        records.append({"attack": name, "budget": budget, "probe AUC": auc})
results = pd.DataFrame(records)
print(f"clean victim: probe AUC {clean:.3f}")
print(results.pivot(index="attack", columns="budget", values="probe AUC").round(3))

# %%
# Leakage versus budget
# ---------------------
# Every line starts at the clean victim (budget 0). A line that climbs means
# that the attack made the retrained representation leak more ``sex``.
fig, ax = plt.subplots(figsize=(6, 4))
for name, group in results.groupby("attack", sort=False):
    ax.plot(
        [0.0, *group["budget"]],
        [clean, *group["probe AUC"]],
        marker="o",
        label=name,
    )
ax.axhline(0.5, color="grey", lw=0.8, ls=":")
ax.set_xlabel("poison budget (share of the training set)")
ax.set_ylabel("probe ROC AUC for sex from Z (held-out)")
ax.set_title("CFair on Adult, retrained on clean + poisoned rows")
ax.legend()
fig.tight_layout()
plt.show()
