"""A seeded, process-wide section of torch's random number generator."""

from __future__ import annotations

import contextlib
import threading

__all__ = ["torch_rng"]

#: Torch's default generator is one per process; threads that seed and draw
#: from it at the same time would interleave their streams.
_TORCH_RNG_LOCK = threading.RLock()


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
