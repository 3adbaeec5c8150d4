"""Invariant conditional VAE (ICVAE-S / ICVAE-US) of Moyer et al. (2018)."""

from __future__ import annotations

import numbers

import torch
from sklearn.base import ClassifierMixin
from sklearn.utils.metaestimators import available_if
from torch import nn
from torch.nn import functional as F

from .._base import BaseFairNet, FairClassifierMixin
from ..nn import (
    MLP,
    GaussianEncoder,
    MixedReconstructionLoss,
    gaussian_kl_standard,
    pairwise_gaussian_kl,
    reparameterize,
)
from ..utils._sklearn_compat import Interval
from ._mixins import ContinuousSensitiveMixin

__all__ = ["ICVAE"]


def _sensitive_code(s_cat, s_cont, n_classes: list[int]) -> torch.Tensor | None:
    """One-hot codes of the categorical attributes, then the continuous ones."""
    parts = [
        F.one_hot(s_cat[:, k], n).to(torch.float32) for k, n in enumerate(n_classes)
    ]
    if s_cont is not None:
        parts.append(s_cont.to(torch.float32))
    return torch.cat(parts, dim=1) if parts else None


class _ICVAEModule(nn.Module):
    """Gaussian encoder q(z|x), decoder p(x|z, s) and an optional task head."""

    def __init__(
        self,
        n_features,
        hidden_layer_sizes,
        n_components,
        s_classes,
        n_s_cont,
        n_classes,
        categorical_groups,
    ):
        super().__init__()
        self.s_classes = list(s_classes)
        s_dim = sum(self.s_classes) + n_s_cont
        self.encoder = GaussianEncoder(n_features, hidden_layer_sizes, n_components)
        self.decoder = MLP(
            n_components + s_dim, tuple(reversed(hidden_layer_sizes)), n_features
        )
        self.classifier = (
            nn.Linear(n_components, n_classes) if n_classes is not None else None
        )
        self.reconstruction = MixedReconstructionLoss(n_features, categorical_groups)

    def encode(self, x):
        return self.encoder(x)[0]

    def predict_logits(self, x):
        return self.classifier(self.encode(x))

    def forward(self, x, s_cat=None, s_cont=None):
        mu, logvar = self.encoder(x)
        z = reparameterize(mu, logvar) if self.training else mu
        code = _sensitive_code(s_cat, s_cont, self.s_classes)
        x_hat = self.decoder(z if code is None else torch.cat([z, code], dim=1))
        out = {"mu": mu, "logvar": logvar, "z": z, "x_hat": x_hat}
        if self.classifier is not None:
            out["logits"] = self.classifier(z)
        return out


def _is_supervised(estimator) -> bool:
    return bool(estimator.supervised)


