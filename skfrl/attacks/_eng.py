"""The ENG poisoning attack on fair representations (Liu et al., ICLR 2024)."""

from __future__ import annotations

import copy
import numbers
import time

import numpy as np
import pandas as pd
import torch
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback

from ..inspection import (
    TrainingGraph,
    TrainingRows,
    encode_at,
    flat_gradient,
    group_codes,
)
from ..utils import fine_tune, seed_from, split_representation, torch_rng
from ..utils._sklearn_compat import HasMethods, Interval, StrOptions
from ._base import BaseAttack, PoisonSet
from ._feature_space import FeatureSpace

__all__ = ["PoisonGenerator", "fld_torch"]


def _check_fld_inputs(Z, s, eps) -> None:
    """Refuse what would make :func:`fld_torch` NaN or fail obscurely."""
    if not isinstance(Z, torch.Tensor):
        raise TypeError(f"Z must be a torch.Tensor, got {type(Z).__name__}.")
    if Z.ndim != 2 or Z.shape[1] < 1:
        raise ValueError(
            f"Z must be 2-D of shape (n, d) with d >= 1, got shape {tuple(Z.shape)}."
        )
    if not Z.is_floating_point():
        raise TypeError(f"Z must be a floating-point tensor, got dtype {Z.dtype}.")
    if not isinstance(s, torch.Tensor):
        raise TypeError(f"s must be a torch.Tensor, got {type(s).__name__}.")
    if s.ndim != 1 or len(s) != len(Z):
        raise ValueError(
            f"s must be 1-D with one group code per row of Z ({len(Z)}), got "
            f"shape {tuple(s.shape)}."
        )
    if s.is_complex():
        raise TypeError(f"s must hold 0/1 group codes, got dtype {s.dtype}.")
    n0, n1 = int((s == 0).sum()), int((s == 1).sum())
    if n0 + n1 != len(s):
        raise ValueError(
            "s must hold binary group codes 0 and 1 only; found "
            f"{len(s) - n0 - n1} other value(s)."
        )
    if n0 < 2 or n1 < 2:
        raise ValueError(
            "s must have at least 2 rows in each group (0 and 1) to estimate "
            f"the group covariances; got {n0} and {n1}."
        )
    if (
        isinstance(eps, bool)
        or not isinstance(eps, numbers.Real)
        or not np.isfinite(eps)
        or eps < 0
    ):
        raise ValueError(f"eps must be a finite real number >= 0, got {eps!r}.")


def fld_torch(Z: torch.Tensor, s: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Differentiable Fisher discriminant score of a binary ``s`` in ``Z``.

    ``(mu1 - mu0)^T (S0 + S1 + eps * v * I)^-1 (mu1 - mu0)`` with ``S_g`` the
    group covariances and ``v`` their mean variance (so the ridge scales
    with ``Z``), matching :func:`skfrl.metrics.fld_score`'s definition.

    .. versionadded:: 0.1

    Parameters
    ----------
    Z : Tensor of shape (n, d)
        Representations (floating point).
    s : Tensor of shape (n,)
        Binary group codes (0/1), at least two rows of each group.
    eps : float, default=1e-3
        Relative ridge (finite, >= 0).

    Returns
    -------
    Tensor
        Scalar score.

    Examples
    --------
    >>> import torch
    >>> from skfrl.attacks import fld_torch
    >>> g = torch.Generator().manual_seed(0)
    >>> s = torch.arange(200) % 2
    >>> Z = torch.randn(200, 3, generator=g) + 3.0 * s[:, None]
    >>> bool(fld_torch(Z, s) > 5)
    True
    """
    _check_fld_inputs(Z, s, eps)
    d = Z.shape[1]
    z0, z1 = Z[s == 0], Z[s == 1]
    mu0, mu1 = z0.mean(0), z1.mean(0)
    c0 = (z0 - mu0).T @ (z0 - mu0) / max(len(z0) - 1, 1)
    c1 = (z1 - mu1).T @ (z1 - mu1) / max(len(z1) - 1, 1)
    within = c0 + c1
    ridge = eps * torch.clamp(torch.diagonal(within).mean().detach(), min=1e-12)
    diff = (mu1 - mu0).unsqueeze(1)
    sol = torch.linalg.solve(within + ridge * torch.eye(d, dtype=Z.dtype), diff)
    return (diff * sol).sum()


def _cosine(g: torch.Tensor, g_adv: torch.Tensor, mask) -> torch.Tensor:
    """Cosine of a field with the (already masked) attacker's gradient."""
    if mask is not None:
        g = g[mask]
    return (g @ g_adv) / (g.norm() * g_adv.norm() + 1e-12)


class _Checkpoints(Callback):
    """Parameter snapshots of a training run at chosen epochs (0: initial)."""

    def __init__(self, epochs):
        self.epochs = epochs

    def initialize(self):
        self.states_ = []
        return self

    def _save(self, net):
        self.states_.append(
            [p.detach().clone() for p in net.module_.parameters() if p.requires_grad]
        )

    def on_train_begin(self, net, **kwargs):
        if 0 in self.epochs:
            self._save(net)

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) in self.epochs:
            self._save(net)


