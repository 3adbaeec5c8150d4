"""
==========================================================
Group robustness versus poisoning defenses: the tension
==========================================================

Group-robustness methods and poisoning defenses both look for *hard* rows,
the ones a quick model gets wrong or fits with low confidence. Panaitescu-
Liess et al. (ICLR 2024) showed that this puts them at odds: Just Train
Twice (JTT) up-weights hard rows, and a backdoor's poisons are hard rows, so
JTT amplifies the backdoor; a filter that removes hard rows also removes the
legitimate rows of groups the model fits badly.

This example reproduces both halves on Adult (sensitive attribute ``sex``)
with a :class:`~skfrl.attacks.DirtyLabelBackdoor` and a
``HistGradientBoostingClassifier`` as the final model:

- left: attack success on triggered test rows against the poison rate, for
  plain training (ERM) and for JTT (:class:`~skfrl.defenses.JTTReweighter`
  weights passed to the same model);
- right: the share of legitimate rows that a
  :class:`~skfrl.defenses.LossFilter` removes from each (label x sex) cell
  as its contamination grows.

To run in a minute or two on one CPU core it uses 4,000 training rows and
two seeds, so single points are noisy; :ref:`defenses_benchmark` reports
more seeds, rates and COMPAS.
"""

# %%
# Data
# ----
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from skfrl.attacks import DirtyLabelBackdoor
from skfrl.datasets import load_adult, make_preprocessor
from skfrl.defenses import JTTReweighter, LossFilter
from skfrl.metrics import attack_success_rate, minority_removal_rate

X_all, y_all, s_all = load_adult(sensitive="sex", subset="train", return_X_y_s=True)
SEEDS = [0, 1]


def split(seed):
    return train_test_split(
        X_all,
        y_all,
        s_all,
        train_size=4000,
        test_size=2000,
        stratify=y_all.astype(str) + s_all.astype(str),
        random_state=seed,
    )


def model(X, seed):
    return make_pipeline(
        make_preprocessor(X), HistGradientBoostingClassifier(random_state=seed)
    )


# %%
# JTT amplifies the backdoor
# --------------------------
# The backdoor appends copies of training rows with a rare trigger (two
# categorical values that seldom occur together) and the target label. JTT's
# identification model (a briefly trained logistic regression) gets the
# poisons wrong, so they land in its error set and weigh ``upweight`` times
# more in the final training. Rate 0 is the success on triggered rows
# without any poison: the baseline each curve starts from.
rates = [0.0, 0.002, 0.005, 0.01, 0.02]
asr = {"ERM": np.zeros((len(SEEDS), len(rates))), "JTT": None}
asr["JTT"] = np.zeros_like(asr["ERM"])
for i, seed in enumerate(SEEDS):
    X, X_test, y, y_test, s, s_test = split(seed)
    for j, rate in enumerate(rates):
        # budget=1 at rate 0 only to fit the trigger; the poison is dropped.
        backdoor = DirtyLabelBackdoor(budget=rate or 1, random_state=seed)
        X_p, y_p, s_p = backdoor.fit_resample(X, y, sensitive_features=s)
        if rate == 0:
            X_p, y_p = X, y
        X_trig = backdoor.apply_trigger(X_test)
        target = backdoor.target_label_
        erm = model(X, seed).fit(X_p, y_p)
        jtt = JTTReweighter(upweight=5, random_state=seed).fit(X_p, y_p)
        reweighted = model(X, seed).fit(
            X_p, y_p, histgradientboostingclassifier__sample_weight=jtt.sample_weight_
        )
        for name, fitted in (("ERM", erm), ("JTT", reweighted)):
            asr[name][i, j] = attack_success_rate(
                fitted.predict(X_trig), target, y_true=y_test
            )

for name, values in asr.items():
    print(
        name,
        "attack success by rate",
        dict(zip(rates, values.mean(0).round(3).tolist(), strict=True)),
    )

# %%
# A loss filter removes the hardest cell
# --------------------------------------
# :class:`~skfrl.defenses.LossFilter` removes the rows whose own label gets
# the lowest out-of-fold probability. On clean data, every removed row is a
# legitimate one: the curves show which (label x sex) cells pay for the
# filter. The dashed line is the contamination itself (what a filter that
# ignores the cells would remove from each).
contaminations = [0.02, 0.05, 0.1, 0.2]
removal = []
for seed in SEEDS:
    X, X_test, y, y_test, s, s_test = split(seed)
    cells = y.astype(str).map({"0": "<=50K", "1": ">50K"}).fillna(y.astype(str))
    cells = (s.astype(str) + ", " + cells).to_numpy()
    for c in contaminations:
        lf = LossFilter(contamination=c, random_state=seed).fit(
            X, y, sensitive_features=s
        )
        rates_c = minority_removal_rate(lf.removed_mask_, cells, per_group=True)
        removal.append(rates_c.rename(c))
removal = pd.concat(removal, axis=1).T.groupby(level=0).mean()
print(removal.round(3))

# %%
# Plot
# ----
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
for name, marker in (("ERM", "o"), ("JTT", "s")):
    mean, sd = asr[name].mean(axis=0), asr[name].std(axis=0)
    ax1.errorbar(
        np.array(rates) * 100, mean, yerr=sd, marker=marker, capsize=3, label=name
    )
ax1.set_xlabel("poison rate (% of training rows)")
ax1.set_ylabel("attack success on triggered test rows")
ax1.set_title("Dirty-label backdoor: ERM vs JTT")
ax1.set_ylim(0, 1.02)
ax1.legend()

sizes = pd.Series(cells).value_counts()
for cell in removal.columns:
    style = "-" if cell == sizes.idxmin() else "--"
    ax2.plot(
        removal.index,
        removal[cell],
        style,
        marker="o",
        label=f"{cell} ({sizes[cell]} rows)",
    )
ax2.plot(contaminations, contaminations, ":", color="grey", label="contamination")
ax2.set_xlabel("LossFilter contamination")
ax2.set_ylabel("share of legitimate rows removed")
ax2.set_title("Filtering removes the smallest (label x sex) cell")
ax2.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %%
# Reading
# -------
# JTT weighs the poisons several times more than ERM does (most of them
# land in its error set), and its success lies above ERM's at rate 0 and
# where the backdoor is still weak. Read the rise from each curve's own
# start, though: at rate 0 JTT's success is already higher, because
# up-weighting the error set moves predictions towards the rarer label,
# which is the target. Beyond that shift, the extra rise JTT adds is within
# the spread between seeds, and once the backdoor works on its own JTT's
# curve can fall below ERM's (the error set holds over a thousand other
# up-weighted rows that dilute the poisons). On this tabular data the
# amplification of the poisons is clear; a larger attack success from it
# is not. The benchmark page measures both over more seeds.
#
# The loss filter does not remove women as a whole more than men, but it
# removes the smallest cell, women earning more than 50K, several times as
# often as the contamination: exactly the rows on which worst-group
# accuracy is measured.
