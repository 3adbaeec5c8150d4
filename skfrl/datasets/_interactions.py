"""Synthetic user x item interactions with protected attributes planted in them."""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.utils import check_random_state

from ..utils._sklearn_compat import Interval, validate_params

__all__ = ["make_biased_interactions"]


@validate_params(
    {
        "n_users": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_items": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_factors": [Interval(numbers.Integral, 1, None, closed="left")],
        "mean_interactions": [Interval(numbers.Real, 1, None, closed="left")],
        "gender_bias": [Interval(numbers.Real, 0, None, closed="left")],
        "age_bias": [Interval(numbers.Real, 0, None, closed="left")],
        "popularity_scale": [Interval(numbers.Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_biased_interactions(
    n_users: int = 1000,
    n_items: int = 300,
    *,
    n_factors: int = 4,
    mean_interactions: float = 30.0,
    gender_bias: float = 1.0,
    age_bias: float = 1.0,
    popularity_scale: float = 1.0,
    random_state: int | np.random.RandomState | None = None,
) -> tuple[sp.csr_matrix, pd.DataFrame]:
    """Generate implicit-feedback data in which gender and age shape preferences.

    A small stand-in for a recommendation data set such as MovieLens or
    LFM-2b with user demographics: a binary ``gender`` and a continuous
    ``age`` shift which items a user interacts with, so a user's interaction
    vector reveals both, as in real data (Escobedo et al. 2024).

    Generative model:

    1. Each item ``j`` has a log-popularity ``b_j ~ popularity_scale *
       N(0, 1)``, taste factors ``v_j ~ N(0, I / sqrt(n_factors))``, a
       gender affinity ``g_j ~ N(0, 1)`` and an age affinity
       ``a_j ~ N(0, 1)``.
    2. Each user ``i`` has ``gender_i`` uniform in ``{0, 1}``, ``age_i``
       uniform in ``[18, 65]`` years, taste factors ``u_i ~ N(0, I)`` and
       ``n_i = 1 + Poisson(mean_interactions - 1)`` interactions (at most
       ``n_items``).
    3. Preference logits ``l_ij = b_j + u_i . v_j + gender_bias * (gender_i
       - 1/2) * g_j + age_bias * t_i * a_j``, with ``t_i`` the age rescaled
       to ``[-1/2, 1/2]``. The user's ``n_i`` items are drawn without
       replacement with probabilities proportional to ``exp(l_ij)``
       (Gumbel top-``n_i``).

    With ``gender_bias=0`` and ``age_bias=0`` the interactions are
    independent of both attributes.

    .. versionadded:: 0.1

    Parameters
    ----------
    n_users : int, default=1000
        Number of users (rows).
    n_items : int, default=300
        Number of items (columns).
    n_factors : int, default=4
        Dimension of the attribute-free taste factors.
    mean_interactions : float, default=30.0
        Mean number of interactions per user, at least 1.
    gender_bias : float, default=1.0
        How strongly gender shifts preferences; non-negative.
    age_bias : float, default=1.0
        How strongly age shifts preferences; non-negative.
    popularity_scale : float, default=1.0
        Spread of the item log-popularities; non-negative.
    random_state : int, RandomState instance or None, default=None
        Seed for reproducible output.

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n_users, n_items), float64
        Binary interactions (1.0 where the user interacted with the item).
    sensitive : DataFrame of shape (n_users, 2)
        ``gender`` (int64 in {0, 1}) and ``age`` (float64, years).

    Raises
    ------
    TypeError
        If an argument has the wrong type.
    ValueError
        If an argument is out of range.

    See Also
    --------
    make_biased_classification : Tabular data with a planted attribute.
    skfrl.models.AdversarialVAE : A Mult-VAE recommender with adversaries.

    Examples
    --------
    >>> from skfrl.datasets import make_biased_interactions
    >>> X, S = make_biased_interactions(n_users=200, n_items=50, random_state=0)
    >>> X.shape, X.format, list(S.columns)
    ((200, 50), 'csr', ['gender', 'age'])
    >>> bool((X.sum(axis=1) >= 1).all())
    True
    """
    rng = check_random_state(random_state)

    popularity = popularity_scale * rng.standard_normal(n_items)
    item_factors = rng.standard_normal((n_items, n_factors)) / np.sqrt(n_factors)
    gender_affinity = rng.standard_normal(n_items)
    age_affinity = rng.standard_normal(n_items)

    gender = rng.randint(2, size=n_users).astype(np.int64)
    age = rng.uniform(18.0, 65.0, size=n_users)
    user_factors = rng.standard_normal((n_users, n_factors))
    counts = np.minimum(1 + rng.poisson(mean_interactions - 1.0, size=n_users), n_items)

    age_position = (age - 18.0) / (65.0 - 18.0) - 0.5
    logits = (
        popularity
        + user_factors @ item_factors.T
        + gender_bias * (gender - 0.5)[:, np.newaxis] * gender_affinity
        + age_bias * age_position[:, np.newaxis] * age_affinity
    )
    # Adding Gumbel noise and keeping the top n_i samples n_i items without
    # replacement with probabilities proportional to exp(logits).
    perturbed = logits + rng.gumbel(size=logits.shape)
    order = np.argsort(-perturbed, axis=1)
    rows = np.repeat(np.arange(n_users), counts)
    cols = np.concatenate([order[i, : counts[i]] for i in range(n_users)])
    X = sp.csr_matrix(
        (np.ones(len(rows)), (rows, cols)), shape=(n_users, n_items), dtype=np.float64
    )
    X.sort_indices()
    return X, pd.DataFrame({"gender": gender, "age": age})