class ICVAE(ContinuousSensitiveMixin, FairClassifierMixin, BaseFairNet):
    """Invariant conditional VAE: fair representations without an adversary.

    A variational autoencoder whose decoder ``p(x | z, s)`` receives the
    protected attributes ``s`` next to the latent code ``z``, while the
    encoder ``q(z | x)`` (a diagonal Gaussian) sees only ``x``. As ``s`` is
    given to the decoder for free, a compressed ``z`` has no reason to carry
    it. Moyer et al. (2018) bound ``I(z; s)`` by ``I(z; x) - I(x; z | s)``
    (up to a constant); ``I(z; x)`` is in turn bounded by
    ``E_x KL(q(z|x) || q(z))``, estimated by the mean pairwise KL between the
    posteriors of a batch. The loss minimised is, per sample,

    ``(1 + lambda) * E_q[-log p(x|z,s)] + beta * KL(q(z|x) || N(0, I))
    + lambda * mean_{i != j} KL(q(z|x_i) || q(z|x_j))
    + alpha * CE(y, classifier(z))``,

    with ``lambda`` = ``fairness_weight``, the last term only for
    ``supervised=True`` (ICVAE-S: a linear task head on ``z``, trained on
    posterior samples and predicting from the posterior mean).
    ``supervised=False`` is ICVAE-US, a pure transformer without
    ``predict``/``predict_proba``/``score``; ``y`` is then ignored.

    Categorical attributes are given to the decoder one-hot, continuous ones
    standardised; several attributes are concatenated. ``transform`` returns
    the posterior mean ``mu(x)``, which never needs ``s``.

    With ``sensitive_features=None`` the decoder is unconditional and the
    invariance term is dropped (``fairness_weight`` is treated as 0): a plain
    beta-VAE (ICVAE-S: with a task head), the unconstrained reference.

    Numeric columns are reconstructed with a unit-variance Gaussian, so scale
    them (e.g. with :func:`~skfrl.datasets.make_preprocessor`); pass
    ``categorical_groups=one_hot_groups(preprocessor)``
    (:func:`~skfrl.datasets.one_hot_groups`) to reconstruct each one-hot
    encoded column with a softmax instead.

    .. versionadded:: 0.1

    Parameters
    ----------
    supervised : bool, default=True
        ICVAE-S (with a task head; a classifier) or ICVAE-US (no task head).
    n_components : int, default=8
        Dimension of ``z``.
    hidden_layer_sizes : tuple of int, default=(64,)
        Hidden layers of the encoder; the decoder mirrors them.
    beta : float, default=0.1
        Weight of ``KL(q(z|x) || N(0, I))``. It is kept small so that
        ``fairness_weight`` controls the compression: with a large ``beta`` the
        s-conditioned decoder alone already strips much of ``s`` and the
        invariance weight has little left to do; a small prior term still
        anchors the posterior scale, which the pairwise KL (invariant to a
        common rescaling of means and variances) does not.
    fairness_weight : float, default=0.3
        Weight ``lambda`` of the invariance (pairwise KL) term; 0 disables
        it (the decoder is still conditioned on ``s``). The pairwise KL grows
        quadratically with the spread of the posterior means relative to
        their width, much faster than ``I(z; x)`` itself, so values near 1
        and above collapse ``z`` to an almost uninformative code whose tiny
        remaining variation can still correlate with ``s``; 0.1-0.5 trades
        leakage against information on synthetic data and Adult.
    alpha : float, default=1.0
        Weight of the task cross-entropy (``supervised=True`` only). Larger
        values raise accuracy and leakage together (on Adult, ``alpha=10``
        gave about 2 points more accuracy and a probe AUC higher by 0.1).
    categorical_groups : list of list of int or None, default=None
        Column indices of one-hot groups, reconstructed with a softmax each;
        ``None`` reconstructs every column with a Gaussian.
    sensitive_kinds : str, list or dict, default=None
        ``"categorical"`` or ``"continuous"`` per attribute; ``None`` infers
        (a float column with more than 10 distinct values is continuous).
    lr : float, default=1e-3
        Learning rate of Adam.
    max_epochs : int, default=30
        Training epochs.
    batch_size : int, default=256
        Mini-batch size; the pairwise KL is estimated within each batch.
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
        Seed for initialisation, shuffling and the reparameterisation noise.
    **kwargs : dict
        skorch parameters with prefixes, e.g. ``optimizer__weight_decay``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Task labels (``supervised=True`` only).
    sensitive_attributes_ : list of SensitiveAttribute
        The protected attributes seen in ``fit`` (empty without them).
    module_ : torch.nn.Module
        The trained network (``encoder``, ``decoder``, ``classifier``).
    history_ : skorch.History
        Per-epoch and per-batch losses (``train_loss``, ``recon_loss``,
        ``kl_loss``, ``pairwise_kl``, ``task_loss``).
    n_features_in_ : int
        Number of input features.
    feature_names_in_ : ndarray of str
        Input column names, when ``X`` is a DataFrame with string columns.

    See Also
    --------
    VFAE : Variational fair autoencoder with an MMD penalty.
    skfrl.datasets.one_hot_groups : ``categorical_groups`` of a preprocessor.

    References
    ----------
    .. [1] D. Moyer, S. Gao, R. Brekelmans, A. Galstyan and G. Ver Steeg,
       "Invariant Representations without Adversarial Training",
       NeurIPS 2018.

    Examples
    --------
    >>> from skfrl.datasets import make_biased_classification
    >>> from skfrl.models import ICVAE
    >>> X, y, s = make_biased_classification(n_samples=300, random_state=0)
    >>> icvae = ICVAE(n_components=4, max_epochs=5, random_state=0)
    >>> Z = icvae.fit(X, y, sensitive_features=s).transform(X)
    >>> Z.shape
    (300, 4)
    >>> icvae.predict(X[:3]).shape
    (3,)
    >>> us = ICVAE(supervised=False, max_epochs=5, random_state=0)
    >>> us.fit(X, sensitive_features=s).transform(X).shape
    (300, 8)
    >>> hasattr(us, "predict")
    False
    """

    _parameter_constraints: dict = {
        **BaseFairNet._parameter_constraints,
        **ContinuousSensitiveMixin._parameter_constraints,
        "supervised": ["boolean"],
        "hidden_layer_sizes": [tuple, list],
        "beta": [Interval(numbers.Real, 0, None, closed="left")],
        "fairness_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "categorical_groups": [list, None],
    }

    def __init__(
        self,
        supervised=True,
        n_components=8,
        hidden_layer_sizes=(64,),
        beta=0.1,
        fairness_weight=0.3,
        alpha=1.0,
        categorical_groups=None,
        sensitive_kinds=None,
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
        self.supervised = supervised
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.beta = beta
        self.fairness_weight = fairness_weight
        self.alpha = alpha
        self.categorical_groups = categorical_groups
        self.sensitive_kinds = sensitive_kinds
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

    # -- supervised / unsupervised switch ------------------------------------
    @property
    def _is_classifier_net(self) -> bool:
        return bool(self.supervised)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if not self.supervised:
            # scikit-learn computes tags per instance: ICVAE-US is a
            # transformer only.
            tags.estimator_type = None
            tags.classifier_tags = None
            tags.target_tags.required = False
        return tags

    def _prepare_y(self, y):
        if self.supervised:
            return super()._prepare_y(y)
        # A refit as ICVAE-US must not keep the labels of an earlier fit.
        vars(self).pop("classes_", None)
        return None

    predict_proba = available_if(_is_supervised)(FairClassifierMixin.predict_proba)
    predict = available_if(_is_supervised)(FairClassifierMixin.predict)
    score = available_if(_is_supervised)(ClassifierMixin.score)

    # -- skorch hooks ------------------------------------------------------------
    def initialize_module(self):
        """Build the encoder, the s-conditioned decoder and the task head."""
        attrs = self.sensitive_attributes_
        self.module_ = _ICVAEModule(
            self.n_features_in_,
            tuple(self.hidden_layer_sizes),
            self.n_components,
            [a.n_classes for a in attrs if a.kind == "categorical"],
            sum(a.kind == "continuous" for a in attrs),
            len(self.classes_) if self.supervised else None,
            self.categorical_groups,
        ).to(self.device)
        return self

    def infer(self, x, **fit_params):
        """Training forward pass; the decoder needs the batch's ``s``."""
        x = {k: v.to(self.device) for k, v in x.items()}
        return self.module_(x["X"], x.get("s_cat"), x.get("s_cont"), **fit_params)

    def _loss_terms(self, y_pred, y_true, X):
        """Weighted reconstruction, prior KL, pairwise KL and task loss."""
        x = X["X"].to(self.device)
        recon = self.module_.reconstruction(y_pred["x_hat"], x).mean()
        kl = gaussian_kl_standard(y_pred["mu"], y_pred["logvar"]).mean()
        # Without sensitive features there is nothing to be invariant to.
        lam = float(self.fairness_weight) if self.sensitive_attributes_ else 0.0
        loss = (1.0 + lam) * recon + self.beta * kl
        parts = {"recon_loss": recon, "kl_loss": kl}
        if lam > 0:
            pairwise = pairwise_gaussian_kl(y_pred["mu"], y_pred["logvar"])
            loss = loss + lam * pairwise
            parts["pairwise_kl"] = pairwise
        if self.supervised:
            task = F.cross_entropy(y_pred["logits"], y_true.to(self.device))
            loss = loss + self.alpha * task
            parts["task_loss"] = task
        return loss, parts
