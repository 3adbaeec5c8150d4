"""Adversarial fair representations with gradient reversal."""

from __future__ import annotations

import numbers

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .._base import BaseFairNet, FairClassifierMixin, _as_list
from ..nn import MLP, ParallelMLP, grad_reverse
from ..utils._sklearn_compat import Interval, StrOptions

__all__ = ["AdversarialFairRepresentation"]


def adversary_catch_up(
    optimizer: torch.optim.Optimizer,
    loss_fn,
    n_steps: int,
    max_grad_norm: float | None = None,
) -> None:
    """Take ``n_steps`` adversary-only optimizer steps.

    Shared by the models whose adversaries train behind gradient reversal:
    after the joint step, the adversaries catch up on the same batch's
    detached representation, so the encoder faces a near-optimal adversary.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        The adversaries' optimizer (its parameters are the ones updated).
    loss_fn : callable
        ``loss_fn() -> Tensor``, the adversaries' loss on detached inputs.
    n_steps : int
        Number of updates (0 or less: nothing happens).
    max_grad_norm : float or None, default=None
        Clip the gradient norm of the optimizer's parameters before each step.
    """
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for _ in range(n_steps):
        optimizer.zero_grad(set_to_none=True)
        loss_fn().backward()
        if max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
        optimizer.step()


class _AdversarialModule(nn.Module):
    """Encoder, task head and one group of parallel adversaries per attribute."""

    def __init__(
        self,
        n_features,
        hidden_layer_sizes,
        n_components,
        n_classes,
        adversary_outputs,
        reversal_scales,
        n_adversaries,
        adversary_hidden_size,
        adversary_dropout,
    ):
        super().__init__()
        self.encoder = MLP(n_features, hidden_layer_sizes, n_components)
        self.classifier = nn.Linear(n_components, n_classes)
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

    def encode(self, x):
        return self.encoder(x)

    def predict_logits(self, x):
        return self.classifier(self.encoder(x))

    def forward(self, x):
        z = self.encoder(x)
        adv = [
            head(grad_reverse(z, scale))
            for head, scale in zip(self.adversaries, self.reversal_scales, strict=True)
        ]
        return {"z": z, "logits": self.classifier(z), "adv": adv}


