"""Seeding: one seed per ``random_state``, filled-in sub-estimators, torch's RNG."""

from __future__ import annotations

import contextlib
import numbers
import threading

import numpy as np

from ._sklearn_compat import HasMethods, validate_params

__all__ = ["fill_random_state", "seed_from", "torch_rng"]

#: Torch's default generator is one per process; threads that seed and draw
#: from it at the same time would interleave their streams.
_TORCH_RNG_LOCK = threading.RLock()


@validate_params({"seed": [numbers.Integral]}, prefer_skip_nested_validation=True)
@contextlib.contextmanager
def torch_rng(seed: int):
    """Run a block on torch's global generator seeded with ``seed``, alone.

    Forks torch's CPU generator (the caller's state is restored afterwards),
    seeds it, and holds a process-wide re-entrant lock meanwhile, so that
    two threads of one process (e.g. a Dask worker with several threads)
    never interleave their draws: each block gives the numbers it would give
    alone.

    .. versionadded:: 0.1

    Parameters
    ----------
    seed : int
        Seed of torch's generator inside the block.

    Examples
    --------
    >>> import torch
    >>> from skfrl.utils import torch_rng
    >>> with torch_rng(0):
    ...     a = torch.rand(2)
    >>> with torch_rng(0):
    ...     b = torch.rand(2)
    >>> bool(torch.equal(a, b))
    True
    """
    import torch

    with _TORCH_RNG_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


@validate_params({"random_state": ["random_state"]}, prefer_skip_nested_validation=True)
def seed_from(random_state) -> int:
    """Draw one int32 seed from ``random_state``.

    The one way skfrl turns a ``random_state`` parameter (None, an int or a
    :class:`numpy.random.RandomState`) into a seed for torch or for a
    sub-estimator: the same ``random_state`` gives the same seed.

    .. versionadded:: 0.1

    Parameters
    ----------
    random_state : int, RandomState instance or None
        As scikit-learn's :func:`~sklearn.utils.check_random_state` takes it.

    Returns
    -------
    seed : int
        In ``[0, 2**31 - 1)``.

    Examples
    --------
    >>> from skfrl.utils import seed_from
    >>> seed_from(0) == seed_from(0)
    True
    """
    from sklearn.utils import check_random_state

    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


@validate_params(
    {
        "estimator": [HasMethods(["get_params", "set_params"])],
        "seed": [numbers.Integral],
        "deep": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def fill_random_state(estimator, seed: int, *, deep: bool = True):
    """Give every unset ``random_state`` of ``estimator`` the seed ``seed``.

    Parameters set to anything but None are left alone, so a user's explicit
    seed wins. Works in place and returns ``estimator`` (clone it first to
    keep the caller's object unchanged).

    .. versionadded:: 0.1

    Parameters
    ----------
    estimator : estimator
        Any object with scikit-learn's ``get_params``/``set_params``.
    seed : int
        The seed given to unset ``random_state`` parameters.
    deep : bool, default=True
        Also fill nested estimators' ``random_state`` (``step__random_state``
        of a Pipeline, ``estimator__random_state`` of a wrapper).

    Returns
    -------
    estimator : estimator
        The same object.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from skfrl.utils import fill_random_state
    >>> pipe = fill_random_state(make_pipeline(LogisticRegression()), 7)
    >>> pipe[-1].random_state
    7
    """
    params = estimator.get_params(deep=deep)
    unset = {
        key: seed
        for key, value in params.items()
        if (key == "random_state" or key.endswith("__random_state")) and value is None
    }
    if unset:
        estimator.set_params(**unset)
    return estimator
