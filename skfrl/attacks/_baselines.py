"""Baseline poisoning attacks: random poisoning, label flipping, anchoring."""

from __future__ import annotations

import numbers

import numpy as np

from ..utils._sklearn_compat import Interval, StrOptions
from ._base import BaseAttack, PoisonSet

__all__ = ["AnchorAttack", "LabelFlipping", "RandomPoisoning"]


def _other_values(values: np.ndarray, classes: np.ndarray, rng) -> np.ndarray:
    """Replace each value by a different class drawn uniformly."""
    out = values.copy()
    for i, v in enumerate(values):
        choices = classes[classes != v]
        out[i] = choices[rng.integers(len(choices))]
    return out


class RandomPoisoning(BaseAttack):
    """Resampled training rows with random feature noise.

    The floor any real attack must beat: each poison is a uniformly drawn
    training row plus Gaussian noise of ``noise_scale`` training standard
    deviations on every encoded feature (one-hot groups then take the
    arg-max, so categories change at random), keeping its label and
    sensitive value.

    .. versionadded:: 0.1

    Parameters
    ----------
    budget : float in (0, 1) or int, default=0.05
        Share of the training set, or number of poisons.
    noise_scale : float, default=0.5
        Noise standard deviation in units of each feature's standard
        deviation.
    random_state : int, RandomState instance or None, default=None
        Seed.

    Attributes
    ----------
    n_poison_, poison_mask_, poison_indices_, base_indices_, feature_space_
        See :class:`BaseAttack`.

    Examples
    --------
    >>> from skfrl.attacks import RandomPoisoning
    >>> from skfrl.datasets import make_biased_classification
    >>> X, y, s = make_biased_classification(n_samples=100, random_state=0)
    >>> X_aug, y_aug, s_aug = RandomPoisoning(budget=0.1, random_state=0
    ...                                       ).fit_resample(X, y, sensitive_features=s)
    >>> X_aug.shape, y_aug.shape, s_aug.shape
    ((110, 10), (110,), (110,))
    """

    _parameter_constraints: dict = {
        **BaseAttack._parameter_constraints,
        "noise_scale": [Interval(numbers.Real, 0, None, closed="left")],
    }

    def __init__(self, *, budget=0.05, noise_scale=0.5, random_state=None):
        super().__init__(budget=budget, random_state=random_state)
        self.noise_scale = noise_scale

    def _generate(self, E, y, S, n_poison, rng):
        base = rng.randint(0, len(E), size=n_poison)
        std = E.std(axis=0)
        noise = rng.normal(size=(n_poison, E.shape[1])) * std * self.noise_scale
        return PoisonSet(E[base] + noise, base, y[base], S.iloc[base])


class LabelFlipping(BaseAttack):
    """Copies of training rows with flipped labels (and optionally groups).

    .. versionadded:: 0.1

    Parameters
    ----------
    budget : float in (0, 1) or int, default=0.05
        Share of the training set, or number of poisons.
    flip_sensitive : bool, default=False
        Also give each poison a different sensitive group (categorical
        attributes only; continuous ones are kept).
    random_state : int, RandomState instance or None, default=None
        Seed.

    Attributes
    ----------
    n_poison_, poison_mask_, poison_indices_, base_indices_, feature_space_
        See :class:`BaseAttack`.

    Examples
    --------
    >>> import numpy as np
    >>> from skfrl.attacks import LabelFlipping
    >>> from skfrl.datasets import make_biased_classification
    >>> X, y, s = make_biased_classification(n_samples=100, random_state=0)
    >>> attack = LabelFlipping(budget=5, random_state=0)
    >>> X_aug, y_aug, s_aug = attack.fit_resample(X, y, sensitive_features=s)
    >>> bool(np.all(y_aug[100:] != y[attack.base_indices_]))
    True
    """

    _parameter_constraints: dict = {
        **BaseAttack._parameter_constraints,
        "flip_sensitive": ["boolean"],
    }

    # Every poison gets a label other than its row's.
    _requires_two_classes = True

    def __init__(self, *, budget=0.05, flip_sensitive=False, random_state=None):
        super().__init__(budget=budget, random_state=random_state)
        self.flip_sensitive = flip_sensitive

    def _generate(self, E, y, S, n_poison, rng):
        base = rng.randint(0, len(E), size=n_poison)
        y_new = _other_values(
            y[base], np.unique(y), np.random.default_rng(rng.randint(2**31))
        )
        s_new = S.iloc[base].copy()
        if self.flip_sensitive:
            g = np.random.default_rng(rng.randint(2**31))
            for col in s_new.columns:
                classes = np.unique(S[col].to_numpy())
                if S[col].dtype.kind == "f" and len(classes) > 10:
                    continue
                s_new[col] = _other_values(s_new[col].to_numpy(), classes, g)
        return PoisonSet(E[base], base, y_new, s_new)


def _neighbour_counts(points, candidates, radius, chunk_size=256):
    """Neighbours within ``radius`` of each candidate, chunk by chunk.

    Memory is ``chunk_size * len(points)`` distances, never ``n x n``.
    """
    counts = np.empty(len(candidates), dtype=np.int64)
    sq_points = np.einsum("ij,ij->i", points, points)
    for start in range(0, len(candidates), chunk_size):
        block = candidates[start : start + chunk_size]
        d2 = (
            np.einsum("ij,ij->i", block, block)[:, None]
            - 2.0 * block @ points.T
            + sq_points[None, :]
        )
        counts[start : start + chunk_size] = (d2 <= radius**2).sum(axis=1)
    return counts


