"""Variational fair autoencoder (VFAE) of Louizos et al. (2016)."""

from __future__ import annotations

import numbers

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .._base import BaseFairNet, FairClassifierMixin
from ..nn import (
    MLP,
    RFFMMD,
    GaussianEncoder,
    MixedReconstructionLoss,
    gaussian_kl_standard,
    reparameterize,
)
from ..utils._sklearn_compat import Interval

__all__ = ["VFAE"]


class _VFAEModule(nn.Module):
    """Encoder q(z|x[, s]), decoder p(x|z, s), task head and MMD features."""

    def __init__(
        self,
        n_features,
        hidden_layer_sizes,
        n_components,
        s_classes,
        n_classes,
        categorical_groups,
        encoder_sensitive,
        s_combos,
        s_weights,
        mmd_features,
        mmd_bandwidth,
    ):
        super().__init__()
        self.s_classes = list(s_classes)
        s_dim = sum(self.s_classes)
        self.encoder_sensitive = bool(encoder_sensitive and s_dim)
        enc_in = n_features + (s_dim if self.encoder_sensitive else 0)
        self.encoder = GaussianEncoder(enc_in, hidden_layer_sizes, n_components)
        self.decoder = MLP(
            n_components + s_dim, tuple(reversed(hidden_layer_sizes)), n_features
        )
        self.classifier = nn.Linear(n_components, n_classes)
        self.reconstruction = MixedReconstructionLoss(n_features, categorical_groups)
        self.mmd = RFFMMD(n_components, mmd_features, mmd_bandwidth)
        # Joint training distribution of the groups, to marginalise s out of
        # an s-dependent encoder at transform time.
        self.register_buffer("s_combos", torch.as_tensor(s_combos, dtype=torch.long))
        self.register_buffer(
            "s_weights", torch.as_tensor(s_weights, dtype=torch.float32)
        )

    def _code(self, s_cat):
        parts = [
            F.one_hot(s_cat[:, k], n).to(torch.float32)
            for k, n in enumerate(self.s_classes)
        ]
        return torch.cat(parts, dim=1) if parts else None

    def _posterior(self, x, code):
        if self.encoder_sensitive:
            return self.encoder(torch.cat([x, code], dim=1))
        return self.encoder(x)

    def encode(self, x):
        if not self.encoder_sensitive:
            return self.encoder(x)[0]
        # E_{s ~ P_train(s)} mu(x, s): the posterior mean with s marginalised.
        mu = 0.0
        for combo, weight in zip(self.s_combos, self.s_weights, strict=True):
            code = self._code(combo.expand(len(x), -1))
            mu = mu + weight * self.encoder(torch.cat([x, code], dim=1))[0]
        return mu

    def predict_logits(self, x):
        return self.classifier(self.encode(x))

    def forward(self, x, s_cat=None):
        code = self._code(s_cat) if self.s_classes else None
        mu, logvar = self._posterior(x, code)
        z = reparameterize(mu, logvar) if self.training else mu
        x_hat = self.decoder(z if code is None else torch.cat([z, code], dim=1))
        return {
            "mu": mu,
            "logvar": logvar,
            "z": z,
            "x_hat": x_hat,
            "logits": self.classifier(z),
        }


