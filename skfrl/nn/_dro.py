"""Distributionally robust group weights in a KL ball (FAAL-style DRO)."""

from __future__ import annotations

import math

import torch

__all__ = ["grouped_dro_loss", "kl_dro_weights"]


def kl_dro_weights(
    group_losses: torch.Tensor, radius: float, *, n_iter: int = 60
) -> torch.Tensor:
    """Worst-case weights over groups within a KL ball around uniform.

    Solves ``max_q sum_g q_g L_g`` subject to ``KL(q || uniform) <= radius``.
    The maximiser is ``q_g ∝ exp(L_g / tau)`` (a Gibbs distribution); the KL
    divergence falls monotonically as the temperature ``tau`` grows, so
    ``tau`` is found by bisection (on ``log tau``) such that the constraint
    holds with equality. The weights are detached: the model minimises the
    reweighted loss, the adversary of the DRO game is solved in closed form.

    .. versionadded:: 0.1

    Parameters
    ----------
    group_losses : Tensor of shape (n_groups,)
        Mean loss of each group present in the batch.
    radius : float
        ``rho >= 0``; 0 gives uniform weights, ``log(n_groups)`` or more all
        weight on the worst group.
    n_iter : int, default=60
        Bisection steps.

    Returns
    -------
    Tensor of shape (n_groups,)
        Weights summing to 1, without gradient.

    Examples
    --------
    >>> import torch
    >>> from skfrl.nn import kl_dro_weights
    >>> w = kl_dro_weights(torch.tensor([0.2, 0.4, 1.0]), radius=0.1)
    >>> bool(w[2] > w[1] > w[0]) and abs(float(w.sum()) - 1) < 1e-6
    True
    >>> kl_dro_weights(torch.tensor([0.2, 0.4, 1.0]), radius=0.0)
    tensor([0.3333, 0.3333, 0.3333])
    """
    losses = group_losses.detach().to(torch.float64)
    n = losses.numel()
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius!r}.")
    uniform = torch.full_like(losses, 1.0 / max(n, 1))
    spread = float(losses.max() - losses.min()) if n else 0.0
    if n <= 1 or radius == 0 or spread <= 0:
        return uniform.to(group_losses.dtype)
    if radius >= math.log(n):
        worst = torch.zeros_like(losses)
        worst[int(torch.argmax(losses))] = 1.0
        return worst.to(group_losses.dtype)

    def kl(log_tau: float) -> tuple[float, torch.Tensor]:
        q = torch.softmax(losses / math.exp(log_tau), dim=0)
        value = float((q * torch.log(q.clamp_min(1e-300) * n)).sum())
        return value, q

    # tau spans the loss spread's scale: far below it q is the worst group's
    # indicator (KL near log n), far above it q is uniform (KL near 0).
    lo, hi = math.log(spread) - 12.0, math.log(spread) + 12.0
    q = uniform
    for _ in range(n_iter):
        mid = 0.5 * (lo + hi)
        value, q = kl(mid)
        if value > radius:
            lo = mid  # too concentrated: raise the temperature
        else:
            hi = mid
    _, q = kl(hi)  # the feasible side of the bracket
    return q.to(group_losses.dtype)


def grouped_dro_loss(
    per_sample: torch.Tensor, groups: torch.Tensor, radius: float
) -> torch.Tensor:
    """KL-DRO reweighting of per-sample losses by group.

    Averages ``per_sample`` within each group present, weighs the group
    means by :func:`kl_dro_weights` and sums them.

    .. versionadded:: 0.1

    Parameters
    ----------
    per_sample : Tensor of shape (n,)
        Per-sample losses.
    groups : Tensor of shape (n,), int64
        Group code of each sample (e.g. the label, or label x group cell).
    radius : float
        KL radius ``rho``.

    Returns
    -------
    Tensor
        Scalar loss, differentiable in ``per_sample``.

    Examples
    --------
    >>> import torch
    >>> from skfrl.nn import grouped_dro_loss
    >>> losses = torch.tensor([0.1, 0.1, 2.0])
    >>> groups = torch.tensor([0, 0, 1])
    >>> bool(grouped_dro_loss(losses, groups, 0.2) > losses.mean())
    True
    """
    uniq, inverse = torch.unique(groups, return_inverse=True)
    sums = torch.zeros(len(uniq), dtype=per_sample.dtype, device=per_sample.device)
    sums = sums.index_add(0, inverse, per_sample)
    counts = torch.bincount(inverse, minlength=len(uniq)).to(per_sample.dtype)
    means = sums / counts
    return (kl_dro_weights(means, radius) * means).sum()
