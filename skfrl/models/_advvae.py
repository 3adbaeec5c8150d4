"""Adversarial variational autoencoder (AdvXMultVAE) for tables and interactions."""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn
from torch.nn import functional as F

from .._base import BaseFairNet
from ..nn import (
    MLP,
    GaussianEncoder,
    MixedReconstructionLoss,
    ParallelMLP,
    TensorDictDataset,
    gaussian_kl_standard,
    grad_reverse,
    reparameterize,
)
from ..utils._sklearn_compat import Interval, StrOptions
from ._mixins import AdversaryGroupsMixin

__all__ = ["AdversarialVAE"]

# Rows x columns densified at once at inference, so that scoring a large
# interaction matrix never materialises it whole.
_INFERENCE_CELLS = 1 << 24


class _SparseRowsDataset(TensorDictDataset):
    """A :class:`TensorDictDataset` whose ``"X"`` stays a CSR matrix.

    Interaction matrices are mostly zeros; only the rows of a batch are
    densified, in ``__getitem__``.
    """

    def __init__(self, X: dict, y=None):
        self.X_sparse = X["X"]
        self.X = {k: torch.as_tensor(v) for k, v in X.items() if k != "X"}
        self.y = None if y is None else torch.as_tensor(y)
        self._len = self.X_sparse.shape[0]

    def __getitem__(self, idx):
        rows = idx.numpy() if isinstance(idx, torch.Tensor) else idx
        Xi = {k: v[idx] for k, v in self.X.items()}
        Xi["X"] = torch.from_numpy(self.X_sparse[rows].toarray())
        return Xi, (None if self.y is None else self.y[idx])


class _AdvVAEModule(nn.Module):
    """Gaussian encoder, decoder and one group of adversaries per attribute."""

    def __init__(
        self,
        n_features,
        hidden_layer_sizes,
        n_components,
        multinomial,
        categorical_groups,
        input_dropout,
        adversary_outputs,
        reversal_scales,
        n_adversaries,
        adversary_hidden_size,
        adversary_dropout,
    ):
        super().__init__()
        self.multinomial = bool(multinomial)
        self.input_dropout = nn.Dropout(input_dropout)
        self.encoder = GaussianEncoder(n_features, hidden_layer_sizes, n_components)
        self.decoder = MLP(n_components, hidden_layer_sizes[::-1], n_features)
        self.reconstruction = (
            None
            if self.multinomial
            else MixedReconstructionLoss(n_features, categorical_groups)
        )
        self.adversaries = nn.ModuleList(
            ParallelMLP(
                n_adversaries,
                n_components,
                adversary_hidden_size,
                n_out,
                input_dropout=adversary_dropout,
            )
            for n_out in adversary_outputs
        )
        self.reversal_scales = list(reversal_scales)

    def _posterior(self, x):
        if self.multinomial:
            # Mult-VAE: the encoder sees the L2-normalised interaction
            # vector, so heavy users do not dominate its input scale.
            x = F.normalize(x, dim=1)
        return self.encoder(self.input_dropout(x))

    def encode(self, x):
        return self._posterior(x)[0]

    def decode(self, z):
        return self.decoder(z)

    def score(self, x):
        return self.decoder(self.encode(x))

    def nll(self, x_hat, x):
        """Negative log-likelihood of each row of ``x``, shape ``(B,)``."""
        if self.multinomial:
            return -(F.log_softmax(x_hat, dim=1) * x).sum(dim=1)
        return self.reconstruction(x_hat, x)

    @staticmethod
    def adversary_input(mu):
        """Standardise ``mu`` with the batch's statistics.

        A probe standardises ``Z`` before it looks for ``s``; adversaries
        that see raw ``mu`` can be fooled by shrinking the directions that
        carry ``s`` (easy for a VAE, whose KL term pulls ``mu`` towards 0),
        which leaves ``s`` to a probe.
        """
        centred = mu - mu.mean(dim=0)
        return centred / (centred.pow(2).mean(dim=0).sqrt() + 1e-6)

    def forward(self, x):
        mu, logvar = self._posterior(x)
        z = reparameterize(mu, logvar) if self.training else mu
        # The adversaries see mu, the representation transform returns, so
        # the encoder cannot hide s behind posterior noise alone.
        h = self.adversary_input(mu)
        adv = [
            head(grad_reverse(h, scale))
            for head, scale in zip(self.adversaries, self.reversal_scales, strict=True)
        ]
        return {"mu": mu, "logvar": logvar, "x_hat": self.decoder(z), "adv": adv}


