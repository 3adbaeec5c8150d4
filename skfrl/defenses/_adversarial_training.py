"""Adversarial training of a downstream MLP classifier on tabular data.

Three training regimes share one estimator, :class:`RobustMLPClassifier`:
plain ERM, PGD adversarial training (Madry et al., ICLR 2018) and L2L,
"learning to defend by learning to attack" (Jiang et al., AISTATS 2021),
where a small attacker network replaces the PGD inner loop. Either can be
combined with FAAL-style distributionally robust class weights (Zhang et
al., CVPR 2024). Perturbations live in the standardised feature space and
touch only the columns marked mutable, so one-hot encoded categories stay
valid.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
import torch
from numpy.typing import ArrayLike
from sklearn.base import ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from torch.nn import functional as F

from .._base import BaseSkorchEstimator
from ..nn import MLP, TensorDictDataset, grouped_dro_loss
from ..utils import seed_from
from ..utils._sklearn_compat import Interval, StrOptions

__all__ = ["RobustMLPClassifier", "robust_accuracy"]

# The evaluation attacks differentiate in chunks so that a large table never
# builds one huge activation matrix (inference chunks the same way).
_CHUNK = 8192


def _mutable_mask(mutable, n_features: int) -> np.ndarray:
    """Boolean mask over the features from ``mutable`` (mask, indices or None)."""
    if mutable is None:
        return np.ones(n_features, dtype=bool)
    arr = np.asarray(mutable)
    if arr.ndim != 1:
        raise ValueError(
            f"mutable must be a 1-D boolean mask or a list of column indices, "
            f"got an array of shape {arr.shape}."
        )
    if arr.size == 0:
        return np.zeros(n_features, dtype=bool)
    if arr.dtype == bool:
        if arr.shape != (n_features,):
            raise ValueError(
                f"mutable as a boolean mask needs one entry per feature "
                f"({n_features}), got {arr.shape[0]}."
            )
        return arr.copy()
    if arr.dtype.kind not in "iu":
        raise TypeError(
            f"mutable must be a boolean mask or integer column indices, got "
            f"values of dtype {arr.dtype}."
        )
    if arr.min() < -n_features or arr.max() >= n_features:
        raise ValueError(
            f"mutable holds column indices outside [0, {n_features}) for "
            f"data with {n_features} features: {arr.tolist()}."
        )
    mask = np.zeros(n_features, dtype=bool)
    mask[arr] = True
    return mask


def _check_sample_weight(sample_weight, n: int) -> np.ndarray:
    if sample_weight is None:
        return np.ones(n, dtype=np.float32)
    if isinstance(sample_weight, numbers.Number):
        w = np.full(n, float(sample_weight))
    else:
        w = np.asarray(sample_weight, dtype=np.float64)
    if w.ndim != 1 or w.shape[0] != n:
        raise ValueError(
            f"sample_weight must have shape ({n},) to match X, got {w.shape}."
        )
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("sample_weight must be finite and non-negative.")
    if w.sum() <= 0:
        raise ValueError("sample_weight must not be all zero: its sum must be > 0.")
    return w.astype(np.float32)


def _pgd_delta(
    module: torch.nn.Module,
    z: torch.Tensor,
    y: torch.Tensor,
    mask: torch.Tensor,
    eps: float,
    steps: int,
    step_size: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """L-infinity PGD with a random start on the cross-entropy, masked columns."""
    if eps <= 0 or steps <= 0 or not bool(mask.any()):
        return torch.zeros_like(z)
    noise = torch.rand(z.shape, generator=generator, dtype=z.dtype)
    delta = (2 * noise - 1) * eps * mask
    for _ in range(steps):
        delta.requires_grad_(True)
        # A summed loss keeps each row's gradient independent of the batch
        # size; only its sign is used anyway.
        loss = F.cross_entropy(module(z + delta), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, delta)
        delta = (delta.detach() + step_size * grad.sign()).clamp(-eps, eps) * mask
    return delta.detach()


class _Attacker(torch.nn.Module):
    """L2L attacker: ``eps * tanh(g(x, normalised grad))`` on mutable columns."""

    def __init__(self, n_features: int, hidden_size: int, mask: torch.Tensor):
        super().__init__()
        hidden = (hidden_size,) if hidden_size > 0 else ()
        self.net = MLP(2 * n_features, hidden, n_features)
        self.register_buffer("mask", mask)
        self.n_mutable = max(int(mask.sum()), 1)

    def forward(self, z: torch.Tensor, grad: torch.Tensor, eps: float):
        grad = grad * self.mask
        # Gradients of a well-fitted model are tiny and vary by orders of
        # magnitude between rows; unit RMS gives the attacker a stable input.
        rms = grad.pow(2).sum(dim=1, keepdim=True).div(self.n_mutable).sqrt()
        grad = grad / (rms + 1e-12)
        return eps * torch.tanh(self.net(torch.cat([z, grad], dim=1))) * self.mask


class RobustMLPClassifier(ClassifierMixin, BaseSkorchEstimator):
    """MLP classifier with adversarial training against feature perturbations.

    A small PyTorch multi-layer perceptron for tabular data, trained to
    resist perturbations of size ``eps`` (L-infinity, in the standardised
    feature space) on the *mutable* columns only, e.g. the numeric columns
    of a preprocessed table while its one-hot encoded categories stay fixed.

    - ``attack=None``: plain empirical risk minimisation.
    - ``attack="pgd"``: Madry-style adversarial training; each batch is
      replaced by its projected gradient ascent (PGD) perturbation:
      ``pgd_steps`` signed-gradient steps of size ``pgd_step_size`` from a
      uniform random start in the ball.
    - ``attack="l2l"``: learning to defend by learning to attack (Jiang et
      al., AISTATS 2021). An attacker MLP ``g`` maps the input and its
      (RMS-normalised) loss gradient to a perturbation
      ``eps * tanh(g(x, grad))``, inside the ball by construction. Each batch
      takes one step for the classifier on the attacked inputs, then one
      Adam step for the attacker up the classifier's loss. One forward and
      backward pass for the gradient replaces the ``pgd_steps`` of PGD.

    With ``group_weighting="dro"`` the (adversarial) loss is averaged per
    class and the class means are weighted by the worst case in a KL ball of
    radius ``dro_radius`` around uniform weights
    (:func:`skfrl.nn.grouped_dro_loss`): the min-max-max objective of FAAL
    (Zhang et al., CVPR 2024), which aims at the worst class's robust
    accuracy.

    Predictions are made on clean inputs; :meth:`robust_score` and
    :func:`robust_accuracy` measure accuracy under a PGD attack, whatever
    attacker was used for training.

    The model is a skorch :class:`~skorch.NeuralNet` on the same base as
    skfrl's FRL models (:class:`~skfrl._base.BaseSkorchEstimator`): skorch
    runs the epochs, the shuffled mini-batches and the history, and the
    adversarial examples of each batch (PGD, or the L2L attacker and its own
    update) are made in the ``train_step`` hook. Its parameters are the
    scikit-learn parameters listed below only (no prefixed skorch
    parameters).

    .. versionadded:: 0.1

    Parameters
    ----------
    attack : {"pgd", "l2l"} or None, default=None
        The inner maximisation used in training; None trains on clean data.
    eps : float >= 0, default=0.1
        Radius of the L-infinity ball, in units of the standardised features
        (feature standard deviations when ``standardize=True``).
    mutable : array-like of bool or int, or None, default=None
        Columns an attacker may change: a boolean mask with one entry per
        feature or a list of column indices; None: all columns. Immutable
        columns are never perturbed, in training or evaluation.
    pgd_steps : int >= 1, default=5
        PGD steps per batch in training (``attack="pgd"``).
    pgd_step_size : float > 0 or None, default=None
        PGD step size; None uses ``2.5 * eps / pgd_steps``.
    attacker_hidden_size : int >= 0, default=64
        Hidden width of the L2L attacker (0: a linear attacker).
    attacker_lr : float > 0, default=1e-3
        Adam learning rate of the L2L attacker.
    adversarial_weight : float in [0, 1], default=1.0
        Share of the adversarial loss in the training loss; the rest is the
        clean loss. 1 is Madry's objective.
    group_weighting : {"dro"} or None, default=None
        ``"dro"``: KL-ball distributionally robust weights over the groups
        given by ``dro_groups``.
    dro_radius : float >= 0, default=0.1
        KL radius ``rho`` of the DRO weights (0: uniform over groups).
    dro_groups : {"label"}, default="label"
        Groups of the DRO step: the classes, as in FAAL.
    hidden_layer_sizes : tuple of int, default=(64,)
        Hidden widths of the classifier.
    standardize : bool, default=True
        Standardise features (mean 0, standard deviation 1 on the training
        data) inside the model; ``eps`` is measured in that space. False
        measures ``eps`` in the input units.
    lr : float > 0, default=1e-3
        Adam learning rate of the classifier.
    max_epochs : int >= 1, default=20
        Passes over the training data.
    batch_size : int >= 1, default=128
        Mini-batch size.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, shuffling, PGD random starts and
        :meth:`robust_score`; training runs in a forked torch RNG, so the
        global torch seed is left alone.
    verbose : int, default=0
        Print the mean training loss and the duration of every epoch
        (skorch's ``PrintLog``) when > 0.
    n_threads : int >= 1 or None, default=None
        Torch and BLAS threads during :meth:`fit`, restored afterwards; None
        leaves them as they are. One thread trains this small network about
        as fast as several, and much faster when other processes compete for
        the cores.

        .. versionadded:: 0.1

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Number of features seen in :meth:`fit`.
    feature_names_in_ : ndarray of str
        Column names, when ``X`` was a DataFrame with string column names.
    mutable_ : ndarray of bool of shape (n_features_in,)
        The mutable columns.
    mean_, scale_ : ndarray of shape (n_features_in,)
        The standardisation (0 and 1 when ``standardize=False``).
    module_ : torch.nn.Module
        The fitted classifier network (on standardised inputs, giving
        logits).
    attacker_ : torch.nn.Module or None
        The fitted L2L attacker (``attack="l2l"``), else None.
    loss_curve_ : list of float
        Mean training loss per epoch (rows weighted by count, zero-weight
        rows left out).
    n_iter_ : int
        Number of epochs run.
    history_ : skorch.History
        skorch's record of the fit: per epoch ``train_loss`` (as in
        ``loss_curve_``) and ``dur``, per batch ``train_loss`` and
        ``train_rows`` (the rows of non-zero weight it trained on).

    See Also
    --------
    robust_accuracy : Accuracy under a PGD attack.

    Notes
    -----
    PGD and the L2L attacker do not keep perturbed values inside the range
    seen in training; a perturbation of ``eps`` standard deviations of
    ``age`` can reach ages that do not occur. Integer columns are not
    rounded. Both choices follow the usual tabular threat model in which
    ``eps`` is small.

    References
    ----------
    .. [1] A. Madry, A. Makelov, L. Schmidt, D. Tsipras and A. Vladu,
       "Towards Deep Learning Models Resistant to Adversarial Attacks",
       ICLR 2018.
    .. [2] H. Jiang, Z. Chen, Y. Shi, B. Dai and T. Zhao, "Learning to
       Defend by Learning to Attack", AISTATS 2021.
    .. [3] Y. Zhang, T. Zhang, R. Mu, X. Huang and W. Ruan, "Towards
       Fairness-Aware Adversarial Learning", CVPR 2024.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from skfrl.defenses import RobustMLPClassifier
    >>> X, y = make_classification(n_samples=300, n_features=6, random_state=0)
    >>> clf = RobustMLPClassifier(attack="pgd", eps=0.1, mutable=[0, 1, 2],
    ...                           max_epochs=10, lr=1e-2, random_state=0)
    >>> clf.fit(X, y).score(X, y) > 0.8
    True
    >>> clf.robust_score(X, y) <= clf.score(X, y)
    True
    >>> clf.mutable_
    array([ True,  True,  True, False, False, False])
    """

    _parameter_constraints: dict = {
        "attack": [StrOptions({"pgd", "l2l"}), None],
        "eps": [Interval(numbers.Real, 0, None, closed="left")],
        "mutable": ["array-like", None],
        "pgd_steps": [Interval(numbers.Integral, 1, None, closed="left")],
        "pgd_step_size": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "attacker_hidden_size": [Interval(numbers.Integral, 0, None, closed="left")],
        "attacker_lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "adversarial_weight": [Interval(numbers.Real, 0, 1, closed="both")],
        "group_weighting": [StrOptions({"dro"}), None],
        "dro_radius": [Interval(numbers.Real, 0, None, closed="left")],
        "dro_groups": [StrOptions({"label"})],
        "hidden_layer_sizes": [tuple, list],
        "standardize": ["boolean"],
        "lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "max_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        attack: str | None = None,
        *,
        eps: float = 0.1,
        mutable: ArrayLike | None = None,
        pgd_steps: int = 5,
        pgd_step_size: float | None = None,
        attacker_hidden_size: int = 64,
        attacker_lr: float = 1e-3,
        adversarial_weight: float = 1.0,
        group_weighting: str | None = None,
        dro_radius: float = 0.1,
        dro_groups: str = "label",
        hidden_layer_sizes: Sequence[int] = (64,),
        standardize: bool = True,
        lr: float = 1e-3,
        max_epochs: int = 20,
        batch_size: int = 128,
        random_state=None,
        verbose: int = 0,
        n_threads: int | None = None,
    ):
        self.attack = attack
        self.eps = eps
        self.mutable = mutable
        self.pgd_steps = pgd_steps
        self.pgd_step_size = pgd_step_size
        self.attacker_hidden_size = attacker_hidden_size
        self.attacker_lr = attacker_lr
        self.adversarial_weight = adversarial_weight
        self.group_weighting = group_weighting
        self.dro_radius = dro_radius
        self.dro_groups = dro_groups
        self.hidden_layer_sizes = hidden_layer_sizes
        self.standardize = standardize
        self.lr = lr
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.random_state = random_state
        self.verbose = verbose
        self.n_threads = n_threads

    def _check_params(self) -> None:
        super()._check_params()
        sizes = list(self.hidden_layer_sizes)
        if not all(
            isinstance(h, numbers.Integral) and not isinstance(h, bool) and h > 0
            for h in sizes
        ):
            raise ValueError(
                f"hidden_layer_sizes must hold positive integers, got "
                f"{self.hidden_layer_sizes!r}."
            )

    # ------------------------------------------------------------------ fit

    def _loss(
        self,
        logits_adv: torch.Tensor,
        logits_clean: torch.Tensor | None,
        y: torch.Tensor,
        w: torch.Tensor,
    ) -> torch.Tensor:
        per = F.cross_entropy(logits_adv, y, reduction="none")
        if logits_clean is not None:
            a = float(self.adversarial_weight)
            per = a * per + (1 - a) * F.cross_entropy(logits_clean, y, reduction="none")
        if self.group_weighting == "dro":
            # grouped_dro_loss takes plain group means; rescaling each row by
            # n_g / sum_g(w) makes them the sample-weighted means (and is an
            # exact no-op for unit weights).
            k = len(self.classes_)
            counts = torch.bincount(y, minlength=k).to(per.dtype)
            wsum = torch.zeros(k, dtype=per.dtype).index_add(0, y, w)
            factor = (counts / wsum.clamp_min(1e-12))[y]
            return grouped_dro_loss(per * w * factor, y, float(self.dro_radius))
        return (per * w).sum() / w.sum()

    def fit(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None):
        """Train the classifier (and the L2L attacker) on ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Numeric training data (preprocess categories first, e.g. with
            :func:`~skfrl.datasets.make_preprocessor`); never modified.
        y : array-like of shape (n_samples,)
            Class labels (at least two classes).
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights of the training loss (per class in the DRO step).

        Returns
        -------
        self : RobustMLPClassifier
        """
        self._check_params()
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        classes, y_enc = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in "
                f"the data; got 1 class ({classes[0]!r})."
            )
        n, d = X.shape
        w = _check_sample_weight(sample_weight, n)
        self.classes_ = classes
        self.mutable_ = _mutable_mask(self.mutable, d)
        if self.standardize:
            mean = X.mean(axis=0)
            scale = X.std(axis=0)
            scale[scale < 1e-12] = 1.0
        else:
            mean, scale = np.zeros(d), np.ones(d)
        self.mean_, self.scale_ = mean.astype(np.float64), scale.astype(np.float64)
        data = TensorDictDataset(
            {"X": self._standardize(X), "w": w}, y_enc.astype(np.int64)
        )
        self._train(data)
        # Inference and the evaluation attacks differentiate with respect to
        # the inputs only.
        for net in (self.module_, self.attacker_):
            if net is not None:
                for p in net.parameters():
                    p.requires_grad_(False)
        self.loss_curve_ = [float(v) for v in self.history[:, "train_loss"]]
        self.n_iter_ = len(self.history)
        return self

    # ------------------------------------------------------------ skorch hooks

    def initialize_module(self):
        """The classifier MLP, then (``attack="l2l"``) the attacker."""
        d, k = self.n_features_in_, len(self.classes_)
        self.module_ = MLP(d, tuple(self.hidden_layer_sizes), k)
        if "attacker" in self._modules:  # a previous fit's L2L attacker
            del self.attacker_
        if self.attack == "l2l":
            mask = torch.as_tensor(self.mutable_, dtype=torch.float32)
            self.attacker_ = _Attacker(d, int(self.attacker_hidden_size), mask)
        else:
            self.attacker_ = None
        return self

    def initialize_optimizer(self, triggered_directly=None):
        """Adam for the classifier, and Adam for the L2L attacker."""
        self.optimizer_ = self.optimizer(self.module_.parameters(), lr=self.lr)
        if "optimizer_attacker" in self._optimizers:
            del self.optimizer_attacker_
        if self.attacker_ is not None:
            self.optimizer_attacker_ = torch.optim.Adam(
                self.attacker_.parameters(), lr=self.attacker_lr
            )
        return self

    def train_step(self, batch, **fit_params):
        """One step on a batch's adversarial examples (and one for the attacker).

        Rows of zero weight are left out; a batch of only such rows is
        skipped. PGD (``attack="pgd"``) or the attacker (``"l2l"``) perturbs
        the batch's mutable columns, the classifier takes one Adam step on
        the (DRO-)weighted loss of the perturbed rows (mixed with the clean
        loss when ``adversarial_weight < 1``), and the L2L attacker then
        takes one Adam step up the loss of the classifier it has just moved.
        """
        Xi, yb = batch
        zb, wb = Xi["X"], Xi["w"]
        keep = wb > 0
        if not bool(keep.any()):
            self.history.record_batch("train_rows", 0)
            return {"loss": torch.zeros(()), "y_pred": None}
        zb, yb, wb = zb[keep], yb[keep], wb[keep]
        self._set_training(True)
        module = self.module_
        mask = torch.as_tensor(self.mutable_, dtype=torch.float32)
        eps = float(self.eps)
        delta_graph = None
        if self.attack == "pgd":
            steps = int(self.pgd_steps)
            step_size = (
                2.5 * eps / steps
                if self.pgd_step_size is None
                else float(self.pgd_step_size)
            )
            delta = _pgd_delta(module, zb, yb, mask, eps, steps, step_size)
        elif self.attack == "l2l":
            zg = zb.clone().requires_grad_(True)
            loss_g = F.cross_entropy(module(zg), yb, reduction="sum")
            (grad,) = torch.autograd.grad(loss_g, zg)
            delta_graph = self.attacker_(zb, grad, eps)
            delta = delta_graph.detach()
        else:
            delta = None
        z_in = zb if delta is None else zb + delta
        use_clean = self.attack is not None and self.adversarial_weight < 1
        clean = module(zb) if use_clean else None
        logits = module(z_in)
        loss = self._loss(logits, clean, yb, wb)
        self.optimizer_.zero_grad()
        loss.backward()
        self.optimizer_.step()
        if delta_graph is not None:
            # The attacker climbs the loss of the classifier it has just
            # moved: one alternating step each.
            per = F.cross_entropy(module(zb + delta_graph), yb, reduction="none")
            loss_att = -(per * wb).sum() / wb.sum()
            attacker = self.attacker_
            self.optimizer_attacker_.zero_grad()
            grads = torch.autograd.grad(loss_att, list(attacker.parameters()))
            for p, g in zip(attacker.parameters(), grads, strict=True):
                p.grad = g
            self.optimizer_attacker_.step()
        self.history.record_batch("train_rows", len(yb))
        return {"loss": loss.detach(), "y_pred": logits.detach()}

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        """Record the epoch's mean loss over the rows it trained on."""
        batches = self.history[-1, "batches"]
        total = sum(b["train_loss"] * b["train_rows"] for b in batches)
        seen = sum(b["train_rows"] for b in batches)
        self.history.record("train_loss", total / max(seen, 1))

    # ------------------------------------------------------------ predict

    def _standardize(self, X: np.ndarray) -> np.ndarray:
        return ((np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_).astype(
            np.float32
        )

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Class probabilities on clean inputs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Softmax probabilities, columns in the order of ``classes_``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        logits = torch.as_tensor(self._inference(self.module_, self._standardize(X)))
        return torch.softmax(logits.double(), dim=1).numpy()

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predicted class labels on clean inputs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data.

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    # ------------------------------------------------------------ attacks

    def _encode_y(self, y) -> torch.Tensor:
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D, got shape {y.shape}.")
        idx = np.searchsorted(self.classes_, y)
        idx = np.clip(idx, 0, len(self.classes_) - 1)
        if not np.all(self.classes_[idx] == y):
            unknown = np.unique(y[self.classes_[idx] != y])[:5]
            raise ValueError(
                f"y holds labels not seen in fit: {unknown.tolist()}; known "
                f"classes are {self.classes_.tolist()}."
            )
        return torch.as_tensor(idx, dtype=torch.int64)

    def _adversarial_z(self, X, y, *, attack, eps, steps, mutable, random_state):
        """Validated standardised data and its perturbation (both tensors)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        Y = self._encode_y(y)
        if len(Y) != len(X):
            raise ValueError(f"y has {len(Y)} entries, X has {len(X)} rows.")
        if eps is None:
            eps = float(self.eps)
        if not isinstance(eps, numbers.Real) or eps < 0:
            raise ValueError(f"eps must be a number >= 0, got {eps!r}.")
        if (
            not isinstance(steps, numbers.Integral)
            or isinstance(steps, bool)
            or steps < 1
        ):
            raise ValueError(f"steps must be an integer >= 1, got {steps!r}.")
        mask_np = (
            self.mutable_
            if mutable is None
            else _mutable_mask(mutable, self.n_features_in_)
        )
        mask = torch.as_tensor(mask_np, dtype=torch.float32)
        Z = torch.as_tensor(self._standardize(X))
        if attack == "l2l":
            if self.attacker_ is None:
                raise ValueError(
                    "attack='l2l' needs a model fitted with attack='l2l'; this "
                    f"one was fitted with attack={self.attack!r}."
                )
            deltas = []
            for i in range(0, len(Z), _CHUNK):
                zb = Z[i : i + _CHUNK].clone().requires_grad_(True)
                loss = F.cross_entropy(
                    self.module_(zb), Y[i : i + _CHUNK], reduction="sum"
                )
                (grad,) = torch.autograd.grad(loss, zb)
                with torch.no_grad():
                    d = self.attacker_(zb.detach(), grad, float(eps))
                deltas.append(d * mask)
            delta = torch.cat(deltas) if deltas else torch.zeros_like(Z)
            return Z, delta
        if attack != "pgd":
            raise ValueError(f"attack must be 'pgd' or 'l2l', got {attack!r}.")
        gen = torch.Generator().manual_seed(seed_from(random_state))
        step_size = 2.5 * float(eps) / int(steps)
        deltas = [
            _pgd_delta(
                self.module_,
                Z[i : i + _CHUNK],
                Y[i : i + _CHUNK],
                mask,
                float(eps),
                int(steps),
                step_size,
                generator=gen,
            )
            for i in range(0, len(Z), _CHUNK)
        ]
        delta = torch.cat(deltas) if deltas else torch.zeros_like(Z)
        return Z, delta

    def perturb(
        self,
        X: ArrayLike,
        y: ArrayLike,
        *,
        attack: str = "pgd",
        eps: float | None = None,
        steps: int = 20,
        mutable: ArrayLike | None = None,
        random_state=None,
    ) -> np.ndarray:
        """Adversarial versions of ``X`` against this model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data (never modified).
        y : array-like of shape (n_samples,)
            True labels; the attack raises their loss.
        attack : {"pgd", "l2l"}, default="pgd"
            ``"pgd"``: PGD with a random start, ``steps`` steps of size
            ``2.5 * eps / steps``; ``"l2l"``: one pass of the fitted L2L
            attacker (only for a model fitted with ``attack="l2l"``; its
            output scale is ``eps``).
        eps : float >= 0 or None, default=None
            L-infinity radius in the standardised space; None uses ``eps``.
        steps : int >= 1, default=20
            PGD steps.
        mutable : array-like or None, default=None
            Columns to perturb (mask or indices); None uses ``mutable_``.
        random_state : int, RandomState instance or None, default=None
            Seeds the PGD random start.

        Returns
        -------
        ndarray of shape (n_samples, n_features)
            The perturbed rows in the input units; immutable columns equal
            the input exactly.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.datasets import make_classification
        >>> from skfrl.defenses import RobustMLPClassifier
        >>> X, y = make_classification(n_samples=100, n_features=4,
        ...                            random_state=0)
        >>> clf = RobustMLPClassifier(mutable=[True, True, False, False],
        ...                           max_epochs=2, random_state=0).fit(X, y)
        >>> X_adv = clf.perturb(X, y, eps=0.2, random_state=0)
        >>> bool(np.all(X_adv[:, 2:] == X[:, 2:]))
        True
        >>> bool(np.abs((X_adv - X) / clf.scale_).max() <= 0.2 + 1e-5)
        True
        """
        Xv = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        _, delta = self._adversarial_z(
            Xv,
            y,
            attack=attack,
            eps=eps,
            steps=steps,
            mutable=mutable,
            random_state=random_state,
        )
        moved = delta.double().numpy() != 0
        out = np.array(Xv, dtype=np.float64, copy=True)
        out[moved] += (delta.double().numpy() * self.scale_)[moved]
        return out

    def robust_score(
        self, X: ArrayLike, y: ArrayLike, *, eps: float | None = None, steps: int = 20
    ) -> float:
        """Accuracy under a PGD attack on the mutable columns.

        The evaluation attack is PGD whatever ``attack`` the model was
        trained with; see :func:`robust_accuracy`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data.
        y : array-like of shape (n_samples,)
            True labels.
        eps : float >= 0 or None, default=None
            Radius in the standardised space; None uses ``eps``.
        steps : int >= 1, default=20
            PGD steps.

        Returns
        -------
        float
            Share of rows classified correctly both clean and after the
            attack (seeded by ``random_state``).

        Examples
        --------
        >>> from sklearn.datasets import make_classification
        >>> from skfrl.defenses import RobustMLPClassifier
        >>> X, y = make_classification(n_samples=200, random_state=0)
        >>> clf = RobustMLPClassifier(max_epochs=5, random_state=0).fit(X, y)
        >>> clf.robust_score(X, y, eps=1.0) < clf.score(X, y)
        True
        """
        return robust_accuracy(
            self,
            X,
            y,
            eps=float(self.eps) if eps is None else eps,
            steps=steps,
            random_state=self.random_state,
        )


def robust_accuracy(
    estimator: RobustMLPClassifier,
    X: ArrayLike,
    y: ArrayLike,
    *,
    eps: float,
    mutable: ArrayLike | None = None,
    steps: int = 20,
    random_state=None,
) -> float:
    """Accuracy of a fitted model under an L-infinity PGD attack.

    PGD needs the gradient of the loss with respect to the inputs, so the
    estimator must be a differentiable torch model: a fitted
    :class:`RobustMLPClassifier` (trees, or pipelines with a non-differentiable
    step, are not supported). The attack starts uniformly at random in the
    ball and takes ``steps`` signed-gradient steps of size
    ``2.5 * eps / steps`` on the cross-entropy, in the model's standardised
    feature space, changing only the mutable columns. A row counts as
    correct when it is classified correctly both clean and attacked (the
    clean point lies in the ball too).

    .. versionadded:: 0.1

    Parameters
    ----------
    estimator : RobustMLPClassifier
        Fitted model.
    X : array-like of shape (n_samples, n_features)
        Data (never modified).
    y : array-like of shape (n_samples,)
        True labels.
    eps : float >= 0
        Radius in the standardised space (standard deviations of the
        training data when the model was fitted with ``standardize=True``).
    mutable : array-like of bool or int, or None, default=None
        Columns the attacker may change; None uses the model's ``mutable_``.
    steps : int >= 1, default=20
        PGD steps.
    random_state : int, RandomState instance or None, default=None
        Seeds the random start.

    Returns
    -------
    float
        Robust accuracy in [0, 1]; with ``eps=0`` the clean accuracy.

    Raises
    ------
    TypeError
        If ``estimator`` is not a :class:`RobustMLPClassifier`.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from skfrl.defenses import RobustMLPClassifier, robust_accuracy
    >>> X, y = make_classification(n_samples=200, random_state=0)
    >>> clf = RobustMLPClassifier(max_epochs=5, random_state=0).fit(X, y)
    >>> robust_accuracy(clf, X, y, eps=0.0) == clf.score(X, y)
    True
    >>> robust_accuracy(clf, X, y, eps=0.5, random_state=0) < clf.score(X, y)
    True
    """
    if not isinstance(estimator, RobustMLPClassifier):
        raise TypeError(
            "robust_accuracy needs a fitted RobustMLPClassifier (PGD needs a "
            f"differentiable torch model), got {type(estimator).__name__}."
        )
    Z, delta = estimator._adversarial_z(
        X,
        y,
        attack="pgd",
        eps=eps,
        steps=steps,
        mutable=mutable,
        random_state=random_state,
    )
    Y = estimator._encode_y(y).numpy()
    clean = estimator._inference(estimator.module_, Z).argmax(axis=1) == Y
    attacked = estimator._inference(estimator.module_, Z + delta).argmax(axis=1) == Y
    return float((clean & attacked).mean())
