"""Base classes of skfrl's skorch estimators.

:class:`BaseSkorchEstimator` turns skorch's ``NeuralNet`` into a
scikit-learn estimator (shared by the FRL models and
:class:`~skfrl.defenses.RobustMLPClassifier`); :class:`BaseFairNet` is the
base of every neural FRL model.
"""

from __future__ import annotations

import contextlib
import math
import numbers

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch import NeuralNet
from skorch.callbacks import (
    EarlyStopping,
    EpochTimer,
    PassthroughScoring,
    PrintLog,
    ProgressBar,
)
from skorch.dataset import ValidSplit
from skorch.utils import TeeGenerator
from threadpoolctl import threadpool_limits

from .exceptions import TrainingDivergedError
from .nn import BatchIterator, TensorDictDataset
from .utils import SensitiveEncoder, seed_from, torch_rng
from .utils._sklearn_compat import Interval, check_params

__all__ = ["BaseFairNet", "BaseSkorchEstimator", "FairClassifierMixin"]


class _Unavailable:
    """Hide an inherited skorch method so scikit-learn does not probe it.

    ``hasattr(estimator, name)`` is False on instances; the class attribute
    stays inspectable.
    """

    def __init__(self, reason: str):
        self.reason = reason

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        raise AttributeError(
            f"{type(instance).__name__} has no {self.name!r}: {self.reason}"
        )


@contextlib.contextmanager
def _bounded_threads(n_threads):
    """Run a fit on at most ``n_threads`` torch and BLAS threads, then restore.

    The networks of skfrl are small: one thread trains them about as fast
    as several on a quiet machine, and torch's default (one per core)
    collapses when another process competes for the cores (measured: a fit
    of 13 s took 339 s with two threads beside a busy process). Set
    ``n_threads`` (a keyword of every model) to use more.
    """
    if n_threads is None:
        yield
        return
    if isinstance(n_threads, bool) or not isinstance(n_threads, numbers.Integral):
        raise TypeError(f"n_threads must be an int >= 1 or None, got {n_threads!r}.")
    if n_threads < 1:
        raise ValueError(f"n_threads must be an int >= 1 or None, got {n_threads}.")
    previous = torch.get_num_threads()
    torch.set_num_threads(int(n_threads))
    try:
        with threadpool_limits(limits=int(n_threads)):
            yield
    finally:
        torch.set_num_threads(previous)


#: A training batch whose loss magnitude exceeds this factor times
#: ``max(1, |loss of the fit's first batch|)`` stops the fit (divergence).
_DIVERGENCE_FACTOR = 1e6


