"""Variational building blocks: Gaussian encoder, KL terms, mixed likelihood, MMD.

Shared by the VAE family of fair-representation models (ICVAE, VFAE and
the adversarial VAE). Everything here is plain PyTorch; shapes use ``B``
for the batch size and ``d`` for the latent dimension.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ._layers import MLP

__all__ = [
    "RFFMMD",
    "GaussianEncoder",
    "MixedReconstructionLoss",
    "gaussian_kl_standard",
    "pairwise_gaussian_kl",
    "reparameterize",
    "rff_mmd",
]


class GaussianEncoder(nn.Module):
    """Diagonal Gaussian posterior ``q(z|x) = N(mu(x), diag(exp(logvar(x))))``.

    One MLP maps the input to ``2 * latent_dim`` outputs, split into the mean
    and the log-variance.

    .. versionadded:: 0.1

    Parameters
    ----------
    in_features : int
        Input width.
    hidden_sizes : sequence of int
        Hidden layers of the MLP (ReLU); empty for a linear encoder.
    latent_dim : int
        Dimension ``d`` of ``z``.
    logvar_min, logvar_max : float, default=-10.0, 5.0
        The log-variance is clamped to this range. Very small variances make
        the pairwise KL and the reparameterised samples explode (terms in
        ``1 / sigma^2``); very large ones are never useful for standardised
        data. The clamp keeps training finite without affecting sane fits.

    Examples
    --------
    >>> import torch
    >>> from skfrl.nn import GaussianEncoder
    >>> enc = GaussianEncoder(5, (16,), 3)
    >>> mu, logvar = enc(torch.zeros(4, 5))
    >>> mu.shape, logvar.shape
    (torch.Size([4, 3]), torch.Size([4, 3]))
    """

    def __init__(
        self,
        in_features: int,
        hidden_sizes: Sequence[int],
        latent_dim: int,
        *,
        logvar_min: float = -10.0,
        logvar_max: float = 5.0,
    ):
        super().__init__()
        self.latent_dim = int(latent_dim)
        self.logvar_min = float(logvar_min)
        self.logvar_max = float(logvar_max)
        self.net = MLP(in_features, tuple(hidden_sizes), 2 * self.latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(mu, logvar)``, each of shape ``(B, latent_dim)``."""
        mu, logvar = self.net(x).chunk(2, dim=-1)
        return mu, logvar.clamp(self.logvar_min, self.logvar_max)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Draw ``z = mu + sigma * eps`` with ``eps ~ N(0, I)``, differentiably.

    The noise comes from torch's global generator, which
    :class:`~skfrl._base.BaseFairNet` seeds from ``random_state``.

    .. versionadded:: 0.1

    Parameters
    ----------
    mu, logvar : Tensor of shape (B, d)
        Mean and log-variance of the diagonal Gaussian.

    Returns
    -------
    z : Tensor of shape (B, d)
        One sample per row.

    Examples
    --------
    >>> import torch
    >>> from skfrl.nn import reparameterize
    >>> mu = torch.zeros(2, 3)
    >>> reparameterize(mu, torch.full((2, 3), -100.0)).abs().max().item() < 1e-10
    True
    """
    return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)


def gaussian_kl_standard(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, diag(exp(logvar))) || N(0, I))`` per sample.

    .. versionadded:: 0.1

    Parameters
    ----------
    mu, logvar : Tensor of shape (B, d)
        Posterior parameters.

    Returns
    -------
    kl : Tensor of shape (B,)
        ``0.5 * sum_k (mu_k^2 + sigma_k^2 - 1 - log sigma_k^2)``, in nats.

    Examples
    --------
    >>> import torch
    >>> from skfrl.nn import gaussian_kl_standard
    >>> gaussian_kl_standard(torch.zeros(2, 3), torch.zeros(2, 3))
    tensor([0., 0.])
    >>> gaussian_kl_standard(torch.ones(1, 2), torch.zeros(1, 2))
    tensor([1.])
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=-1)


def pairwise_gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Mean over ordered pairs ``i != j`` of ``KL(q(z|x_i) || q(z|x_j))``.

    The invariance term of Moyer et al. (2018): for diagonal Gaussian
    posteriors, ``E_x KL(q(z|x) || q(z))`` (an upper bound on the
    compression ``I(z; x)``, and through it on ``I(z; s)`` given the
    s-conditioned decoder) is bounded by the mean pairwise KL in a batch.

    The closed form of the sum over all pairs factorises over the batch:
    with ``w = 1 / sigma^2``,
    ``sum_ij KL_ij = 0.5 * sum_k [S(sigma^2) S(w) - B^2 + S(w) S(mu^2)
    - 2 S(mu) S(mu w) + B S(mu^2 w)]`` (``S`` sums over the batch), so the
    cost is ``O(B d)`` instead of ``O(B^2 d)``. The means are centred first,
    which leaves every difference ``mu_i - mu_j`` unchanged and avoids
    cancellation between large terms in float32.

    .. versionadded:: 0.1

    Parameters
    ----------
    mu, logvar : Tensor of shape (B, d)
        Posterior parameters of the batch, ``B >= 2``.

    Returns
    -------
    kl : Tensor of shape ()
        Mean pairwise KL in nats (0 for a batch of one sample).

    References
    ----------
    .. [1] D. Moyer, S. Gao, R. Brekelmans, A. Galstyan and G. Ver Steeg,
       "Invariant Representations without Adversarial Training",
       NeurIPS 2018.

    Examples
    --------
    >>> import torch
    >>> from skfrl.nn import pairwise_gaussian_kl
    >>> mu = torch.tensor([[0.0], [2.0]])
    >>> pairwise_gaussian_kl(mu, torch.zeros(2, 1))  # 0.5 * (0 - 2)^2
    tensor(2.)
    """
    n = mu.shape[0]
    if n < 2:
        return mu.new_zeros(())
    m = mu - mu.mean(dim=0, keepdim=True)
    var = logvar.exp()
    w = torch.exp(-logvar)
    sum_w = w.sum(dim=0)
    m2 = m.pow(2)
    # The log-determinant terms cancel over all ordered pairs.
    trace = var.sum(dim=0) * sum_w - n * n
    quad = sum_w * m2.sum(dim=0) - 2.0 * m.sum(dim=0) * (m * w).sum(dim=0)
    quad = quad + n * (m2 * w).sum(dim=0)
    return 0.5 * (trace + quad).sum() / (n * (n - 1))