class _AdversaryGroupsMixin:
    """One group of adversaries per protected attribute (gradient reversal).

    Shared by :class:`AdversarialFairRepresentation` and
    :class:`~skfrl.models.AdversarialVAE`: the layout of the groups and the
    adversaries' loss.
    """

    def _adversary_layout(self) -> tuple[list[int], list[float]]:
        """Outputs and reversal scales of the adversary groups.

        Groups are ordered categorical first, then continuous, matching the
        columns of the batch's ``s_cat`` and ``s_cont``; also sets
        ``_adv_kinds`` and the categorical groups' class weights.
        """
        attrs = self.sensitive_attributes_
        names = [a.name for a in attrs]
        scales = _as_list(self.lambda_adv, names, "lambda_adv")
        if any(v < 0 for v in scales):
            raise ValueError(f"lambda_adv must be >= 0, got {self.lambda_adv!r}.")
        order = [i for i, a in enumerate(attrs) if a.kind == "categorical"] + [
            i for i, a in enumerate(attrs) if a.kind == "continuous"
        ]
        self._adv_kinds = [attrs[i].kind for i in order]
        outputs = [
            attrs[i].n_classes if attrs[i].kind == "categorical" else 1 for i in order
        ]
        # Inverse-frequency weights keep a minority group from being ignored
        # by the adversaries (AdvXMultVAE).
        self._adv_class_weights = [
            torch.as_tensor(
                counts.sum() / (len(counts) * np.maximum(counts, 1)),
                dtype=torch.float32,
                device=self.device,
            )
            for counts in getattr(self, "sensitive_class_counts_", [])
        ]
        return outputs, [scales[i] for i in order]

    def _adversary_loss(self, adv_outputs, X, y=None):
        """Sum over attributes of the adversaries' losses, averaged over heads.

        With ``group_weighting="dro"`` and labels ``y``, each loss is
        reweighted over the DRO groups instead of averaged.
        """
        dro = getattr(self, "group_weighting", None) == "dro" and y is not None
        adv_total = torch.zeros((), device=self.device)
        i_cat = i_cont = 0
        for out, kind in zip(adv_outputs, self._adv_kinds, strict=True):
            # out: (n_heads, batch, n_out); average the loss over heads.
            y_rep = None if y is None else y.repeat(out.shape[0])
            if kind == "categorical":
                target = X["s_cat"][:, i_cat].to(self.device)
                logits = out.reshape(-1, out.shape[-1])
                weight = self._adv_class_weights[i_cat]
                if dro:
                    per_sample = F.cross_entropy(
                        logits,
                        target.repeat(out.shape[0]),
                        weight=weight,
                        reduction="none",
                    )
                    # Normalised like cross_entropy's weighted mean.
                    per_sample = per_sample / weight[target].mean()
                    loss = self._group_mean(per_sample, y_rep, X)
                else:
                    loss = F.cross_entropy(
                        logits, target.repeat(out.shape[0]), weight=weight
                    )
                i_cat += 1
            else:
                target = X["s_cont"][:, i_cont].to(self.device)
                if dro:
                    per_sample = (
                        (out.squeeze(-1) - target.expand(out.shape[0], -1))
                        .pow(2)
                        .reshape(-1)
                    )
                    loss = self._group_mean(per_sample, y_rep, X)
                else:
                    loss = F.mse_loss(out.squeeze(-1), target.expand(out.shape[0], -1))
                i_cont += 1
            adv_total = adv_total + loss
        return adv_total


