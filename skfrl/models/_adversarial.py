"""Adversarial fair representations with gradient reversal."""

from __future__ import annotations

from torch import nn
from torch.nn import functional as F

from .._base import BaseFairNet, FairClassifierMixin
from ..nn import MLP, ParallelMLP, grad_reverse
from ._mixins import AdversaryGroupsMixin, GroupDROMixin

__all__ = ["AdversarialFairRepresentation"]


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


class AdversarialFairRepresentation(
    AdversaryGroupsMixin, GroupDROMixin, FairClassifierMixin, BaseFairNet
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
    reaching the encoder by ``-fairness_weight`` (the ``lambda`` of gradient
    reversal).

    With ``sensitive_features=None`` the model trains without adversaries:
    a plain bottleneck classifier, useful as the unconstrained reference.

    .. versionadded:: 0.1

    Parameters
    ----------
    n_components : int, default=8
        Dimension of the representation ``Z``.
    hidden_layer_sizes : tuple of int, default=(64,)
        Hidden layers of the encoder.
    fairness_weight : float or dict, default=1.0
        Gradient-reversal scale per protected attribute: one value for all,
        or a dict keyed by attribute (column) name, missing names getting
        1.0. 0 turns the fairness pressure off while the adversaries still
        train.
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

    _parameter_constraints: dict = {
        **BaseFairNet._parameter_constraints,
        **AdversaryGroupsMixin._parameter_constraints,
        **GroupDROMixin._parameter_constraints,
        "hidden_layer_sizes": [tuple, list],
    }

    def __init__(
        self,
        n_components=8,
        hidden_layer_sizes=(64,),
        fairness_weight=1.0,
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

    def _loss_terms(self, y_pred, y_true, X):
        """Task cross-entropy plus the adversaries' losses.

        The adversaries minimise their loss; the reversal layer makes the
        encoder maximise it, scaled by ``fairness_weight``.
        """
        y_true = y_true.to(self.device)
        task = self._group_mean(
            F.cross_entropy(y_pred["logits"], y_true, reduction="none"), y_true, X
        )
        adv = self._adversary_loss(y_pred["adv"], X, y_true)
        return task + adv, {"task_loss": task, "adv_loss": adv}

    def _catch_up_loss(self, batch, y_pred):
        if not len(self.module_.adversaries):
            return None
        Xi, yi = batch
        z = y_pred["z"].detach()
        return lambda: self._adversary_loss(
            [head(z) for head in self.module_.adversaries], Xi, yi.to(self.device)
        )