class BaseSkorchEstimator(NeuralNet):
    """A skorch ``NeuralNet`` that is a plain scikit-learn estimator.

    The configuration shared by skfrl's skorch estimators, the FRL models
    (:class:`BaseFairNet`) and :class:`~skfrl.defenses.RobustMLPClassifier`:

    - skorch's configuration (optimizer, iterators, dataset, split...) lives
      on the class, so a subclass's ``__init__`` stores its own parameters
      only and ``clone``, ``get_params`` and scikit-learn's common checks
      see exactly them; the parameters are those of the subclass's
      ``__init__`` (:class:`BaseFairNet` also accepts skorch's prefixed
      ones);
    - batches are slices of a :class:`~skfrl.nn.TensorDictDataset`, taken
      by a :class:`~skfrl.nn.BatchIterator` that reshuffles the training
      rows every epoch unless ``iterator_train__shuffle`` is set;
    - ``_train`` runs the whole fit under torch's generator forked and
      seeded from ``random_state`` (identical results for an identical
      seed, the caller's generator untouched) and on at most ``n_threads``
      torch and BLAS threads;
    - the epoch timer, and a per-epoch log when ``verbose`` is set;
    - no ``partial_fit``; pickling, ``__repr__``, ``__sklearn_is_fitted__``
      and tags of a scikit-learn estimator.

    A subclass sets ``lr``, ``max_epochs``, ``batch_size``, ``verbose`` and
    ``random_state`` in its ``__init__``, builds ``module_`` in
    ``initialize_module``, computes its loss in ``get_loss`` or
    ``train_step``, and has a ``fit`` that validates and prepares the data
    and hands it to ``_train``.

    .. versionadded:: 0.1

    Attributes
    ----------
    n_threads : int or None, default=1
        Class default of the torch and BLAS threads during ``fit``, restored
        afterwards; None leaves them alone. Subclasses expose it as a
        parameter (:class:`~skfrl.defenses.RobustMLPClassifier`, where it
        defaults to None) or a keyword (the FRL models).
    history_ : skorch.History
        skorch's record of the last fit.

    See Also
    --------
    BaseFairNet : The base of skfrl's neural FRL models.
    skfrl.defenses.RobustMLPClassifier : An adversarially trained classifier.

    Examples
    --------
    >>> from skfrl._base import BaseSkorchEstimator
    >>> from skfrl.defenses import RobustMLPClassifier
    >>> from skfrl.models import CFair
    >>> issubclass(RobustMLPClassifier, BaseSkorchEstimator)
    True
    >>> issubclass(CFair, BaseSkorchEstimator)
    True
    >>> RobustMLPClassifier().n_threads is None, CFair().n_threads
    (True, 1)
    """

    # skorch's configuration lives on the class: __init__ stores parameters
    # only, and anything a user sets through set_params becomes an instance
    # attribute and thus a parameter.
    module = None
    criterion = None
    optimizer = torch.optim.Adam
    iterator_train = BatchIterator
    iterator_valid = BatchIterator
    dataset = TensorDictDataset
    train_split = None
    callbacks = None
    predict_nonlinearity = None
    warm_start = False
    device = "cpu"
    compile = False
    use_caching = "auto"
    torch_load_kwargs = None
    history_ = None
    initialized_ = False
    virtual_params_: dict = {}  # noqa: RUF012 - replaced per instance on init
    _params_to_validate: frozenset = frozenset()
    n_threads: int | None = 1
    #: Whether ``verbose`` also shows skorch's per-batch progress bar.
    _progress_bar = False

    # A scikit-learn estimator, not a skorch net with prefixed parameters,
    # forward-pass metadata or partial_fit.
    _get_param_names = classmethod(BaseEstimator._get_param_names.__func__)
    get_params = BaseEstimator.get_params
    set_params = BaseEstimator.set_params
    get_metadata_routing = BaseEstimator.get_metadata_routing
    __repr__ = BaseEstimator.__repr__
    partial_fit = _Unavailable("refit with fit")

    def __init__(self) -> None:
        # NeuralNet.__init__ would store skorch's defaults as parameters.
        pass

    def _check_params(self) -> None:
        check_params(self)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.non_deterministic = False
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        return bool(self.initialized_) and hasattr(self, "n_features_in_")

    def __getstate__(self):
        state = super().__getstate__()
        # skorch's __setstate__ reads the device from the instance; it may be
        # a class setting.
        state.setdefault("device", self.device)
        return state

    # -- skorch hooks ------------------------------------------------------
    @property
    def _default_callbacks(self):
        # PrintLog is added in get_default_callbacks, only when verbose.
        return [("epoch_timer", EpochTimer())]

    def _extra_callbacks(self) -> list:
        """Callbacks a subclass adds after the defaults, for its options."""
        return []

    def get_default_callbacks(self):
        """The defaults, the model's own, and a log when ``verbose``."""
        callbacks = [*self._default_callbacks, *self._extra_callbacks()]
        if self.verbose:
            if self._progress_bar:
                callbacks.append(("progress_bar", ProgressBar()))
            callbacks.append(("print_log", PrintLog()))
        return callbacks

    def _sink(self, msg):
        if self.verbose:
            print(msg)

    def initialize_criterion(self):
        """Losses are computed by the subclass; no criterion module."""
        return self

    def get_iterator(self, dataset, training=False):
        """Return the batch iterator, shuffling training batches by default.

        skorch reads ``iterator_train__*`` settings from instance parameters
        only, so the shuffling default is applied here.
        """
        if training and "iterator_train__shuffle" not in self.__dict__:
            kwargs = self.get_params_for("iterator_train")
            kwargs.setdefault("batch_size", self.batch_size)
            if kwargs["batch_size"] == -1:
                kwargs["batch_size"] = len(dataset)
            return self.iterator_train(dataset, shuffle=True, **kwargs)
        return super().get_iterator(dataset, training=training)

    def get_dataset(self, X, y=None):
        """Wrap prepared arrays in a :class:`~skfrl.nn.TensorDictDataset`."""
        if isinstance(X, torch.utils.data.Dataset):
            return X
        return TensorDictDataset(X, y)

    # -- fitting -------------------------------------------------------------
    def _train(self, data, y=None, *, warm: bool = False) -> None:
        """Run skorch's fit loop on prepared data, seeded, on bounded threads.

        Draws the fit's seed from ``random_state`` (kept as ``_seed``),
        forks torch's generator seeded with it and bounds the threads to
        ``n_threads``; meanwhile initialises the net (``warm``: keeps it and
        calls :meth:`_on_warm_start`) and runs the epochs. Leaves the
        modules in evaluation mode.
        """
        self._seed = seed_from(self.random_state)
        # A continuation draws other batches than the first epochs did.
        seed = self._seed + 7919 * len(self.history_) if warm else self._seed
        # The thread count is process-wide too: set and restore it while
        # holding torch_rng's lock, so no other thread changes it mid-fit.
        with torch_rng(seed), _bounded_threads(self.n_threads):
            if warm:
                self._on_warm_start()
            else:
                self.initialize()
            self._run_fit_loop(data, y)
        self._set_training(False)

    def _on_warm_start(self) -> None:
        """Refresh state that ``initialize_module`` derived from the data."""

    def _run_fit_loop(self, data, y, epochs: int | None = None) -> None:
        self.notify("on_train_begin", X=data, y=y)
        try:
            self.fit_loop(data, y, epochs=epochs)
        except KeyboardInterrupt:  # skorch convention: stop, keep the model
            pass
        finally:
            self.notify("on_train_end", X=data, y=y)

    def _inference(self, fn, X, chunk_size: int = 8192) -> np.ndarray:
        """``fn`` on ``X`` chunk by chunk, without gradients, as an array."""
        self._set_training(False)
        out = []
        with torch.no_grad():
            for start in range(0, len(X), chunk_size):
                xb = torch.as_tensor(X[start : start + chunk_size], device=self.device)
                out.append(fn(xb).cpu().numpy())
        return np.concatenate(out, axis=0)