class AdversarialFairRepresentation(
    _AdversaryGroupsMixin, FairClassifierMixin, BaseFairNet
):
    """Fair representation learned against adversaries with gradient reversal.

    An encoder maps ``X`` to ``Z``; a linear task head predicts ``y`` from
    ``Z``; for every protected attribute a group of ``n_adversaries`` small
    MLPs tries to predict it from ``Z`` through a gradient-reversal layer
    (Ganin & Lempitsky 2015; Edwards & Storkey 2016; Madras et al. 2018).
    Several attributes are handled at once as in AdvXMultVAE (Escobedo et al.
    2024): a categorical attribute is predicted with cross-entropy weighted
    by inverse group frequency, a continuous one (e.g. age) with the mean
    squared error on its standardised value. Each group's losses are averaged
    over its heads and summed over attributes. One backward pass updates the
    encoder and task head (``optimizer``) and the adversaries
    (``optimizer_adv``); the reversal layer scales the adversaries' gradient
    reaching the encoder by ``-lambda_adv``.

    With ``sensitive_features=None`` the model trains without adversaries:
    a plain bottleneck classifier, useful as the unconstrained reference.

    .. versionadded:: 0.1

    Parameters
    ----------
    n_components : int, default=8
        Dimension of the representation ``Z``.
    hidden_layer_sizes : tuple of int, default=(64,)
        Hidden layers of the encoder.
    lambda_adv : float, list of float or dict, default=1.0
        Gradient-reversal scale per protected attribute: one value for all,
        a list in column order, or a dict keyed by column name (missing
        names get 1.0). 0 turns the fairness pressure off while the
        adversaries still train.
    n_adversaries : int, default=5
        Parallel adversaries per attribute (``K``).
    adversary_steps : int, default=3
        Adversary updates per batch: one joint step with the encoder, then
        ``adversary_steps - 1`` adversary-only steps on the same batch.
    adversary_lr : float or None, default=None
        Learning rate of the adversaries' optimizer; ``None`` uses ``lr``.
        A faster adversary than the encoder keeps it near-optimal, which
        is what gradient reversal needs.
    adversary_hidden_size : int, default=32
        Hidden width of each adversary (0: linear adversaries).
    adversary_dropout : float, default=0.3
        Input dropout of each adversary, drawn independently per head.
    sensitive_kinds : str, list or dict, default=None
        ``"categorical"`` or ``"continuous"`` per attribute; ``None`` infers
        (a float column with more than 10 distinct values is continuous).
    lr : float, default=1e-3
        Learning rate of the model's Adam optimizer (and of the adversaries'
        unless ``adversary_lr`` or ``optimizer_adv__lr`` is given).
    max_epochs : int, default=20
        Training epochs.
    batch_size : int, default=256
        Mini-batch size.
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
    averaging_epochs : float or None, default=5.0
        Expose an exponential moving average of the weights with this time
        constant in epochs instead of the last iterate (see
        :class:`~skfrl.callbacks.WeightAveraging`); None: the last iterate.
        On by default since it was measured to help (``bench_volatility``,
        Adult, six seeds, paired): probe AUC for s -0.039 [-0.071, -0.007],
        sd over the last five epochs -0.010 [-0.019, -0.001], sd over seeds
        0.038 -> 0.020, accuracy unchanged (-0.000 [-0.001, +0.000]).
    device : str, default="cpu"
        Torch device.
    verbose : int, default=0
        Progress bar and epoch log when > 0.
    group_weighting : {None, "dro"}, default=None
        ``"dro"``: weigh the task loss and the adversaries' losses over the
        groups of ``dro_groups`` by their worst case within a KL ball of
        radius ``dro_radius`` around uniform (FAAL-style distributionally
        robust training; closed-form Gibbs weights, temperature found by
        bisection, see :func:`skfrl.nn.kl_dro_weights`). ``None``: plain
        means.
    dro_radius : float, default=0.1
        KL radius ``rho`` of ``group_weighting="dro"``.
    dro_groups : {"label", "label_sensitive"}, default="label"
        Groups of the DRO weights: the classes of ``y``, or the cells
        (class of ``y``) x (group of the first, categorical sensitive
        attribute).
    random_state : int, RandomState instance or None, default=None
        Seed for initialisation, shuffling and dropout.
    **kwargs : dict
        skorch parameters with prefixes, e.g. ``optimizer__weight_decay``,
        ``optimizer_adv__lr``, ``callbacks``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Task labels.
    sensitive_attributes_ : list of SensitiveAttribute
        The protected attributes seen in ``fit`` (empty without them).
    module_ : torch.nn.Module
        The trained network.
    history_ : skorch.History
        Per-epoch and per-batch losses (``train_loss``, ``task_loss``,
        ``adv_loss``).
    n_features_in_ : int
        Number of input features.
    feature_names_in_ : ndarray of str
        Input column names, when ``X`` is a DataFrame with string columns.

    See Also
    --------
    skfrl.metrics.representation_leakage : How much ``s`` a probe finds in Z.

    References
    ----------
    .. [1] Y. Ganin and V. Lempitsky, "Unsupervised Domain Adaptation by
       Backpropagation", ICML 2015.
    .. [2] H. Edwards and A. Storkey, "Censoring Representations with an
       Adversary", ICLR 2016.
    .. [3] D. Madras, E. Creager, T. Pitassi and R. Zemel, "Learning
       Adversarially Fair and Transferable Representations", ICML 2018.
    .. [4] S. Escobedo et al., "AdvXMultVAE: multi-attribute adversarial
       debiasing", BIAS workshop at SIGIR 2024.

    Examples
    --------
    >>> from skfrl.datasets import make_biased_classification
    >>> from skfrl.models import AdversarialFairRepresentation
    >>> X, y, s = make_biased_classification(n_samples=300, random_state=0)
    >>> frl = AdversarialFairRepresentation(n_components=4, max_epochs=5,
    ...                                     random_state=0)
    >>> Z = frl.fit(X, y, sensitive_features=s).transform(X)
    >>> Z.shape
    (300, 4)
    >>> frl.predict(X[:3]).shape
    (3,)
    """

    optimizer_adv = torch.optim.Adam

    _parameter_constraints: dict = {
        **BaseFairNet._parameter_constraints,
        "hidden_layer_sizes": [tuple, list],
        "lambda_adv": [Interval(numbers.Real, 0, None, closed="left"), list, dict],
        "n_adversaries": [Interval(numbers.Integral, 1, None, closed="left")],
        "adversary_steps": [Interval(numbers.Integral, 1, None, closed="left")],
        "adversary_lr": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "adversary_hidden_size": [Interval(numbers.Integral, 0, None, closed="left")],
        "adversary_dropout": [Interval(numbers.Real, 0, 1, closed="left")],
        "sensitive_kinds": [str, list, dict, None],
        "group_weighting": [StrOptions({"dro"}), None],
        "dro_radius": [Interval(numbers.Real, 0, None, closed="left")],
        "dro_groups": [StrOptions({"label", "label_sensitive"})],
    }

    def __init__(
        self,
        n_components=8,
        hidden_layer_sizes=(64,),
        lambda_adv=1.0,
        n_adversaries=5,
        adversary_steps=3,
        adversary_lr=None,
        adversary_hidden_size=32,
        adversary_dropout=0.3,
        sensitive_kinds=None,
        lr=1e-3,
        max_epochs=20,
        batch_size=256,
        max_grad_norm=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        warm_start=False,
        averaging_epochs=5.0,
        device="cpu",
        verbose=0,
        group_weighting=None,
        dro_radius=0.1,
        dro_groups="label",
        random_state=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.lambda_adv = lambda_adv
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
        self.group_weighting = group_weighting
        self.dro_radius = dro_radius
        self.dro_groups = dro_groups
        self.random_state = random_state

    def initialize_module(self):
        """Build the encoder, task head and adversary groups."""
        outputs, scales = self._adversary_layout()
        self.module_ = _AdversarialModule(
            self.n_features_in_,
            tuple(self.hidden_layer_sizes),
            self.n_components,
            len(self.classes_),
            outputs,
            scales,
            self.n_adversaries,
            self.adversary_hidden_size,
            self.adversary_dropout,
        ).to(self.device)
        return self

    def initialize_optimizer(self, *args, **kwargs):
        """Adam for encoder and task head; a second one for the adversaries."""
        return self._initialize_adversarial_optimizers()

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """Task cross-entropy plus the adversaries' losses.

        The adversaries minimise their loss; the reversal layer makes the
        encoder maximise it, scaled by ``lambda_adv``.
        """
        y_true = y_true.to(self.device)
        task = self._group_mean(
            F.cross_entropy(y_pred["logits"], y_true, reduction="none"), y_true, X
        )
        adv_total = self._adversary_loss(y_pred["adv"], X, y_true)
        self.history.record_batch("task_loss", task.item())
        self.history.record_batch("adv_loss", adv_total.item())
        return task + adv_total

    def train_step(self, batch, **fit_params):
        """Joint step, then ``adversary_steps - 1`` adversary-only steps.

        Gradient reversal only removes what a near-optimal adversary can
        find; letting the adversaries catch up on the (detached)
        representation of the same batch makes training markedly more stable.
        """
        step = super().train_step(batch, **fit_params)
        if self.adversary_steps > 1 and len(self.module_.adversaries):
            Xi = batch[0]
            z = step["y_pred"]["z"].detach()
            adversary_catch_up(
                self.optimizer_adv_,
                lambda: self._adversary_loss(
                    [head(z) for head in self.module_.adversaries],
                    Xi,
                    batch[1].to(self.device),
                ),
                self.adversary_steps - 1,
            )
        return step