class MixedReconstructionLoss(nn.Module):
    """Negative log-likelihood of mixed numeric / one-hot data, per sample.

    The decoder emits one output per column of ``x``. Numeric columns get a
    Gaussian likelihood with unit variance: the NLL is ``0.5 * (x - x_hat)^2``
    (the constant ``0.5 * log(2 pi)`` is dropped, so a perfect reconstruction
    costs 0). Unit variance matches standardised numeric columns (as
    :func:`skfrl.datasets.make_preprocessor` produces) and, unlike a learned
    variance, cannot collapse to a degenerate likelihood. The outputs of each
    one-hot group are logits of a categorical distribution (softmax within
    the group) and cost the cross-entropy ``-sum_k x_k log p_k``; a group of
    a single column is a Bernoulli variable (sigmoid). A row whose group is
    all zeros (a category unseen in training) costs nothing for that group.

    .. versionadded:: 0.1

    Parameters
    ----------
    n_features : int
        Number of columns of ``x``.
    categorical_groups : list of list of int or None, default=None
        Column indices of each one-hot group, e.g. from
        :func:`skfrl.datasets.one_hot_groups`. Groups must be disjoint.
        ``None``: every column is Gaussian.

    Examples
    --------
    >>> import torch
    >>> from skfrl.nn import MixedReconstructionLoss
    >>> loss = MixedReconstructionLoss(3, categorical_groups=[[0, 1]])
    >>> x = torch.tensor([[1.0, 0.0, 0.5]])
    >>> x_hat = torch.tensor([[0.0, 0.0, 1.5]])  # logits 0, 0; mean 1.5
    >>> round(loss(x_hat, x).item(), 4)  # log(2) + 0.5 * 1.0^2
    1.1931
    """

    def __init__(
        self,
        n_features: int,
        categorical_groups: Sequence[Sequence[int]] | None = None,
    ):
        super().__init__()
        self.n_features = int(n_features)
        groups = [] if categorical_groups is None else categorical_groups
        seen: set[int] = set()
        clean: list[list[int]] = []
        for g in groups:
            g = [int(i) for i in g]
            if not g:
                raise ValueError("categorical_groups contains an empty group.")
            bad = [i for i in g if not 0 <= i < self.n_features]
            if bad:
                raise ValueError(
                    f"categorical_groups has column indices {bad} outside "
                    f"[0, {self.n_features})."
                )
            if seen.intersection(g) or len(set(g)) != len(g):
                raise ValueError(
                    "categorical_groups must be disjoint groups of distinct "
                    f"columns; column(s) {sorted(seen.intersection(g))} repeat."
                )
            seen.update(g)
            clean.append(g)
        self.categorical_groups = clean
        numeric = [i for i in range(self.n_features) if i not in seen]
        self.register_buffer("numeric_idx", torch.as_tensor(numeric, dtype=torch.long))
        for k, g in enumerate(clean):
            self.register_buffer(f"group_{k}", torch.as_tensor(g, dtype=torch.long))

    def _groups(self):
        return [
            getattr(self, f"group_{k}") for k in range(len(self.categorical_groups))
        ]

    def forward(self, x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Return the NLL of each row of ``x``, shape ``(B,)``.

        Parameters
        ----------
        x_hat : Tensor of shape (B, n_features)
            Decoder outputs (means for numeric columns, logits for groups).
        x : Tensor of shape (B, n_features)
            Data.
        """
        nll = 0.5 * (x_hat[:, self.numeric_idx] - x[:, self.numeric_idx]).pow(2)
        nll = nll.sum(dim=-1)
        for idx in self._groups():
            logits, target = x_hat[:, idx], x[:, idx]
            if len(idx) == 1:
                nll = nll + F.binary_cross_entropy_with_logits(
                    logits, target, reduction="none"
                ).squeeze(-1)
            else:
                nll = nll - (target * F.log_softmax(logits, dim=-1)).sum(dim=-1)
        return nll

    def mean(self, x_hat: torch.Tensor) -> torch.Tensor:
        """Expected ``x`` under the decoder: means and group probabilities.

        Parameters
        ----------
        x_hat : Tensor of shape (B, n_features)
            Decoder outputs.

        Returns
        -------
        Tensor of shape (B, n_features)
            Reconstruction in the data space.
        """
        out = x_hat.clone()
        for idx in self._groups():
            if len(idx) == 1:
                out[:, idx] = torch.sigmoid(x_hat[:, idx])
            else:
                out[:, idx] = torch.softmax(x_hat[:, idx], dim=-1)
        return out

    def extra_repr(self) -> str:  # noqa: D102
        return (
            f"n_features={self.n_features}, "
            f"n_categorical_groups={len(self.categorical_groups)}"
        )


def _rff(z: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    return math.sqrt(2.0 / weight.shape[1]) * torch.cos(z @ weight + bias)


def _mmd_from_features(phi: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """Mean over groups of squared MMD(group, rest) from mean feature maps."""
    groups = groups.reshape(-1).long()
    n = phi.shape[0]
    n_groups = int(groups.max().item()) + 1 if n else 0
    onehot = F.one_hot(groups, n_groups).to(phi.dtype)  # (B, G)
    counts = onehot.sum(dim=0)  # (G,)
    present = (counts > 0) & (counts < n)
    if not bool(present.any()):
        return phi.new_zeros(())
    sums = onehot.T @ phi  # (G, D)
    total = phi.sum(dim=0, keepdim=True)
    c = counts[present].unsqueeze(1)
    mean_in = sums[present] / c
    mean_out = (total - sums[present]) / (n - c)
    return (mean_in - mean_out).pow(2).sum(dim=1).mean()


def rff_mmd(
    z: torch.Tensor,
    groups: torch.Tensor,
    *,
    n_features: int = 500,
    bandwidth: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Squared MMD between each group's and the other samples' ``z``.

    The Gaussian kernel ``k(a, b) = exp(-||a - b||^2 / (2 bandwidth^2))`` is
    approximated with ``n_features`` random Fourier features
    ``phi(z) = sqrt(2/D) cos(z W + b)``, ``W ~ N(0, bandwidth^-2)``,
    ``b ~ U(0, 2 pi)`` (Rahimi & Recht 2007), so the squared MMD of two
    samples is the squared distance of their mean feature maps: linear in
    the batch size. For each group present in the batch the squared MMD to
    the rest of the batch is computed; the result is their mean (for a
    binary attribute, the MMD between the two groups, as in the VFAE).

    This function draws new features at every call, from ``generator`` or
    from torch's global generator; training should use :class:`RFFMMD`,
    which draws them once.

    .. versionadded:: 0.1

    Parameters
    ----------
    z : Tensor of shape (B, d)
        Representations.
    groups : Tensor of shape (B,)
        Integer group codes.
    n_features : int, default=500
        Number of random features ``D``.
    bandwidth : float, default=1.0
        Kernel bandwidth (standard deviation).
    generator : torch.Generator or None, default=None
        Source of the random features.

    Returns
    -------
    mmd2 : Tensor of shape ()
        Squared MMD estimate (0 when the batch holds a single group).

    References
    ----------
    .. [1] C. Louizos, K. Swersky, Y. Li, M. Welling and R. Zemel, "The
       Variational Fair Autoencoder", ICLR 2016.
    .. [2] A. Rahimi and B. Recht, "Random Features for Large-Scale Kernel
       Machines", NeurIPS 2007.

    Examples
    --------
    >>> import torch
    >>> from skfrl.nn import rff_mmd
    >>> g = torch.Generator().manual_seed(0)
    >>> z = torch.randn(200, 2, generator=g)
    >>> s = torch.arange(200) % 2
    >>> same = rff_mmd(z, s, generator=g)
    >>> shifted = rff_mmd(z + 2.0 * s[:, None], s, generator=g)
    >>> bool(shifted > 10 * same)
    True
    """
    d = z.shape[1]
    weight = torch.randn(d, n_features, generator=generator) / float(bandwidth)
    bias = torch.rand(n_features, generator=generator) * (2 * math.pi)
    weight, bias = weight.to(z), bias.to(z)
    return _mmd_from_features(_rff(z, weight, bias), groups)


class RFFMMD(nn.Module):
    """:func:`rff_mmd` with random features drawn once, stored as buffers.

    Drawing the features at construction (from torch's global generator,
    seeded by :class:`~skfrl._base.BaseFairNet`, or from ``generator``) makes
    training deterministic and the module picklable; they move with
    ``.to(device)`` and are saved in the ``state_dict``.

    .. versionadded:: 0.1

    Parameters
    ----------
    in_features : int
        Dimension of ``z``.
    n_features : int, default=500
        Number of random Fourier features.
    bandwidth : float, default=1.0
        Gaussian kernel bandwidth (standard deviation).
    generator : torch.Generator or None, default=None
        Source of the random features.

    Examples
    --------
    >>> import torch
    >>> from skfrl.nn import RFFMMD
    >>> mmd = RFFMMD(2, generator=torch.Generator().manual_seed(0))
    >>> z = torch.randn(100, 2, generator=torch.Generator().manual_seed(1))
    >>> s = torch.arange(100) % 2
    >>> bool(mmd(z + 3.0 * s[:, None], s) > mmd(z, s))
    True
    """

    def __init__(
        self,
        in_features: int,
        n_features: int = 500,
        bandwidth: float = 1.0,
        *,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        self.bandwidth = float(bandwidth)
        weight = torch.randn(in_features, n_features, generator=generator)
        self.register_buffer("weight", weight / self.bandwidth)
        self.register_buffer(
            "bias", torch.rand(n_features, generator=generator) * (2 * math.pi)
        )

    def forward(self, z: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
        """Mean over groups of the squared MMD between group and rest.

        Parameters
        ----------
        z : Tensor of shape (B, in_features)
            Representations.
        groups : Tensor of shape (B,)
            Integer group codes.

        Returns
        -------
        Tensor of shape ()
            Squared MMD estimate.
        """
        return _mmd_from_features(_rff(z, self.weight, self.bias), groups)

    def extra_repr(self) -> str:  # noqa: D102
        return (
            f"in_features={self.weight.shape[0]}, n_features={self.weight.shape[1]}, "
            f"bandwidth={self.bandwidth}"
        )