class PoisonGenerator(BaseAttack):
    """ENG: poisons that make a fair representation leak ``s``.

    Liu et al. (ICLR 2024) attack FRL by maximising the mutual information
    between the victim's representation of target data and the sensitive
    attribute, replaced by a Fisher-linear-discriminant (FLD) proxy, under
    the bilevel constraint that the victim is trained on clean + poisoned
    data. The lower level is approximated by gradient matching (Geiping et
    al. 2021): with the victim trained on clean data (``theta_0``), the
    poisons ``x_base + delta`` minimise ::

        1 - cos(grad L_victim(poisons; theta_0), grad L_adv(theta_0))
            + lambda1 ||delta||_1 + lambda2 ||delta||_2^2

    where ``L_adv = -FLD(h(X_target), s_target)`` (``objective="fld"``) or
    the cross-entropy of a logistic probe for ``s`` on the target
    representations (``objective="probe"``), ``L_victim`` is the victim's
    own training loss through its training graph (gradient reversal, KL
    terms), and the gradients are taken over the encoder's parameters
    (``match="encoder"``) or over all of the model's parameters. ``delta``
    is optimised with Adam, a proximal soft-threshold step for the L1 term
    and a projection onto the feature space after every step; the best of
    ``n_restarts`` random restarts is kept. Poisons are decoded into valid
    raw rows.

    How poisons' labels are chosen (``label_strategy``):

    - ``"copy"``: ``y`` and ``s`` of the base row (the paper's recipe);
    - ``"flip_s"``: the base row's ``y`` with the other group;
    - ``"aligned"``: the base row's ``s``, and ``y`` set to follow ``s``
      (positive for one group, negative for the other, whichever way raises
      the gradient alignment), so that the task head profits from ``s``
      being kept in ``Z``;
    - ``"contradict"`` (default): ``y`` follows the base row's ``s`` as in
      ``"aligned"``, but the poison is recorded with the *other* group.
      With ``base_selection="proxy"`` the bases are rows whose features
      reveal their group most clearly, so each poison pairs strong proxies
      of one group with the other group's label. A decoder conditioned on
      ``s`` (ICVAE, VFAE) can then no longer explain those proxies by
      ``s`` and has to carry them in ``Z``, and an adversary learns that
      the proxies are weaker evidence of ``s`` than they are on clean data;
      both leave the proxies, and hence ``s``, in the representation of
      clean target data.

    ``base_selection="proxy"`` draws the bases among the ``3 * n_poison``
    training rows to which a logistic regression of ``s`` on the encoded
    features gives their own group the highest probability.

    .. versionadded:: 0.1

    Parameters
    ----------
    victim : BaseFairNet or Pipeline
        Unfitted (or fitted: it is cloned) skfrl neural FRL model, or a
        Pipeline ``[ColumnTransformer ->] model [-> downstream]``.
    budget : float in (0, 1) or int, default=0.05
        Share of the training set, or number of poisons.
    objective : {"fld", "probe"}, default="fld"
        Attacker's leakage objective.
    target_fraction : float, default=0.3
        Share of the attacker's data used as target data for the objective.
    n_steps : int, default=60
        Adam steps per restart (crafting steps with ``method="unrolled"``).
        On Adult the matching loss of CFair and ICVAE-S victims stops
        improving after 25-50 steps (measured: 0.792 after 25 steps, 0.792
        after 200), so the default was lowered from 200 to keep crafting
        within about one clean training.
    n_restarts : int, default=1
        Restarts from fresh base samples; the best matching loss wins.
    step_size : float, default=1.0
        Adam learning rate on ``delta`` (encoded units).
    lambda1, lambda2 : float, default=1e-4, 1e-4
        Elastic-net penalty on ``delta``.
    label_strategy : {"copy", "flip_s", "aligned", "contradict"}, \
            default="contradict"
        How poison labels are set (see above).
    base_selection : {"random", "stratified", "proxy", "alignment"}, \
            default="proxy"
        Base rows drawn uniformly, stratified by (y, s), among the rows
        whose features reveal their group most clearly (see above), or, with
        ``"alignment"``, the rows of a random pool of ``4 * n_poison``
        whose own training field (with their poison labels) has the highest
        cosine with the attacker's gradient (one field evaluation per pool
        row and victim, so slower).
    match : {"encoder", "all"}, default="all"
        Parameters whose gradients are matched.
    alignment : {"cosine", "projection"}, default="cosine"
        What matching maximises: the cosine between the poisons' training
        field and the attacker's gradient (Witches' Brew), or
        ``"projection"``, the poisons' field projected on the attacker's
        direction, divided by the norm of the clean training field, which
        also rewards poisons whose push is large next to the clean data's
        (the first-order change of the attacker's loss after a step of
        continued training grows with it).
    n_victims : int, default=1
        Victims matched jointly: the clean victim plus ``n_victims - 1``
        more, trained from other seeds on the same data; the matching loss
        is the mean over them (the ensemble of Witches' Brew), so that the
        poisons do not rely on one training run's basin. On the attack
        benchmark (5 %, eight data set x victim cells, three to six seeds,
        the previous ``"aligned"`` / ``"stratified"`` recipe) 4 victims
        changed the retrained victims' probe AUC by +0.003 on average
        against -0.005 with 1: within the noise (sd 0.04).
        Crafting time grows about linearly, plus one fit per extra victim.
    ensemble : {"seeds", "continuation"}, default="seeds"
        Where the ``n_victims - 1`` extra victims come from. ``"seeds"``:
        trained from scratch with other seeds (above). ``"continuation"``:
        snapshots of the victim *continuing* its training on clean rows plus
        poisons crafted against it first (a first round of matching),
        taken at equal steps of ``continuation_epochs``; the poisons are
        then crafted again, matched jointly at the victim and the
        snapshots. Meant for the fine-tuning threat model (``prefit=True``),
        where the first-order direction at the trained victim alone fades
        as the continuation moves: on Adult with CFair (5 %, 30 epochs of
        fine-tuning, 20 seeds) it raised ENG's probe-AUC change from -0.003
        to +0.016 (+0.020 [-0.005, +0.044] over the single victim), level
        with anchoring; on German CFair and CFair-EO and Adult CFair-EO it
        did not help, against Adult's VAE victims it did less than the
        single victim (see :ref:`attacks_benchmark`). Costs the
        continuation's epochs on ``1 + budget`` times the data plus two
        rounds of matching (1.4 clean trainings, median).
    continuation_epochs : int or None, default=None
        Epochs of the simulated continuation with
        ``ensemble="continuation"``; None: the victim's ``max_epochs``.
    prefit : bool, default=False
        ``victim`` is already fitted (its preprocessing too): craft against
        it as it is instead of fitting a clone first. This is the threat
        model of Liu et al. (Assumption 2) in which the poisons enter a
        victim that keeps training from its clean state (see
        :func:`skfrl.utils.fine_tune`). The victim is never modified.
    method : {"matching", "unrolled"}, default="matching"
        ``"matching"``: first-order gradient matching at the clean victim
        (above). ``"unrolled"`` (MetaPoison-style, Huang et al. 2020):
        minimise the attacker's loss *after* ``unroll_steps`` training
        steps of the victim on clean + poisoned rows, differentiated through
        those steps (encoder, task head and adversaries all move, so the
        adversary's response is inside the unroll). Each crafting step
        unrolls from one of several surrogates, snapshots of the clean
        victim's training run at the fractions ``checkpoints`` of its
        epochs, taken in turn; after each use a surrogate advances by one
        training step on clean + current poisons (re-training the surrogate
        between rounds). Unrolled steps are normalised gradient steps of
        length ``lr * sqrt(n_parameters)`` (the size of a saturated Adam
        step); clean and poisoned rows enter each step with the weights
        they have in the poisoned training set. One run: ``n_restarts``
        and the label-direction search of ``"aligned"``/``"contradict"``
        are not used. About ``3 * unroll_steps`` field evaluations per
        crafting step, so several times slower than matching.
    unroll_steps : int, default=2
        Training steps differentiated through, with ``method="unrolled"``.
    checkpoints : array-like of float in [0, 1], default=(0.0, 0.25, 0.5, 1.0)
        Fractions of the clean training run whose snapshots serve as
        surrogates with ``method="unrolled"`` (0: initialisation). With
        ``prefit=True`` only the trained victim is available and used.
    random_state : int, RandomState instance or None, default=None
        Seed of the victim fits, target split, bases and restarts.
    verbose : int, default=0
        Print the matching loss per restart when > 0.

    Attributes
    ----------
    victim_ : fitted clone of ``victim``
        The clean-trained victim (``theta_0``).
    ensemble_ : list of fitted models
        The FRL models matched jointly (the clean victim's first), each
        with its own seed; ``len(ensemble_) == n_victims``.
    perturbations_ : ndarray of shape (n_poison, n_features_out)
        Crafted ``delta`` in the encoded space (before snapping).
    history_ : list of list of float
        Matching loss per step, one list per restart.
    crafting_time_ : float
        Seconds spent crafting (victim fit excluded).
    timings_ : dict of str to float
        Seconds per phase: ``"victim_fit"`` (fitting the victim and the
        ensemble; near 0 with ``prefit=True``), ``"base_selection"``,
        ``"matching"``, ``"continuation"`` (simulating the continued
        training, ``ensemble="continuation"`` only) and ``"decoding"``
        (snapping poisons to valid rows),
        and ``"total"`` (the whole ``fit_resample``).
    n_poison_, poison_mask_, poison_indices_, base_indices_, feature_space_ :
        See :class:`BaseAttack`.

    References
    ----------
    .. [1] T. Liu, Z. Zhang et al., "Towards Poisoning Fair
       Representations", ICLR 2024.
    .. [2] J. Geiping et al., "Witches' Brew: Industrial Scale Data
       Poisoning via Gradient Matching", ICLR 2021.
    .. [3] W. R. Huang et al., "MetaPoison: Practical General-purpose
       Clean-label Data Poisoning", NeurIPS 2020.

    Examples
    --------
    >>> from skfrl.attacks import PoisonGenerator
    >>> from skfrl.datasets import make_biased_classification
    >>> from skfrl.models import AdversarialFairRepresentation
    >>> X, y, s = make_biased_classification(n_samples=300, random_state=0)
    >>> victim = AdversarialFairRepresentation(max_epochs=5, random_state=0)
    >>> attack = PoisonGenerator(victim, budget=0.05, n_steps=10, random_state=0)
    >>> X_aug, y_aug, s_aug = attack.fit_resample(X, y, sensitive_features=s)
    >>> X_aug.shape
    (315, 10)
    """

    _parameter_constraints: dict = {
        **BaseAttack._parameter_constraints,
        "victim": [HasMethods(["fit", "transform"])],
        "objective": [StrOptions({"fld", "probe"})],
        "target_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "n_steps": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_restarts": [Interval(numbers.Integral, 1, None, closed="left")],
        "step_size": [Interval(numbers.Real, 0, None, closed="neither")],
        "lambda1": [Interval(numbers.Real, 0, None, closed="left")],
        "lambda2": [Interval(numbers.Real, 0, None, closed="left")],
        "label_strategy": [StrOptions({"copy", "flip_s", "aligned", "contradict"})],
        "base_selection": [StrOptions({"random", "stratified", "proxy", "alignment"})],
        "match": [StrOptions({"encoder", "all"})],
        "alignment": [StrOptions({"cosine", "projection"})],
        "n_victims": [Interval(numbers.Integral, 1, None, closed="left")],
        "ensemble": [StrOptions({"seeds", "continuation"})],
        "continuation_epochs": [
            Interval(numbers.Integral, 1, None, closed="left"),
            None,
        ],
        "prefit": ["boolean"],
        "method": [StrOptions({"matching", "unrolled"})],
        "unroll_steps": [Interval(numbers.Integral, 1, None, closed="left")],
        "checkpoints": ["array-like"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        victim,
        *,
        budget=0.05,
        objective="fld",
        target_fraction=0.3,
        n_steps=60,
        n_restarts=1,
        step_size=1.0,
        lambda1=1e-4,
        lambda2=1e-4,
        label_strategy="contradict",
        base_selection="proxy",
        match="all",
        alignment="cosine",
        n_victims=1,
        ensemble="seeds",
        continuation_epochs=None,
        prefit=False,
        method="matching",
        unroll_steps=2,
        checkpoints=(0.0, 0.25, 0.5, 1.0),
        random_state=None,
        verbose=0,
    ):
        super().__init__(budget=budget, random_state=random_state)
        self.victim = victim
        self.objective = objective
        self.target_fraction = target_fraction
        self.n_steps = n_steps
        self.n_restarts = n_restarts
        self.step_size = step_size
        self.lambda1 = lambda1
        self.lambda2 = lambda2
        self.label_strategy = label_strategy
        self.base_selection = base_selection
        self.match = match
        self.alignment = alignment
        self.n_victims = n_victims
        self.ensemble = ensemble
        self.continuation_epochs = continuation_epochs
        self.prefit = prefit
        self.method = method
        self.unroll_steps = unroll_steps
        self.checkpoints = checkpoints
        self.verbose = verbose

    # -- victim --------------------------------------------------------------
    def _make_feature_space(self, X, y, sensitive_features) -> FeatureSpace:
        start = time.perf_counter()
        if self.prefit:
            # The attacker crafts against this very model; never modify it.
            victim = copy.deepcopy(self.victim)
        else:
            victim = clone(self.victim)
        pre, frl = split_representation(victim, neural=True, input_name="victim")
        if self.prefit:
            check_is_fitted(frl)
        elif frl.random_state is None:
            frl.set_params(random_state=seed_from(self.random_state))
        preprocessor = None
        if pre is not None:
            if len(pre.steps) != 1 or not isinstance(pre[0], ColumnTransformer):
                raise TypeError(
                    "PoisonGenerator decodes poisons through one ColumnTransformer "
                    "before the FRL step (e.g. make_preprocessor); got "
                    f"{[type(st).__name__ for _, st in pre.steps]}."
                )
            preprocessor = pre[0] if self.prefit else pre[0].fit(X, y)
        space = FeatureSpace(preprocessor).fit(X)
        self._checkpoints = None
        if not self.prefit:
            recorder = None
            if self.method == "unrolled":
                fractions = np.asarray(self.checkpoints, dtype=float).ravel()
                if not len(fractions) or np.any((fractions < 0) | (fractions > 1)):
                    raise ValueError(
                        "checkpoints must hold fractions in [0, 1], got "
                        f"{self.checkpoints!r}."
                    )
                epochs = sorted({int(round(f * frl.max_epochs)) for f in fractions})
                recorder = _Checkpoints(epochs)
                frl.callbacks = [
                    *(frl.callbacks or []),
                    ("poison_generator_checkpoints", recorder),
                ]
            frl.fit(
                space.encode(X).astype(np.float32),
                y,
                sensitive_features=sensitive_features,
            )
            if recorder is not None:
                self._checkpoints = dict(frl.callbacks_)[
                    "poison_generator_checkpoints"
                ].states_
        if not frl.sensitive_attributes_ or (
            frl.sensitive_attributes_[0].kind != "categorical"
            or frl.sensitive_attributes_[0].n_classes != 2
        ):
            raise ValueError(
                "PoisonGenerator targets a binary categorical (first) sensitive "
                "attribute."
            )
        self.victim_ = victim
        self._frl = frl
        E = space.encode(X).astype(np.float32)
        # The continuation's snapshots need first-round poisons: _generate
        # adds them.
        n_seeds = self.n_victims - 1 if self.ensemble == "seeds" else 0
        seeds = np.random.RandomState(seed_from(frl.random_state)).randint(
            0, 2**31 - 1, size=n_seeds
        )
        self.ensemble_ = [frl] + [
            clone(frl)
            .set_params(random_state=int(seed))
            .fit(E, y, sensitive_features=sensitive_features)
            for seed in seeds
        ]
        self.timings_["victim_fit"] = time.perf_counter() - start
        return space

    def _encoder_mask(self, net, params) -> torch.Tensor | None:
        """Entries of the flat parameter vector that ``match`` compares."""
        if self.match != "encoder":
            return None
        encoder = getattr(net.module_, "encoder", None)
        if encoder is None:
            return None
        ids = {id(p) for p in encoder.parameters()}
        return torch.cat(
            [torch.full((p.numel(),), id(p) in ids, dtype=torch.bool) for p in params]
        )

    def _adversarial_gradient(self, net, E_t, s_t, params) -> torch.Tensor:
        Z = net.module_.encode(torch.as_tensor(E_t, dtype=torch.float32))
        loss = self._attacker_loss(Z, torch.as_tensor(s_t))
        return flat_gradient(loss, params).detach()

    # -- crafting -------------------------------------------------------------
    def _bases(self, E, y, S, n_poison, rng, victims, proxy_pool) -> np.ndarray:
        s0 = S.iloc[:, 0].to_numpy()
        if self.base_selection == "random":
            return rng.randint(0, len(y), size=n_poison)
        if self.base_selection == "proxy":
            return rng.choice(
                proxy_pool, size=n_poison, replace=n_poison > len(proxy_pool)
            )
        if self.base_selection == "alignment":
            return self._aligned_bases(E, y, S, n_poison, rng, victims)
        cells = pd.Series(list(zip(y, s0, strict=True))).astype(str).to_numpy()
        uniq = np.unique(cells)
        per = np.resize(np.arange(len(uniq)), n_poison)
        rng.shuffle(per)
        return np.array(
            [rng.choice(np.flatnonzero(cells == uniq[k])) for k in per], dtype=np.intp
        )

    @staticmethod
    def _proxy_pool(E, s_codes, n_poison) -> np.ndarray:
        """The rows whose features give their own group the highest probability."""
        from sklearn.linear_model import LogisticRegression

        probe = LogisticRegression(max_iter=1000).fit(E, s_codes)
        own = probe.predict_proba(E)[np.arange(len(E)), s_codes]
        return np.argsort(-own, kind="stable")[: min(len(E), 3 * n_poison)]

    def _aligned_bases(self, E, y, S, n_poison, rng, victims) -> np.ndarray:
        """The rows of a random pool whose own field best matches the target.

        Each row of a pool of ``4 * n_poison`` gets its poison labels, and
        its training field (a batch of one) is compared with the attacker's
        gradient by cosine, averaged over the matched victims.
        """
        pool = rng.choice(len(E), size=min(len(E), 4 * n_poison), replace=False)
        y_p, S_p = self._labels(y, S, pool, rng)
        score = np.zeros(len(pool))
        for net, graph, mask, g_adv in victims:
            rows = TrainingRows.from_data(
                net, E[pool].astype(np.float32), y_p, S_p, input_name="poison labels"
            )
            for i in range(len(pool)):
                g = graph.field(rows.take(slice(i, i + 1))).detach()
                score[i] += float(_cosine(g, g_adv, mask))
        top = pool[np.argsort(-score, kind="stable")[:n_poison]]
        return rng.choice(top, size=n_poison, replace=n_poison > len(top))

    def _labels(self, y, S, base, rng):
        frl = self._frl
        y_p = y[base].copy()
        S_p = S.iloc[base].reset_index(drop=True).copy()
        classes = frl.sensitive_attributes_[0].classes
        s0 = S_p.iloc[:, 0].to_numpy()
        if self.label_strategy in ("flip_s", "contradict"):
            S_p.iloc[:, 0] = np.where(s0 == classes[0], classes[1], classes[0])
        if self.label_strategy in ("aligned", "contradict"):
            labels = np.unique(y)
            # y follows s; the direction is chosen in _generate by alignment.
            y_p = np.where(s0 == classes[1], labels[-1], labels[0])
        return y_p, S_p

    def _generate(self, E, y, S, n_poison, rng):
        if self.ensemble == "seeds" or self.n_victims == 1:
            return self._generate_once(E, y, S, n_poison, rng)
        start = time.perf_counter()
        first = self._generate_once(E, y, S, n_poison, rng)
        spent = {k: self.timings_.get(k, 0.0) for k in ("base_selection", "matching")}
        tick = time.perf_counter()
        self.ensemble_ = [self._frl, *self._continuation(E, y, S, first)]
        self.timings_["continuation"] = time.perf_counter() - tick
        poisons = self._generate_once(E, y, S, n_poison, rng)
        for key, value in spent.items():
            self.timings_[key] = self.timings_.get(key, 0.0) + value
        self.crafting_time_ = time.perf_counter() - start
        return poisons

    def _continuation(self, E, y, S, first: PoisonSet) -> list:
        """Snapshots of the victim continuing on clean rows + first-round poisons.

        The victim's own continued training is simulated with the poisons
        crafted against its current state: ``n_victims - 1`` snapshots at
        equal steps of ``continuation_epochs``, so the final poisons stay
        aligned along the path the continuation takes, not only at its
        start.
        """
        epochs = self.continuation_epochs or int(self._frl.max_epochs)
        chunk = max(1, int(round(epochs / self.n_victims)))
        E_all = np.vstack([E, first.E]).astype(np.float32)
        y_all = np.concatenate([np.asarray(y), np.asarray(first.y)])
        S_all = pd.concat(
            [S.reset_index(drop=True), first.s.reset_index(drop=True)],
            ignore_index=True,
        )
        snapshots, model = [], self._frl
        for _ in range(self.n_victims - 1):
            model = fine_tune(model, E_all, y_all, S_all, epochs=chunk)
            snapshots.append(model)
        return snapshots

    def _generate_once(self, E, y, S, n_poison, rng):
        start = time.perf_counter()
        frl = self._frl
        s0 = S.iloc[:, 0].to_numpy()
        n_target = max(4, int(round(self.target_fraction * len(E))))
        target = rng.choice(len(E), size=min(n_target, len(E)), replace=False)
        s_codes = group_codes(frl, s0, input_name="sensitive_features")
        # The field through the victim's training graph with exact
        # derivatives: differentiating autograd's gradient through a
        # gradient-reversal node again would flip the sign of the adversary
        # terms' input derivatives (see skfrl.inspection.TrainingGraph).
        probe = rng.choice(len(E), size=min(256, len(E)), replace=False)
        victims = []  # (model, graph, mask, g_adv) per ensemble member
        self._clean_norm = {}
        for net in self.ensemble_:
            net._set_training(False)
            graph_rows = TrainingRows.from_data(
                net,
                E[probe].astype(np.float32),
                y[probe],
                S.iloc[probe],
                input_name="y",
            )
            graph = TrainingGraph(net, graph_rows)
            mask = self._encoder_mask(net, graph.params)
            if self.alignment == "projection":
                clean_field = graph.field(graph_rows).detach()
                if mask is not None:
                    clean_field = clean_field[mask]
                self._clean_norm[id(net)] = float(clean_field.norm()) + 1e-12
            g_adv = self._adversarial_gradient(
                net, E[target], s_codes[target], graph.params
            )
            if mask is not None:
                g_adv = g_adv[mask]
            victims.append((net, graph, mask, g_adv))
        space = self.feature_space_
        lower = torch.as_tensor(space.lower_, dtype=torch.float32)
        upper = torch.as_tensor(space.upper_, dtype=torch.float32)
        self.history_ = []
        best = (np.inf, None)
        # The proxy ranking does not depend on the restart: fit it once.
        t_select = time.perf_counter()
        proxy_pool = (
            self._proxy_pool(E, s_codes, n_poison)
            if self.base_selection == "proxy"
            else None
        )
        t_select = time.perf_counter() - t_select
        if self.method == "unrolled":
            return self._generate_unrolled(
                E, y, S, n_poison, rng, target, s_codes, victims, proxy_pool, start
            )
        with torch_rng(seed_from(rng)):
            for _ in range(self.n_restarts):
                tick = time.perf_counter()
                base = self._bases(E, y, S, n_poison, rng, victims, proxy_pool)
                t_select += time.perf_counter() - tick
                y_p, S_p = self._labels(y, S, base, rng)
                candidates = [y_p]
                if self.label_strategy in ("aligned", "contradict"):
                    labels = np.unique(y)
                    candidates.append(np.where(y_p == labels[0], labels[-1], labels[0]))
                for y_try in candidates:
                    loss, delta, hist = self._match(
                        E[base], y_try, S_p, victims, lower, upper
                    )
                    self.history_.append(hist)
                    if self.verbose:
                        print(f"PoisonGenerator: matching loss {loss:.4f}")
                    if loss < best[0]:
                        best = (loss, (base, delta, y_try, S_p))
        self.timings_["base_selection"] = t_select
        self.timings_["matching"] = time.perf_counter() - start - t_select
        base, delta, y_p, S_p = best[1]
        self.perturbations_ = delta
        self.matching_loss_ = best[0]
        self.crafting_time_ = time.perf_counter() - start
        return PoisonSet(E[base] + delta, base, y_p, S_p)

    def _step(self, optimizer, loss, delta, base_t, lower, upper) -> None:
        """One Adam step on ``delta``, its L1 proximal step, then the box."""
        objective = loss + self.lambda2 * delta.pow(2).sum(1).mean()
        objective.backward()
        optimizer.step()
        with torch.no_grad():
            shrink = self.step_size * self.lambda1
            delta.copy_(torch.sign(delta) * torch.clamp(delta.abs() - shrink, min=0))
            delta.copy_(torch.clamp(base_t + delta, lower, upper) - base_t)

    def _match(self, E_base, y_p, S_p, victims, lower, upper):
        base_t = torch.as_tensor(E_base, dtype=torch.float32)
        delta = torch.zeros_like(base_t, requires_grad=True)
        optimizer = torch.optim.Adam([delta], lr=self.step_size)
        rows = [
            TrainingRows.from_data(
                net, base_t.numpy(), y_p, S_p, input_name="poison labels"
            )
            for net, *_ in victims
        ]
        hist = []
        for _ in range(self.n_steps):
            optimizer.zero_grad()
            cos = 0.0
            for (net, graph, mask, g_adv), r in zip(victims, rows, strict=True):
                g_p = graph.field(r, E=base_t + delta, create_graph=True)
                if self.alignment == "projection":
                    g = g_p if mask is None else g_p[mask]
                    cos = cos + (g @ g_adv) / (g_adv.norm() * self._clean_norm[id(net)])
                else:
                    cos = cos + _cosine(g_p, g_adv, mask)
            cos = cos / len(victims)
            self._step(optimizer, 1 - cos, delta, base_t, lower, upper)
            hist.append(float(1 - cos.detach()))
        return hist[-1], delta.detach().numpy().astype(np.float64), hist

    # -- unrolled crafting ----------------------------------------------------
    def _attacker_loss(self, Z, s_t) -> torch.Tensor:
        """The attacker's loss on representations ``Z`` of target rows.

        ``-FLD``, or the cross-entropy of a logistic probe trained afresh on
        ``Z`` (``objective="probe"``); lower means more leakage.
        """
        if self.objective == "fld":
            return -fld_torch(Z, s_t)
        from sklearn.linear_model import LogisticRegression

        probe = LogisticRegression(max_iter=1000).fit(Z.detach().numpy(), s_t)
        w = torch.as_tensor(probe.coef_[0], dtype=Z.dtype)
        b = torch.as_tensor(probe.intercept_, dtype=Z.dtype)
        return torch.nn.functional.binary_cross_entropy_with_logits(
            Z @ w + b, s_t.to(Z.dtype)
        )

    def _unroll(self, graph, theta, clean_batches, poison_rows, E_poison, eps, scale):
        """Parameters after ``len(clean_batches)`` differentiable training steps.

        Each step follows the victim's training field on the clean batch
        and the poisons, weighted ``1 - eps`` and ``eps``, with a step of
        length ``scale``.
        """
        params = list(theta)
        trajectory = []
        for rows in clean_batches:
            field = (1 - eps) * graph.field(rows, params=params, create_graph=True)
            field = field + eps * graph.field(
                poison_rows, E=E_poison, params=params, create_graph=True
            )
            # Differentiated too: the unrolled map stays exactly the one
            # whose gradient is taken.
            step = scale / (field.norm() + 1e-12)
            flat = torch.cat([p.reshape(-1) for p in params]) - step * field
            params, offset = [], 0
            for p in theta:
                params.append(flat[offset : offset + p.numel()].view_as(p))
                offset += p.numel()
            trajectory.append(params)
        return params, trajectory

    def _unrolled_objective(
        self, graph, theta, clean_batches, poison_rows, E_poison, eps, scale, E_t, s_t
    ):
        """Attacker's loss after the unrolled steps, and the first step's params."""
        params, trajectory = self._unroll(
            graph, theta, clean_batches, poison_rows, E_poison, eps, scale
        )
        Z = encode_at(graph.estimator, params, E_t)
        return self._attacker_loss(Z, s_t), trajectory[0]

    def _generate_unrolled(
        self, E, y, S, n_poison, rng, target, s_codes, victims, proxy_pool, start
    ):
        frl = self._frl
        graph = victims[0][1]
        states = list(self._checkpoints or [])
        states += [
            [p.detach().clone() for p in net.module_.parameters() if p.requires_grad]
            for net in self.ensemble_[(1 if states else 0) :]
        ]
        # Snapshots are replaced, never modified in place: no copy needed.
        surrogates = list(states)
        tick = time.perf_counter()
        base = self._bases(E, y, S, n_poison, rng, victims, proxy_pool)
        y_p, S_p = self._labels(y, S, base, rng)
        t_select = self.timings_.get("base_selection", 0.0)
        self.timings_["base_selection"] = t_select + time.perf_counter() - tick
        clean_rows = TrainingRows.from_data(
            frl, E.astype(np.float32), y, S, input_name="y"
        )
        base_t = torch.as_tensor(E[base], dtype=torch.float32)
        poison_rows = TrainingRows.from_data(
            frl, base_t.numpy(), y_p, S_p, input_name="poison labels"
        )
        E_t = torch.as_tensor(E[target], dtype=torch.float32)
        s_t = torch.as_tensor(s_codes[target])
        eps = n_poison / (len(E) + n_poison)
        n_params = sum(p.numel() for p in graph.params)
        scale = float(frl.lr) * float(np.sqrt(n_params))
        batch = min(int(frl.batch_size), len(E))
        space = self.feature_space_
        lower = torch.as_tensor(space.lower_, dtype=torch.float32)
        upper = torch.as_tensor(space.upper_, dtype=torch.float32)
        delta = torch.zeros_like(base_t, requires_grad=True)
        optimizer = torch.optim.Adam([delta], lr=self.step_size)
        hist = []
        with torch_rng(seed_from(rng)):
            for it in range(self.n_steps):
                j = it % len(surrogates)
                theta = [p.detach().requires_grad_(True) for p in surrogates[j]]
                clean_batches = [
                    clean_rows.take(rng.choice(len(E), size=batch, replace=False))
                    for _ in range(self.unroll_steps)
                ]
                optimizer.zero_grad()
                loss, first = self._unrolled_objective(
                    graph,
                    theta,
                    clean_batches,
                    poison_rows,
                    base_t + delta,
                    eps,
                    scale,
                    E_t,
                    s_t,
                )
                self._step(optimizer, loss, delta, base_t, lower, upper)
                # The surrogate trains on, on clean + current poisons.
                surrogates[j] = [p.detach() for p in first]
                hist.append(float(loss.detach()))
        self.history_ = [hist]
        self.perturbations_ = delta.detach().numpy().astype(np.float64)
        self.matching_loss_ = hist[-1]
        self.timings_["matching"] = (
            time.perf_counter() - start - self.timings_["base_selection"]
        )
        self.crafting_time_ = time.perf_counter() - start
        return PoisonSet(E[base] + self.perturbations_, base, y_p, S_p)