class AdversarialVAE(AdversaryGroupsMixin, BaseFairNet):
    """Variational autoencoder with gradient-reversal adversaries (AdvXMultVAE).

    A VAE whose posterior mean is the fair representation: a Gaussian
    encoder ``q(z|x)``, a decoder ``p(x|z)`` and, for every protected
    attribute, a group of ``n_adversaries`` small parallel MLPs that try to
    predict the attribute from the posterior mean ``mu`` through a
    gradient-reversal layer (Ganin & Lempitsky 2015). The adversaries see
    ``mu`` standardised with the batch's mean and standard deviation, as a
    probe that standardises ``Z`` would: otherwise the encoder can fool them
    by shrinking the directions that carry ``s`` (which the KL term favours)
    while a probe still finds ``s`` there. As in AdvXMultVAE
    (Escobedo et al. 2024) several attributes are handled at once, each with
    its own reversal scale: a categorical attribute is predicted with
    cross-entropy weighted by inverse group frequency, a continuous one (e.g.
    age) with the mean squared error on its standardised value; losses are
    averaged over the heads of a group and summed over attributes. The
    training loss per batch is

    ``mean_i [-log p(x_i | z_i)] + beta * mean_i KL(q(z|x_i) || N(0, I))
    + sum_a mean_heads L_a``,

    with ``z_i = mu_i + sigma_i * eps`` in training. One backward pass
    updates the VAE (``optimizer``) and the adversaries (``optimizer_adv``),
    followed by ``adversary_steps - 1`` adversary-only steps on the batch.
    :meth:`transform` returns ``mu`` (no sampling). There is no task head:
    the model is a transformer (and a recommender), not a classifier.

    Two likelihoods (``likelihood``):

    - Tabular data (``"gaussian"`` or ``"mixed"``): unit-variance Gaussian
      for numeric columns and, with ``"mixed"``, a categorical distribution
      over each one-hot group in ``categorical_groups``
      (:class:`~skfrl.nn.MixedReconstructionLoss`).
    - User x item interactions (``"multinomial"``), as in Mult-VAE (Liang
      et al. 2018): each row (a user's counts or 0/1 interactions, dense or
      ``scipy.sparse``) is L2-normalised and passed through input dropout
      before the encoder; the decoder outputs one logit per item, and the
      raw counts are scored by the multinomial log-likelihood
      ``sum_j x_ij log softmax(logits_i)_j``. Sparse input stays sparse:
      only the rows of a batch are densified. :meth:`recommend` ranks
      unseen items by these logits and :meth:`score_items` returns them.

    With ``sensitive_features=None`` the model trains without adversaries:
    a plain (Mult-)VAE, the unconstrained reference.

    .. versionadded:: 0.1

    Parameters
    ----------
    n_components : int, default=32
        Dimension of the latent space (``z``, the representation).
    hidden_layer_sizes : tuple of int, default=(256,)
        Hidden layers of the encoder (ReLU); the decoder mirrors them.
        Mult-VAE used ``(600,)`` (tanh) with 200 latent dimensions on tens of
        thousands of items.
    likelihood : {"auto", "gaussian", "mixed", "multinomial"}, default="auto"
        Reconstruction model. ``"auto"``: ``"multinomial"`` for
        ``scipy.sparse`` input, ``"mixed"`` when ``categorical_groups`` is
        given, ``"gaussian"`` otherwise. ``"gaussian"`` ignores
        ``categorical_groups``. ``"multinomial"`` needs non-negative ``X``.
    categorical_groups : list of list of int, default=None
        Column indices of each one-hot group for ``"mixed"``, e.g.
        :func:`skfrl.datasets.one_hot_groups` of a fitted
        :func:`~skfrl.datasets.make_preprocessor`.
    input_dropout : float or None, default=None
        Dropout on the encoder's input in training. ``None``: 0.5 with the
        multinomial likelihood (Mult-VAE's setting), 0 otherwise.
    beta : float, default=0.8
        Weight of the KL term (AdvXMultVAE's ``beta``).
    anneal_steps : int, default=0
        If positive, the KL weight grows linearly from 0 to ``beta`` over
        this many optimisation steps (Mult-VAE's KL annealing, which it
        capped at 0.2); 0 uses ``beta`` from the start.
    fairness_weight : float or dict, default=5.0
        Gradient-reversal scale per protected attribute: one value for all,
        or a dict keyed by attribute (column) name, missing names getting
        1.0. 0 turns the fairness
        pressure off while the adversaries still train (the unconstrained
        reference with the same training). On Adult (sex) the probe AUC of
        ``Z`` fell from 0.89 at 0 to 0.79 at 1, 0.77 at 5 and 0.71 at 10,
        with the same downstream accuracy (0.82-0.83); on synthetic
        interactions 5 removed most of gender and age at a small cost in
        recall.
    n_adversaries : int, default=10
        Parallel adversaries per attribute (``K``; 10 in AdvXMultVAE).
    adversary_steps : int, default=3
        Adversary updates per batch: one joint step with the VAE, then
        ``adversary_steps - 1`` adversary-only steps on the same batch.
    adversary_lr : float or None, default=None
        Learning rate of the adversaries' optimizer; ``None`` uses ``lr``.
        A faster adversary than the encoder keeps it near-optimal, which
        is what gradient reversal needs.
    adversary_hidden_size : int, default=32
        Hidden width of each adversary (0: linear adversaries). AdvXMultVAE
        used 5; wider adversaries find more of what a fresh probe finds.
    adversary_dropout : float, default=0.3
        Input dropout of each adversary, drawn independently per head.
    sensitive_kinds : str, list or dict, default=None
        ``"categorical"`` or ``"continuous"`` per attribute; ``None`` infers
        (a float column with more than 10 distinct values is continuous).
    lr : float, default=3e-3
        Learning rate of the model's Adam optimizer (and of the adversaries'
        unless ``adversary_lr`` or ``optimizer_adv__lr`` is given).
    max_epochs : int, default=50
        Training epochs. Gradient reversal needs a few hundred optimisation
        steps to beat the unconstrained model; raise it for small data.
    batch_size : int, default=128
        Mini-batch size.
    max_grad_norm : float or None, default=None
        Gradient-norm clipping, of the joint step and of the adversary-only
        steps.
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
    averaging_epochs : float or None, default=None
        Expose an exponential moving average of the weights with this
        time constant in epochs instead of the last iterate (see
        :class:`~skfrl.callbacks.WeightAveraging`), which damps the
        oscillation of adversarial training.
    device : str, default="cpu"
        Torch device.
    verbose : int, default=0
        Progress bar and epoch log when > 0.
    random_state : int, RandomState instance or None, default=None
        Seed for initialisation, shuffling, dropout and the posterior noise.
    **kwargs : dict
        skorch parameters with prefixes, e.g. ``optimizer__weight_decay``,
        ``optimizer_adv__lr``, ``callbacks``.

    Attributes
    ----------
    likelihood_ : str
        The likelihood used: ``"gaussian"``, ``"mixed"`` or ``"multinomial"``.
    sensitive_attributes_ : list of SensitiveAttribute
        The protected attributes seen in ``fit`` (empty without them).
    module_ : torch.nn.Module
        The trained network (``encoder``, ``decoder``, ``adversaries``).
    history_ : skorch.History
        Per-epoch and per-batch losses (``train_loss``, ``recon_loss``,
        ``kl_loss``, ``adv_loss``).
    n_features_in_ : int
        Number of input features (items).
    feature_names_in_ : ndarray of str
        Input column names, when ``X`` is a DataFrame with string columns.

    See Also
    --------
    AdversarialFairRepresentation : The same adversaries on a deterministic
        encoder with a task head.
    skfrl.datasets.make_biased_interactions : Interactions with planted
        gender and age.

    References
    ----------
    .. [1] S. Escobedo, C. Ganhör, S. Brandl, M. Schedl et al., "AdvXMultVAE:
       simultaneous unlearning of multiple protected user attributes from
       variational autoencoder recommenders using adversarial training",
       BIAS workshop at SIGIR 2024.
    .. [2] D. Liang, R. G. Krishnan, M. D. Hoffman and T. Jebara,
       "Variational Autoencoders for Collaborative Filtering", WWW 2018.
    .. [3] Y. Ganin and V. Lempitsky, "Unsupervised Domain Adaptation by
       Backpropagation", ICML 2015.

    Examples
    --------
    >>> from skfrl.datasets import make_biased_interactions
    >>> from skfrl.models import AdversarialVAE
    >>> X, S = make_biased_interactions(n_users=300, n_items=60, random_state=0)
    >>> vae = AdversarialVAE(n_components=8, max_epochs=5, random_state=0)
    >>> Z = vae.fit(X, sensitive_features=S).transform(X)
    >>> Z.shape, vae.likelihood_
    ((300, 8), 'multinomial')
    >>> vae.recommend(X[:2], k=5).shape
    (2, 5)
    """

    _parameter_constraints: dict = {
        **BaseFairNet._parameter_constraints,
        **AdversaryGroupsMixin._parameter_constraints,
        "hidden_layer_sizes": [tuple, list],
        "likelihood": [StrOptions({"auto", "gaussian", "mixed", "multinomial"})],
        "categorical_groups": [list, tuple, None],
        "input_dropout": [Interval(numbers.Real, 0, 1, closed="left"), None],
        "beta": [Interval(numbers.Real, 0, None, closed="left")],
        "anneal_steps": [Interval(numbers.Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        n_components=32,
        hidden_layer_sizes=(256,),
        likelihood="auto",
        categorical_groups=None,
        input_dropout=None,
        beta=0.8,
        anneal_steps=0,
        fairness_weight=5.0,
        n_adversaries=10,
        adversary_steps=3,
        adversary_lr=None,
        adversary_hidden_size=32,
        adversary_dropout=0.3,
        sensitive_kinds=None,
        lr=3e-3,
        max_epochs=50,
        batch_size=128,
        max_grad_norm=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        warm_start=False,
        averaging_epochs=None,
        device="cpu",
        verbose=0,
        random_state=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.likelihood = likelihood
        self.categorical_groups = categorical_groups
        self.input_dropout = input_dropout
        self.beta = beta
        self.anneal_steps = anneal_steps
        self.fairness_weight = fairness_weight
        self.n_adversaries = n_adversaries
        self.adversary_steps = adversary_steps
        self.adversary_lr = adversary_lr
        self.adversary_hidden_size = adversary_hidden_size
        self.adversary_dropout = adversary_dropout
        self.sensitive_kinds = sensitive_kinds
        self.lr = lr
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.max_grad_norm = max_grad_norm
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.warm_start = warm_start
        self.averaging_epochs = averaging_epochs
        self.device = device
        self.verbose = verbose
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    # -- data ----------------------------------------------------------------
    @staticmethod
    def _as_float32(X):
        if sp.issparse(X):
            # validate_data may hand back the caller's CSR matrix itself;
            # astype(copy=False) only converts, nothing here writes to X.
            return X.astype(np.float32, copy=False)
        return np.ascontiguousarray(X, dtype=np.float32)

    def _check_non_negative(self, X) -> None:
        values = X.data if sp.issparse(X) else X
        if values.size and values.min() < 0:
            raise ValueError(
                f"{type(self).__name__} with likelihood='multinomial' needs "
                "non-negative X (interaction counts); got negative values."
            )

    def _validate_X(self, X, *, reset: bool):
        X = validate_data(
            self, X, reset=reset, accept_sparse="csr", dtype=[np.float32, np.float64]
        )
        X = self._as_float32(X)
        if getattr(self, "likelihood_", None) == "multinomial":
            self._check_non_negative(X)
        return X

    def _validate_fit_data(self, X, y):
        X = validate_data(
            self,
            X,
            reset=True,
            accept_sparse="csr",
            dtype=[np.float32, np.float64],
            ensure_min_samples=2,
        )
        if y is not None:
            y = np.asarray(y)
            if len(y) != X.shape[0]:
                raise ValueError(f"y has {len(y)} rows but X has {X.shape[0]} samples.")
        if self.likelihood == "auto":
            if sp.issparse(X):
                self.likelihood_ = "multinomial"
            elif self.categorical_groups is not None:
                self.likelihood_ = "mixed"
            else:
                self.likelihood_ = "gaussian"
        else:
            self.likelihood_ = self.likelihood
        if self.likelihood_ == "multinomial":
            self._check_non_negative(X)
        return self._as_float32(X), y

    def get_dataset(self, X, y=None):
        """Wrap the prepared data; a sparse ``X`` is densified per batch."""
        if isinstance(X, dict) and sp.issparse(X.get("X")):
            return _SparseRowsDataset(X, y)
        return super().get_dataset(X, y)

    def _inference(self, fn, X, chunk_size: int | None = None) -> np.ndarray:
        return np.concatenate(list(self._chunks(fn, X, chunk_size)), axis=0)

    def _chunks(self, fn, X, chunk_size: int | None = None):
        """Yield ``(rows, fn(rows))`` chunk by chunk, densifying sparse rows."""
        self._set_training(False)
        if chunk_size is None:
            chunk_size = max(1, _INFERENCE_CELLS // max(1, X.shape[1]))
        with torch.no_grad():
            for start in range(0, X.shape[0], chunk_size):
                xb = X[start : start + chunk_size]
                if sp.issparse(xb):
                    xb = xb.toarray()
                out = fn(torch.as_tensor(xb, device=self.device))
                yield out.cpu().numpy()

    # -- skorch hooks ----------------------------------------------------------
    def initialize_module(self):
        """Build the encoder, decoder and adversary groups."""
        outputs, scales = self._adversary_layout()
        multinomial = self.likelihood_ == "multinomial"
        dropout = self.input_dropout
        if dropout is None:
            dropout = 0.5 if multinomial else 0.0
        groups = self.categorical_groups if self.likelihood_ == "mixed" else None
        self.module_ = _AdvVAEModule(
            self.n_features_in_,
            tuple(self.hidden_layer_sizes),
            self.n_components,
            multinomial,
            groups,
            dropout,
            outputs,
            scales,
            self.n_adversaries,
            self.adversary_hidden_size,
            self.adversary_dropout,
        ).to(self.device)
        self._n_train_steps = 0
        return self

    def _kl_weight(self) -> float:
        if self.anneal_steps <= 0:
            return float(self.beta)
        return float(self.beta) * min(1.0, self._n_train_steps / self.anneal_steps)

    def _loss_terms(self, y_pred, y_true, X):
        """Reconstruction NLL + ``beta`` * KL + the adversaries' losses.

        The adversaries minimise their loss; the reversal layer makes the
        encoder maximise it, scaled by ``fairness_weight``.
        """
        x = X["X"].to(self.device)
        recon = self.module_.nll(y_pred["x_hat"], x).mean()
        kl = gaussian_kl_standard(y_pred["mu"], y_pred["logvar"]).mean()
        adv = self._adversary_loss(y_pred["adv"], X)
        loss = recon + self._kl_weight() * kl + adv
        return loss, {"recon_loss": recon, "kl_loss": kl, "adv_loss": adv}

    def _catch_up_loss(self, batch, y_pred):
        if not len(self.module_.adversaries):
            return None
        Xi = batch[0]
        mu = self.module_.adversary_input(y_pred["mu"].detach())
        return lambda: self._adversary_loss(
            [head(mu) for head in self.module_.adversaries], Xi
        )

    def train_step(self, batch, **fit_params):
        """Joint and adversary-only steps; counts the steps for KL annealing."""
        step = super().train_step(batch, **fit_params)
        self._n_train_steps += 1
        return step

    # -- public API ------------------------------------------------------------
    def fit(self, X, y=None, *, sensitive_features=None):
        """Fit the VAE and its adversaries.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Numeric tabular data (encode categories first, e.g. with
            :func:`skfrl.datasets.make_preprocessor`) or a user x item
            interaction matrix (``scipy.sparse`` or dense, non-negative).
            Never modified.
        y : None
            Ignored; present for API consistency.
        sensitive_features : array-like of shape (n_samples,) or \
(n_samples, n_attributes), default=None
            Protected attribute(s), categorical or continuous. ``None``
            trains a plain VAE.

        Returns
        -------
        self : AdversarialVAE
            The fitted model.
        """
        return super().fit(X, y, sensitive_features=sensitive_features)

    def transform(self, X):
        """Return the posterior mean ``mu`` of ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data like the training data.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_components), dtype float32
            The representation.
        """
        return super().transform(X)

    def score_items(self, X) -> np.ndarray:
        """Decoder outputs at the posterior mean.

        For the multinomial likelihood, one logit per item: their softmax is
        the predicted distribution of the user's next interaction, and their
        order ranks items (Mult-VAE). For tabular likelihoods, the Gaussian
        means of numeric columns and the logits of one-hot groups.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Users' interactions (or rows of tabular data).

        Returns
        -------
        scores : ndarray of shape (n_samples, n_features), dtype float32
            Decoder outputs.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return self._inference(self.module_.score, X)

    def recommend(self, X, k: int = 10, *, exclude_seen: bool = True) -> np.ndarray:
        """Top-``k`` items per user, ranked by the decoder's logits.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_users, n_items)
            The users' known interactions (the fold-in part for held-out
            evaluation).
        k : int, default=10
            Number of items per user, at most ``n_items``.
        exclude_seen : bool, default=True
            Rank only items with no interaction in ``X``. A user with fewer
            than ``k`` unseen items gets seen items at the end of the list.

        Returns
        -------
        items : ndarray of shape (n_users, k), dtype int64
            Column indices of ``X``, best first.

        Raises
        ------
        ValueError
            If the model was not fitted with the multinomial likelihood, or
            ``k`` is out of range.
        """
        check_is_fitted(self)
        if self.likelihood_ != "multinomial":
            raise ValueError(
                "recommend needs a model fitted with likelihood='multinomial' "
                f"(user x item interactions); this one used {self.likelihood_!r}."
            )
        n_items = self.n_features_in_
        if (
            isinstance(k, bool)
            or not isinstance(k, numbers.Integral)
            or not 1 <= k <= n_items
        ):
            raise ValueError(f"k must be an int in [1, {n_items}], got {k!r}.")
        X = self._validate_X(X, reset=False)
        chunk = max(1, _INFERENCE_CELLS // n_items)
        out = []
        for start, scores in zip(
            range(0, X.shape[0], chunk),
            self._chunks(self.module_.score, X, chunk),
            strict=True,
        ):
            if exclude_seen:
                seen = X[start : start + chunk]
                rows, cols = seen.nonzero()
                scores[rows, cols] = -np.inf
            top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            top_scores = np.take_along_axis(scores, top, axis=1)
            order = np.argsort(-top_scores, axis=1, kind="stable")
            out.append(np.take_along_axis(top, order, axis=1))
        return np.concatenate(out, axis=0).astype(np.int64)