class AnchorAttack(BaseAttack):
    """Anchoring attacks RAA and NRAA (Mehrabi et al., AAAI 2021).

    The advantaged group is the one with the higher rate of the positive
    label (the larger of two labels). Two targets are chosen: a negative
    example of the advantaged group and a positive example of the
    disadvantaged group. Half of the poisons are placed very near each
    target (Gaussian jitter of ``epsilon`` standard deviations), with the
    target's group and the *opposite* label, which pulls the decision
    boundary towards more positives for the advantaged and more negatives
    for the disadvantaged group.

    ``strategy="random"`` (RAA) draws the targets at random;
    ``"non_random"`` (NRAA) takes, within each (label, group) cell, the
    most "popular" point: the one with the most neighbours within
    ``radius``, so that each poison influences many points. Neighbours are
    counted chunk by chunk (no ``n x n`` matrix) among at most
    ``max_candidates`` sampled candidates.

    Binary ``y`` and a binary categorical first sensitive attribute are
    required (other attributes keep the target's values).

    .. versionadded:: 0.1

    Parameters
    ----------
    strategy : {"random", "non_random"}, default="non_random"
        RAA or NRAA.
    budget : float in (0, 1) or int, default=0.05
        Share of the training set, or number of poisons.
    epsilon : float, default=0.05
        Jitter around the targets, in feature standard deviations.
    radius : float or None, default=None
        NRAA neighbourhood radius in the encoded space; None uses the 5 %
        quantile of distances between random pairs of training rows.
    max_candidates : int, default=2000
        NRAA candidates per cell whose neighbours are counted.
    random_state : int, RandomState instance or None, default=None
        Seed.

    Attributes
    ----------
    targets_ : ndarray of shape (2,)
        Training row index of the advantaged-negative and the
        disadvantaged-positive target.
    advantaged_group_ : object
        Sensitive value of the advantaged group.
    n_poison_, poison_mask_, poison_indices_, base_indices_, feature_space_
        See :class:`BaseAttack`.

    References
    ----------
    .. [1] N. Mehrabi, M. Naveed, F. Morstatter and A. Galstyan,
       "Exacerbating Algorithmic Bias through Fairness Attacks", AAAI 2021.

    Examples
    --------
    >>> from skfrl.attacks import AnchorAttack
    >>> from skfrl.datasets import make_biased_classification
    >>> X, y, s = make_biased_classification(n_samples=200, random_state=0)
    >>> attack = AnchorAttack(budget=0.1, random_state=0)
    >>> X_aug, y_aug, s_aug = attack.fit_resample(X, y, sensitive_features=s)
    >>> attack.n_poison_
    20
    """

    _parameter_constraints: dict = {
        **BaseAttack._parameter_constraints,
        "strategy": [StrOptions({"random", "non_random"})],
        "epsilon": [Interval(numbers.Real, 0, None, closed="left")],
        "radius": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "max_candidates": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        strategy="non_random",
        *,
        budget=0.05,
        epsilon=0.05,
        radius=None,
        max_candidates=2000,
        random_state=None,
    ):
        super().__init__(budget=budget, random_state=random_state)
        self.strategy = strategy
        self.epsilon = epsilon
        self.radius = radius
        self.max_candidates = max_candidates

    def _generate(self, E, y, S, n_poison, rng):
        labels = np.unique(y)
        if len(labels) != 2:
            raise ValueError(
                f"{type(self).__name__} needs a binary y, got {len(labels)} classes."
            )
        s0 = S.iloc[:, 0].to_numpy()
        groups = np.unique(s0)
        if len(groups) != 2:
            raise ValueError(
                f"{type(self).__name__} needs a binary first sensitive attribute, "
                f"got {len(groups)} groups."
            )
        neg, pos = labels
        rates = [np.mean(y[s0 == g] == pos) for g in groups]
        adv, dis = (
            (groups[0], groups[1]) if rates[0] >= rates[1] else (groups[1], groups[0])
        )
        self.advantaged_group_ = adv
        cells = [(neg, adv), (pos, dis)]
        targets = []
        for label, group in cells:
            members = np.flatnonzero((y == label) & (s0 == group))
            if len(members) == 0:
                raise ValueError(
                    f"No training row has y={label!r} and group {group!r}; "
                    "anchoring needs both cells."
                )
            targets.append(self._pick_target(E, members, rng))
        self.targets_ = np.asarray(targets)
        n_first = (n_poison + 1) // 2
        base = np.r_[
            np.repeat(targets[0], n_first), np.repeat(targets[1], n_poison - n_first)
        ]
        std = E.std(axis=0)
        jitter = rng.normal(size=(n_poison, E.shape[1])) * std * self.epsilon
        y_new = np.where(y[base] == neg, pos, neg)
        return PoisonSet(E[base] + jitter, base, y_new, S.iloc[base])

    def _pick_target(self, E, members, rng) -> int:
        if self.strategy == "random":
            return int(members[rng.randint(len(members))])
        radius = self.radius
        if radius is None:
            i = rng.randint(0, len(E), size=2000)
            j = rng.randint(0, len(E), size=2000)
            d = np.linalg.norm(E[i] - E[j], axis=1)
            radius = float(np.quantile(d[d > 0], 0.05)) if np.any(d > 0) else 1.0
        candidates = members
        if len(candidates) > self.max_candidates:
            candidates = rng.choice(candidates, size=self.max_candidates, replace=False)
        counts = _neighbour_counts(E[members], E[candidates], radius)
        return int(candidates[np.argmax(counts)])