class BaseFairNet(TransformerMixin, BaseSkorchEstimator):
    """Base class of skfrl's neural fair-representation models.

    A skorch :class:`~skorch.NeuralNet` whose scikit-learn face is a
    transformer: ``fit(X, y, *, sensitive_features)`` and
    ``transform(X) -> Z``. Subclasses implement these hooks:

    - ``initialize_module``: build ``self.module_``, a torch module with an
      ``encode(x) -> z`` method (the representation, posterior mean for VAEs)
      and a ``forward(x)`` used in training;
    - ``_loss_terms(y_pred, y_true, X)``: the training loss and its named
      terms (``{"task_loss": ..., ...}``, recorded in the batch's history),
      where ``X`` is the batch dict holding ``"X"`` and the encoded
      sensitive attributes ``"s_cat"`` (int64 codes) and ``"s_cont"``
      (standardised float32 values); skorch's ``get_loss`` returns the
      total, without side effects;
    - optionally ``initialize_optimizer`` for extra optimizers, registered
      the skorch way so that e.g. ``optimizer_adv__lr`` can be grid-searched
      (the adversarial models get theirs from a mixin of
      :mod:`skfrl.models`).

    How it differs from a plain ``NeuralNet``: what
    :class:`BaseSkorchEstimator` gives (``__init__`` stores only its
    parameters, skorch's configuration defaults being class attributes, so
    scikit-learn's ``clone`` and common checks hold; the whole fit runs
    under a forked torch RNG seeded from ``random_state``, identical results
    for an identical seed, the caller's RNG untouched; batches are sliced
    from tensors by :class:`~skfrl.nn.BatchIterator`); data are validated
    with ``validate_data``; ``sensitive_features`` is folded into the batch
    rather than passed to ``forward`` whole; a non-finite loss raises
    :class:`~skfrl.exceptions.TrainingDivergedError` (a
    ``FloatingPointError`` and a ``ValueError``), and so does a finite one
    that explodes (see :meth:`on_train_begin`).

    Any skorch parameter can still be given with its prefix, e.g.
    ``optimizer__weight_decay=1e-4``, ``callbacks=[...]`` or
    ``iterator_train__drop_last=True``.

    .. versionadded:: 0.1

    Parameters
    ----------
    n_components : int
        Dimension of the representation.
    lr : float
        Learning rate of every optimizer unless ``optimizer*__lr`` is given.
    max_epochs : int
        Number of passes over the training data.
    batch_size : int
        Mini-batch size.
    max_grad_norm : float or None
        Clip the gradient norm of all parameters to this value.
    early_stopping : bool
        Hold out ``validation_fraction`` of the training data and stop when
        the validation loss has not improved for ``n_iter_no_change`` epochs,
        restoring the best weights.
    validation_fraction : float
        Share of the training data held out for early stopping.
    n_iter_no_change : int
        Patience of early stopping, in epochs.
    warm_start : bool
        When True and the model is fitted, ``fit`` continues training from
        the current weights (and optimizer state) for ``max_epochs`` more
        epochs, on the data it is given, instead of starting afresh. The
        data must have the same features, classes and groups.
    device : str
        Torch device, ``"cpu"`` (default) or e.g. ``"cuda"``.
    verbose : int
        0: silent; 1 or more: a progress bar and a per-epoch log.
    random_state : int, RandomState instance or None
        Seeds weight initialisation, shuffling and dropout.
    n_threads : int or None, default=1
        Keyword of every model (set it like a skorch parameter, e.g.
        ``CFair(n_threads=4)``): torch and BLAS threads during ``fit``,
        restored afterwards. One by default: skfrl's networks are small, and
        more threads than free cores slow training by orders of magnitude
        when another process is busy. None leaves the threads alone.
    **kwargs : dict
        skorch parameters with a prefix (``optimizer__``, ``callbacks__``,
        ``iterator_train__``...).

    Attributes
    ----------
    sensitive_encoder_ : SensitiveEncoder or None
        The fitted encoder of ``sensitive_features`` (None without them).
    sensitive_attributes_ : list of SensitiveAttribute
        The protected attributes seen in ``fit`` (empty without them).
    sensitive_class_counts_ : list of ndarray
        Rows per group of each categorical attribute in the training data.
    sensitive_mean_, sensitive_scale_ : ndarray of shape (n_continuous,) or None
        Standardisation of the continuous attributes (None without them).

    Examples
    --------
    ``BaseFairNet`` is abstract; see
    :class:`~skfrl.models.AdversarialFairRepresentation` for a model.

    >>> from skfrl._base import BaseFairNet
    >>> from skfrl.models import AdversarialFairRepresentation
    >>> issubclass(AdversarialFairRepresentation, BaseFairNet)
    True
    """

    _skfrl_representation = True
    #: Whether several sensitive attributes can be given at once.
    _supports_multiple_sensitive = True
    #: Whether continuous sensitive attributes are allowed (models that take
    #: them also have ``sensitive_kinds``, see ``ContinuousSensitiveMixin``).
    _supports_continuous_sensitive = False

    _progress_bar = True

    _parameter_constraints: dict = {
        "n_components": [Interval(numbers.Integral, 1, None, closed="left")],
        "lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "max_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "max_grad_norm": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "warm_start": ["boolean"],
        "device": [str, torch.device],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
    }

    partial_fit = _Unavailable("retrain with fit (or warm_start=True)")
    predict = _Unavailable("this model has no task head")
    predict_proba = _Unavailable("this model has no task head")

    def __init__(self, **kwargs):
        # n_threads is skfrl's own keyword, not a skorch parameter to check.
        self._params_to_validate = set(kwargs) - {"n_threads"}
        vars(self).update(kwargs)

    # -- scikit-learn plumbing -------------------------------------------
    # Unlike the base's, the parameters include skorch's prefixed ones: any
    # keyword stored on the instance; skorch's get_params adds the
    # callbacks' parameters (deep) and its routing the validation splitter.
    def _get_param_names(self):
        return sorted(
            k for k in self.__dict__ if not k.startswith("_") and not k.endswith("_")
        )

    get_params = NeuralNet.get_params
    get_metadata_routing = NeuralNet.get_metadata_routing

    def set_params(self, **params):
        """Set parameters, including skorch's prefixed ones.

        After ``fit``, skorch applies optimizer parameters such as
        ``optimizer_adv__lr`` to the live optimizer only; they are stored as
        parameters too, so ``get_params``, ``clone`` and the next ``fit`` see
        them.
        """
        # Data-loading settings are read at fit time; skorch would otherwise
        # try (and fail) to re-initialise a fitted net for them.
        direct = {
            k: v
            for k, v in params.items()
            if k.split("__", 1)[0] in ("iterator_train", "iterator_valid", "dataset")
            and "__" in k
        }
        NeuralNet.set_params(
            self, **{k: v for k, v in params.items() if k not in direct}
        )
        for key, value in params.items():
            if "__" in key and not key.startswith("callbacks"):
                vars(self)[key] = value
                self._params_to_validate.add(key)
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    @property
    def _n_features_out(self) -> int:
        return self.n_components

    def get_feature_names_out(self, input_features=None):
        """Names of the representation's columns.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Ignored except for a length check against ``n_features_in_``;
            present for API consistency.

        Returns
        -------
        feature_names_out : ndarray of str
            ``<classname>_z0``, ..., ``<classname>_z{n_components-1}``.
        """
        check_is_fitted(self, "n_features_in_")
        if input_features is not None and len(input_features) != self.n_features_in_:
            raise ValueError(
                f"input_features has {len(input_features)} names but the model "
                f"was fitted on {self.n_features_in_} features."
            )
        prefix = type(self).__name__.lower()
        return np.asarray(
            [f"{prefix}_z{i}" for i in range(self._n_features_out)], dtype=object
        )

    # -- skorch hooks ------------------------------------------------------
    @property
    def _default_callbacks(self):
        return [
            *super()._default_callbacks,
            ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
            ("valid_loss", PassthroughScoring(name="valid_loss")),
        ]

    def _extra_callbacks(self) -> list:
        """Early stopping, when asked for."""
        callbacks = []
        if self.early_stopping:
            callbacks.append(
                (
                    "early_stopping",
                    EarlyStopping(
                        monitor="valid_loss",
                        patience=self.n_iter_no_change,
                        load_best=True,
                        sink=self._sink,
                    ),
                )
            )
        return callbacks

    def get_split_datasets(self, X, y=None, **fit_params):
        """Split off a validation set when ``early_stopping`` is on."""
        dataset = self.get_dataset(X, y)
        if self.train_split:
            return self.train_split(dataset, y, **fit_params)
        if not self.early_stopping:
            return dataset, None
        splitter = ValidSplit(
            self.validation_fraction,
            stratified=y is not None and self._is_classifier_net,
            random_state=self._seed,
        )
        return splitter(dataset, None if y is None else np.asarray(y))

    def infer(self, x, **fit_params):
        """Run the module's training forward pass on a batch dict."""
        x = {k: v.to(self.device) for k, v in x.items()}
        return self.module_(x["X"], **fit_params)

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        """Forget the previous fit's reference loss of the divergence guard.

        Divergence guard: the loss of the first training batch of each
        ``fit`` (computed before any update) is the reference; any later
        batch whose loss magnitude exceeds ``1e6 * max(1, |reference|)``
        raises :class:`~skfrl.exceptions.TrainingDivergedError` (a
        ``FloatingPointError`` and a ``ValueError``) before its optimizer
        step. The floor
        of 1 keeps the rule meaningful for losses that start near zero or
        negative (adversarial objectives, likelihoods). Normal training
        never comes near it: default fits of every model on the German
        credit data stay within 1.2 times their first loss. Subclasses that
        override this hook call ``super().on_train_begin``.
        """
        self._loss_reference = None

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        """Refuse weights that became non-finite during the epoch.

        A finite loss can still produce infinite gradients (e.g. features of
        1e16 in float32), and one optimizer step then leaves NaN weights that
        ``transform`` would turn into NaN representations.
        """
        super().on_epoch_end(
            net, dataset_train=dataset_train, dataset_valid=dataset_valid, **kwargs
        )
        for name, param in self.module_.named_parameters():
            if not bool(torch.isfinite(param).all()):
                raise TrainingDivergedError(
                    f"{type(self).__name__}: training diverged: parameter "
                    f"{name!r} became non-finite in epoch {len(self.history)}. "
                    "Lower lr, set max_grad_norm, or check X for extreme values "
                    "(scale it, e.g. with make_preprocessor)."
                )

    def _check_divergence(self, loss_value: float) -> None:
        """Raise ``TrainingDivergedError`` when a finite training loss explodes."""
        reference = getattr(self, "_loss_reference", None)
        history = self.history
        fresh = not history or (len(history) == 1 and len(history[-1]["batches"]) <= 1)
        if reference is None or fresh:
            self._loss_reference = loss_value
            return
        limit = _DIVERGENCE_FACTOR * max(1.0, abs(reference))
        if abs(loss_value) > limit:
            raise TrainingDivergedError(
                f"{type(self).__name__}: training diverged: the loss became "
                f"{loss_value:.3g} in epoch {len(history)}, more than "
                f"{_DIVERGENCE_FACTOR:g} times max(1, |first batch loss|) = "
                f"{max(1.0, abs(reference)):.3g}. Lower lr, set max_grad_norm, "
                "or check X for extreme values (scale it, e.g. with "
                "make_preprocessor)."
            )

    def _loss_terms(
        self, y_pred, y_true, X
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The training loss of a batch and its named terms.

        Subclasses return the total and the terms it combines, e.g.
        ``(task + adv, {"task_loss": task, "adv_loss": adv})``; the terms
        are recorded in the batch's history.
        """
        raise NotImplementedError

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """The training loss of a batch (skorch's hook), without side effects.

        The total of :meth:`_loss_terms`; its terms ride along, detached, as
        the ``loss_parts`` attribute of the returned tensor, and
        ``train_step`` and ``validation_step`` record them in the history
        (attacks evaluate this loss on batches of their own, so it must not
        record anything itself).

        Parameters
        ----------
        y_pred : dict
            The module's training outputs for the batch.
        y_true : Tensor or None
            The batch's label codes (None for unsupervised models).
        X : dict
            The batch: ``"X"``, and ``"s_cat"``, ``"s_cont"`` when given.
        training : bool, default=False
            Whether the loss is computed for a training step.

        Returns
        -------
        loss : Tensor
            The scalar loss.
        """
        loss, parts = self._loss_terms(y_pred, y_true, X)
        loss.loss_parts = {name: value.detach() for name, value in parts.items()}
        return loss

    def _record_loss_parts(self, loss: torch.Tensor) -> None:
        # A subclass's get_loss that builds a new tensor carries no terms.
        for name, value in getattr(loss, "loss_parts", {}).items():
            self.history.record_batch(name, value.item())

    def train_step(self, batch, **fit_params):
        """One optimisation step on ``batch``, with skorch's closure pattern.

        The closure zeroes the gradients, runs a forward and backward pass
        (``train_step_single``), refuses a non-finite or exploding loss,
        clips the gradient norm to ``max_grad_norm`` and notifies
        ``on_grad_computed``. :meth:`_step_optimizer` evaluates it once for
        every optimizer; an optimizer that re-evaluates the loss (L-BFGS)
        calls it as often as it needs. The loss parts of the first
        evaluation, the one whose loss skorch records as ``train_loss``, go
        to the batch's history (see :meth:`get_loss`).
        """
        accumulator = self.get_train_step_accumulator()
        first_loss = None

        def step_fn():
            nonlocal first_loss
            self._zero_grad_optimizer(set_to_none=True)
            step = self.train_step_single(batch, **fit_params)
            loss_value = float(step["loss"].detach())
            if not math.isfinite(loss_value):
                epoch = len(self.history) if self.history is not None else 0
                raise TrainingDivergedError(
                    f"{type(self).__name__}: the training loss became "
                    f"{loss_value} in epoch {epoch}. Lower lr, set max_grad_norm, "
                    "or check X for extreme values (scale it, e.g. with "
                    "make_preprocessor)."
                )
            if first_loss is None:
                # Only the batch's loss: the trial points of a line search
                # may legitimately be far worse.
                self._check_divergence(loss_value)
                first_loss = step["loss"]
            if self.max_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(
                    [p for _, p in self.get_all_learnable_params()],
                    self.max_grad_norm,
                )
            self.notify(
                "on_grad_computed",
                named_parameters=TeeGenerator(self.get_all_learnable_params()),
                batch=batch,
                training=True,
            )
            accumulator.store_step(step)
            return step["loss"]

        self._step_optimizer(step_fn)
        self._record_loss_parts(first_loss)
        return accumulator.get_step()

    def _step_optimizer(self, step_fn) -> None:
        """Step every optimizer on one evaluation of ``step_fn``.

        skorch hands the closure to each optimizer in turn, which would
        compute the loss (and draw dropout) once per optimizer; here the
        first optimizer receives it and the others (an adversaries'
        optimizer) step on the gradients it left.
        """
        optimizers = [getattr(self, name + "_") for name in self._optimizers]
        if step_fn is not None:
            optimizers[0].step(step_fn)
            optimizers = optimizers[1:]
        for optimizer in optimizers:
            optimizer.step()

    def validation_step(self, batch, **fit_params):
        """Loss on a validation batch, without gradients."""
        self._set_training(False)
        Xi, yi = batch
        with torch.no_grad():
            y_pred = self.infer(Xi, **fit_params)
            loss = self.get_loss(y_pred, yi, X=Xi, training=False)
        self._record_loss_parts(loss)
        return {"loss": loss, "y_pred": y_pred}

    # -- data preparation ---------------------------------------------------
    _is_classifier_net = False

    def _validate_X(self, X, *, reset: bool):
        X = validate_data(self, X, reset=reset, dtype=[np.float32, np.float64])
        return np.ascontiguousarray(X, dtype=np.float32)

    def _validate_fit_data(self, X, y):
        """Validate X (and y for models with a task head) for ``fit``."""
        kwargs = {"dtype": [np.float32, np.float64], "ensure_min_samples": 2}
        if self._is_classifier_net:
            X, y = validate_data(self, X, y, reset=True, **kwargs)
        else:
            X = validate_data(self, X, reset=True, **kwargs)
            if y is not None:
                y = np.asarray(y)
                if len(y) != len(X):
                    raise ValueError(f"y has {len(y)} rows but X has {len(X)} samples.")
        return np.ascontiguousarray(X, dtype=np.float32), y

    def _prepare_y(self, y):
        """Encode the target; subclasses with a task head override this."""
        return None

    def _sensitive_kinds(self):
        """Declared kinds of the sensitive attributes; None: inferred."""
        return None

    def _prepare_sensitive(self, sensitive_features, n_samples: int) -> dict:
        """Encode ``sensitive_features`` into the batch dict entries.

        Fits ``sensitive_encoder_`` and keeps what it learned as fitted
        attributes: ``sensitive_attributes_``, ``sensitive_class_counts_``
        (rows per group of each categorical attribute) and
        ``sensitive_mean_``, ``sensitive_scale_`` (standardisation of the
        continuous ones, None without them).
        """
        if sensitive_features is None:
            encoder, out = None, {}
            attrs, counts, mean, scale = [], [], None, None
        else:
            encoder = SensitiveEncoder(
                kinds=self._sensitive_kinds(),
                allow_continuous=self._supports_continuous_sensitive,
            )
            out = encoder.fit_transform(sensitive_features, n_samples=n_samples)
            attrs, counts = encoder.attributes_, encoder.class_counts_
            mean, scale = encoder.mean_, encoder.scale_
            if len(attrs) > 1 and not self._supports_multiple_sensitive:
                raise ValueError(
                    f"{type(self).__name__} supports a single sensitive attribute, "
                    f"got {len(attrs)} ({[a.name for a in attrs]}); fit one model "
                    "per attribute or combine them into one categorical attribute."
                )
        self.sensitive_encoder_ = encoder
        self.sensitive_attributes_ = attrs
        self.sensitive_class_counts_ = counts
        self.sensitive_mean_, self.sensitive_scale_ = mean, scale
        return out

    # -- public API ------------------------------------------------------------
    def fit(self, X, y=None, *, sensitive_features=None):
        """Fit the representation.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Numeric training data (encode categories first, e.g. with
            :func:`skfrl.datasets.make_preprocessor`).
        y : array-like of shape (n_samples,), default=None
            Target, required by models with a task head.
        sensitive_features : array-like of shape (n_samples,) or \
(n_samples, n_attributes), default=None
            Protected attribute(s). ``None`` trains without the fairness term.

        Returns
        -------
        self : object
            The fitted model.
        """
        self._check_params()
        warm = bool(self.warm_start and self.__sklearn_is_fitted__())
        # Fitted state that preparing the new data overwrites; restored when
        # a warm start refuses that data, so the model stays usable.
        fitted = {k: v for k, v in vars(self).items() if k.endswith("_")}
        try:
            X, y = self._validate_fit_data(X, y)
            if warm and X.shape[1] != fitted["n_features_in_"]:
                raise ValueError(
                    "warm_start=True continues a model fitted on "
                    f"{fitted['n_features_in_']} features; X has {X.shape[1]}. "
                    "Set warm_start=False to refit."
                )
            y_enc = self._prepare_y(y)
            # X.shape[0], not len(X): subclasses may keep X as a sparse matrix.
            data = {"X": X, **self._prepare_sensitive(sensitive_features, X.shape[0])}
            # Same layout required; the new data's statistics (base rates) are
            # kept.
            if warm and self._data_signature() != self._data_signature(fitted):
                raise ValueError(
                    "warm_start=True continues training on data with the same "
                    "classes and sensitive groups as the first fit; got "
                    f"{self._data_signature()} instead of "
                    f"{self._data_signature(fitted)}. Set warm_start=False to "
                    "refit."
                )
        except ValueError:
            if warm:
                vars(self).update(fitted)
            raise
        self._train(data, y_enc, warm=warm)
        return self

    def _data_signature(self, state: dict | None = None) -> tuple:
        """What a warm-started fit must find unchanged in its data.

        Read from ``state`` (a copy of fitted attributes) instead of the
        model when given.
        """
        state = vars(self) if state is None else state
        classes = state.get("classes_")
        return (
            None if classes is None else tuple(np.asarray(classes).tolist()),
            tuple(
                (
                    a.kind,
                    None
                    if a.classes is None
                    else tuple(np.asarray(a.classes).tolist()),
                )
                for a in state.get("sensitive_attributes_", [])
            ),
        )

    def transform(self, X):
        """Return the learned representation of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data, preprocessed like the training data.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_components), dtype float32
            The representation (the posterior mean for variational models).
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return self._inference(self.module_.encode, X)


class FairClassifierMixin(ClassifierMixin):
    """Task head API for FRL models that also predict ``y``.

    Provides ``classes_``, ``predict_proba``, ``predict`` and ``score``
    (accuracy) on top of a :class:`BaseFairNet` whose module has a
    ``predict_logits(x)`` method.

    .. versionadded:: 0.1

    Examples
    --------
    >>> from skfrl._base import FairClassifierMixin
    >>> from skfrl.models import AdversarialFairRepresentation
    >>> issubclass(AdversarialFairRepresentation, FairClassifierMixin)
    True
    """

    _is_classifier_net = True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.classifier_tags.multi_label = False
        return tags

    def _prepare_y(self, y):
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least two classes in y, got one "
                f"class ({self.classes_[0]!r})."
            )
        return encoder.transform(y).astype(np.int64)

    def predict_proba(self, X):
        """Class probabilities of the task head.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities in the order of ``classes_``.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        logits = self._inference(self.module_.predict_logits, X)
        logits = logits.astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        proba = np.exp(logits)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X):
        """Predicted class labels of the task head.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]