class VFAE(FairClassifierMixin, BaseFairNet):
    """Variational fair autoencoder with an MMD penalty.

    A variational autoencoder whose decoder ``p(x | z, s)`` receives the
    protected attributes ``s``, trained together with a task head on the
    latent code ``z`` and a maximum mean discrepancy (MMD) penalty that
    pulls the distributions of ``z`` in the protected groups together. The
    loss minimised is, per batch,

    ``E_q[-log p(x|z,s)] + beta * KL(q(z|x) || N(0, I))
    + alpha * CE(y, classifier(z)) + lambda * sum_a MMD^2_a``,

    where for every categorical attribute ``a`` the squared MMD between each
    group's posterior means and the rest of the batch is estimated with
    random Fourier features (:class:`~skfrl.nn.RFFMMD`, drawn once per fit;
    linear in the batch size) and averaged over the groups; ``lambda`` is
    ``fairness_weight``. The penalty acts on the posterior means because
    they are what ``transform`` returns.

    What is implemented, and what is simplified from the paper:

    - the supervised model with a single latent layer ``z`` (the paper's
      ``z1``), a linear classifier on ``z`` and a standard normal prior; the
      paper's second latent layer ``z2 ~ q(z2 | z1, y)`` with prior
      ``p(z1 | z2, y)`` and its semi-supervised treatment of unlabelled rows
      are omitted (every training row has a label here);
    - the encoder. In the paper it is ``q(z|x, s)``, which cannot be used by
      ``transform``, as transform never receives ``s``. By default
      (``encoder_sensitive=False``) the encoder is ``q(z|x)``: training and
      ``transform`` then use the same map, and the MMD term directly makes
      the released representation invariant. With ``encoder_sensitive=True``
      the encoder takes ``s`` as in the paper and ``transform`` returns the
      posterior mean with ``s`` marginalised over its training distribution,
      ``sum_g P(s=g) mu(x, g)`` (over the joint groups of all attributes).
      This is faithful to the paper's training but only approximately
      invariant: the encoder learns to cancel the group shift *given* ``s``,
      which an average over groups cannot do, so expect more leakage from
      ``transform`` than the training penalty suggests (on synthetic data
      with ``s`` planted in ``X``, a probe AUC of about 0.93 against 0.61
      for the default encoder, which is also below the 0.81 of the model
      without the MMD term).

    Only categorical sensitive attributes are supported (the MMD compares
    groups); several are allowed (one-hot codes concatenated, one MMD term
    each). With ``sensitive_features=None`` the decoder is unconditional and
    there is no MMD term: a VAE with a task head, the unconstrained
    reference.

    Numeric columns are reconstructed with a unit-variance Gaussian, so scale
    them (e.g. with :func:`~skfrl.datasets.make_preprocessor`); pass
    ``categorical_groups=one_hot_groups(preprocessor)``
    (:func:`~skfrl.datasets.one_hot_groups`) to reconstruct each one-hot
    encoded column with a softmax.

    .. versionadded:: 0.1

    Parameters
    ----------
    n_components : int, default=8
        Dimension of ``z``.
    hidden_layer_sizes : tuple of int, default=(64,)
        Hidden layers of the encoder; the decoder mirrors them.
    beta : float, default=1.0
        Weight of ``KL(q(z|x) || N(0, I))`` (1: the evidence lower bound).
    alpha : float, default=1.0
        Weight of the task cross-entropy.
    fairness_weight : float, default=10.0
        Weight of the MMD penalty; 0 disables it. Squared MMDs of random
        Fourier features are small numbers (below 0.1), hence a weight well
        above 1; much larger values (100 and more) collapse ``z`` and with
        it the task head on data where ``y`` and ``s`` are related.
    encoder_sensitive : bool, default=False
        Whether the encoder also receives ``s`` (the paper's ``q(z|x, s)``,
        marginalised at transform time) or not (``q(z|x)``, the default);
        see above.
    mmd_features : int, default=500
        Number of random Fourier features of the MMD estimate.
    mmd_bandwidth : float or None, default=None
        Bandwidth of the Gaussian kernel of the MMD; ``None`` uses
        ``sqrt(n_components)``, the typical distance between samples of the
        ``N(0, I)`` prior, so the kernel is neither flat nor vanishing.
    categorical_groups : list of list of int or None, default=None
        Column indices of one-hot groups, reconstructed with a softmax each;
        ``None`` reconstructs every column with a Gaussian.
    lr : float, default=1e-3
        Learning rate of Adam.
    max_epochs : int, default=30
        Training epochs.
    batch_size : int, default=256
        Mini-batch size; the MMD is estimated within each batch.
    max_grad_norm : float or None, default=None
        Gradient-norm clipping.
    early_stopping : bool, default=False
        Stop on a held-out validation loss, see :class:`~skfrl._base.BaseFairNet`.
    validation_fraction : float, default=0.1
        Held-out share when ``early_stopping=True``.
    n_iter_no_change : int, default=5
        Early-stopping patience in epochs.
    warm_start : bool, default=False
        When True and the model is fitted, ``fit`` continues from the
        current weights and optimizer state for ``max_epochs`` more
        epochs (scikit-learn's convention); the data must have the same
        features, classes and groups. Used to fine-tune a trained model
        on new (e.g. poisoned) data.
    device : str, default="cpu"
        Torch device.
    verbose : int, default=0
        Progress bar and epoch log when > 0.
    random_state : int, RandomState instance or None, default=None
        Seed for initialisation, shuffling, the reparameterisation noise and
        the random Fourier features.
    **kwargs : dict
        skorch parameters with prefixes, e.g. ``optimizer__weight_decay``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Task labels.
    sensitive_attributes_ : list of SensitiveAttribute
        The protected attributes seen in ``fit`` (empty without them).
    module_ : torch.nn.Module
        The trained network (``encoder``, ``decoder``, ``classifier``,
        ``mmd``).
    history_ : skorch.History
        Per-epoch and per-batch losses (``train_loss``, ``recon_loss``,
        ``kl_loss``, ``task_loss``, ``mmd_loss``).
    n_features_in_ : int
        Number of input features.
    feature_names_in_ : ndarray of str
        Input column names, when ``X`` is a DataFrame with string columns.

    See Also
    --------
    ICVAE : Invariance through a pairwise-KL compression term.
    skfrl.datasets.one_hot_groups : ``categorical_groups`` of a preprocessor.

    References
    ----------
    .. [1] C. Louizos, K. Swersky, Y. Li, M. Welling and R. Zemel, "The
       Variational Fair Autoencoder", ICLR 2016.
    .. [2] A. Rahimi and B. Recht, "Random Features for Large-Scale Kernel
       Machines", NeurIPS 2007.

    Examples
    --------
    >>> from skfrl.datasets import make_biased_classification
    >>> from skfrl.models import VFAE
    >>> X, y, s = make_biased_classification(n_samples=300, random_state=0)
    >>> vfae = VFAE(n_components=4, max_epochs=5, random_state=0)
    >>> Z = vfae.fit(X, y, sensitive_features=s).transform(X)
    >>> Z.shape
    (300, 4)
    >>> vfae.predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints: dict = {
        **BaseFairNet._parameter_constraints,
        "hidden_layer_sizes": [tuple, list],
        "beta": [Interval(numbers.Real, 0, None, closed="left")],
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "fairness_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "encoder_sensitive": ["boolean"],
        "mmd_features": [Interval(numbers.Integral, 1, None, closed="left")],
        "mmd_bandwidth": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "categorical_groups": [list, None],
    }

    def __init__(
        self,
        n_components=8,
        hidden_layer_sizes=(64,),
        beta=1.0,
        alpha=1.0,
        fairness_weight=10.0,
        encoder_sensitive=False,
        mmd_features=500,
        mmd_bandwidth=None,
        categorical_groups=None,
        lr=1e-3,
        max_epochs=30,
        batch_size=256,
        max_grad_norm=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        warm_start=False,
        device="cpu",
        verbose=0,
        random_state=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.beta = beta
        self.alpha = alpha
        self.fairness_weight = fairness_weight
        self.encoder_sensitive = encoder_sensitive
        self.mmd_features = mmd_features
        self.mmd_bandwidth = mmd_bandwidth
        self.categorical_groups = categorical_groups
        self.lr = lr
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.max_grad_norm = max_grad_norm
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.warm_start = warm_start
        self.device = device
        self.verbose = verbose
        self.random_state = random_state

    def _prepare_sensitive(self, sensitive_features, n_samples: int) -> dict:
        out = super()._prepare_sensitive(sensitive_features, n_samples)
        if "s_cat" in out:
            combos, counts = np.unique(out["s_cat"], axis=0, return_counts=True)
            self._s_combos, self._s_weights = combos, counts / counts.sum()
        else:
            self._s_combos = np.zeros((0, 0), dtype=np.int64)
            self._s_weights = np.zeros(0)
        return out

    def initialize_module(self):
        """Build the encoder, decoder, task head and MMD features."""
        bandwidth = (
            float(np.sqrt(self.n_components))
            if self.mmd_bandwidth is None
            else float(self.mmd_bandwidth)
        )
        self.module_ = _VFAEModule(
            self.n_features_in_,
            tuple(self.hidden_layer_sizes),
            self.n_components,
            [a.n_classes for a in self.sensitive_attributes_],
            len(self.classes_),
            self.categorical_groups,
            self.encoder_sensitive,
            self._s_combos,
            self._s_weights,
            self.mmd_features,
            bandwidth,
        ).to(self.device)
        return self

    def infer(self, x, **fit_params):
        """Training forward pass; encoder and decoder need the batch's ``s``."""
        x = {k: v.to(self.device) for k, v in x.items()}
        return self.module_(x["X"], x.get("s_cat"), **fit_params)

    def _loss_terms(self, y_pred, y_true, X):
        """Reconstruction, prior KL, task cross-entropy and MMD penalty."""
        x = X["X"].to(self.device)
        recon = self.module_.reconstruction(y_pred["x_hat"], x).mean()
        kl = gaussian_kl_standard(y_pred["mu"], y_pred["logvar"]).mean()
        task = F.cross_entropy(y_pred["logits"], y_true.to(self.device))
        loss = recon + self.beta * kl + self.alpha * task
        parts = {"recon_loss": recon, "kl_loss": kl, "task_loss": task}
        if self.sensitive_attributes_:
            s_cat = X["s_cat"].to(self.device)
            mmd = sum(
                self.module_.mmd(y_pred["mu"], s_cat[:, k])
                for k in range(s_cat.shape[1])
            )
            loss = loss + self.fairness_weight * mmd
            parts["mmd_loss"] = mmd
        return loss, parts
