"""Attack variants measured against CFair under fine-tuning, kept to be rerun.

They lost (see docs/user_guide/attacks.rst, "Variants that lose"), so they
are not library options; they live here, built on the attacks' extension
points (``BaseAttack._generate`` and ENG's base and label choice), so that
``bench_attacks.py --attacks cover-majority eng-anchor-k8 ...`` reproduces
them.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from skfrl.attacks import AnchorAttack, BaseAttack, PoisonGenerator, PoisonSet


class CoverMajority(BaseAttack):
    """Copies of the majority group's most revealing rows, recorded as the minority.

    Hypothesis: a conditional adversary only hides what it sees. Rows whose
    features give their own (majority) group the highest probability are
    mixed with relabelled copies in the population ratio, so the adversary
    sees a balanced region there and the encoder is free to keep ``s`` for
    the clean rows of that region.
    """

    def _generate(self, E, y, S, n_poison, rng):
        s0 = S.iloc[:, 0].to_numpy()
        groups, counts = np.unique(s0, return_counts=True)
        majority, minority = groups[np.argmax(counts)], groups[np.argmin(counts)]
        probe = LogisticRegression(max_iter=2000).fit(E, s0)
        own = probe.predict_proba(E)[
            np.arange(len(E)), np.searchsorted(probe.classes_, s0)
        ]
        members = np.flatnonzero(s0 == majority)
        members = members[np.argsort(-own[members], kind="stable")]
        region = members[
            : min(len(members), int(n_poison * counts.max() / counts.min()))
        ]
        base = rng.choice(region, size=n_poison, replace=n_poison > len(region))
        S_p = S.iloc[base].reset_index(drop=True).copy()
        S_p.iloc[:, 0] = minority
        return PoisonSet(E[base], base, y[base], S_p)


class ContradictoryPairs(BaseAttack):
    """Pairs of identical rows of the positive class, one per group.

    Hypothesis: CFair weighs a sample of the adversary of class ``k`` by
    ``1 / P(s | y = k)``, so in the positive class of Adult the few women
    weigh most. Rows that no adversary can fit (the same features recorded
    with both groups) put their heavily weighted, never-vanishing gradients
    into that adversary's optimizer; with ``extreme=True`` their numeric
    features sit at the top of the observed range, so those gradients are
    also large and inflate Adam's second moments, slowing the adversary
    down (a slow adversary lets a fresh probe find ``s``, see CFair's
    ``adversary_lr``).
    """

    def __init__(self, *, budget=0.05, extreme=False, random_state=None):
        super().__init__(budget=budget, random_state=random_state)
        self.extreme = extreme

    def _generate(self, E, y, S, n_poison, rng):
        space = self.feature_space_
        pool = np.flatnonzero(y == np.unique(y)[-1])
        half = (n_poison + 1) // 2
        base = np.resize(rng.choice(pool, size=half), n_poison)
        E_p = E[base].copy()
        if self.extreme:
            onehot = np.zeros(E.shape[1], dtype=bool)
            for cols in space.groups_:
                onehot[cols] = True
            E_p[:, ~onehot] = space.upper_[~onehot]
        S_p = S.iloc[base].reset_index(drop=True).copy()
        groups = np.unique(S.iloc[:, 0])
        S_p.iloc[:, 0] = np.where(np.arange(n_poison) < half, groups[0], groups[-1])
        return PoisonSet(E_p, base, y[base], S_p)


class AnchoredENG(PoisonGenerator):
    """ENG matched from anchoring's bases and labels.

    Hypothesis: anchoring works against CFair under fine-tuning because its
    poisons are concentrated where the task head must use ``s``; matching
    their features to the leakage gradient should add to it. Bases:
    ``n_anchors`` NRAA targets (half advantaged negatives, half
    disadvantaged positives), poisons spread evenly over them; labels: ``y``
    flipped and group kept (as anchoring), or ``y`` kept if that matches
    better (ENG's label search); features: ENG's matching.
    """

    n_anchors = 2

    def _bases(self, E, y, S, n_poison, rng, victims, proxy_pool):
        s0 = S.iloc[:, 0].to_numpy()
        (neg, pos), groups = np.unique(y), np.unique(s0)
        rates = [np.mean(y[s0 == g] == pos) for g in groups]
        adv, dis = groups if rates[0] >= rates[1] else groups[::-1]
        picker = AnchorAttack("non_random")
        targets = []
        for label, group in ((neg, adv), (pos, dis)):
            members = np.flatnonzero((y == label) & (s0 == group))
            for _ in range(max(1, self.n_anchors // 2)):
                targets.append(picker._pick_target(E, members, rng))
        per = np.resize(np.arange(len(targets)), n_poison)
        return np.asarray(targets)[np.sort(per)]

    def _labels(self, y, S, base, rng):
        labels = np.unique(y)
        y_p = np.where(y[base] == labels[0], labels[-1], labels[0])
        return y_p, S.iloc[base].reset_index(drop=True).copy()


def anchored_eng(victim, n_anchors: int, **params) -> AnchoredENG:
    attack = AnchoredENG(victim, **params)
    attack.n_anchors = n_anchors
    return attack
