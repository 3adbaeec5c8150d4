"""Options only some models have: adversaries, group-robust losses, kinds of s.

Each mixin brings its parameters' ``_parameter_constraints``; a model merges
them into its own next to :class:`~skfrl._base.BaseFairNet`'s and lists the
mixins before ``BaseFairNet`` in its bases.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch.nn import functional as F

from ..callbacks import WeightAveraging
from ..nn import grouped_dro_loss
from ..utils._sklearn_compat import Interval, StrOptions

__all__ = [
    "AdversaryGroupsMixin",
    "AdversaryMixin",
    "ContinuousSensitiveMixin",
    "GroupDROMixin",
    "per_attribute",
]


def per_attribute(value, names: Sequence[str], param: str) -> list[float]:
    """One value per sensitive attribute from a float or a dict by name.

    Parameters
    ----------
    value : float or dict of str to float
        One value for every attribute, or values keyed by attribute name
        (missing names get 1.0).
    names : sequence of str
        The attributes' names, in order.
    param : str
        Name of the parameter, for error messages.

    Returns
    -------
    list of float
        One value per name.

    Examples
    --------
    >>> from skfrl.models._mixins import per_attribute
    >>> per_attribute({"age": 2.0}, ["sex", "age"], "fairness_weight")
    [1.0, 2.0]
    """
    if not isinstance(value, dict):
        return [float(value)] * len(names)
    unknown = set(value) - set(names)
    if unknown:
        raise ValueError(
            f"{param} names unknown sensitive attributes {sorted(unknown)}; "
            f"the attributes are {list(names)}."
        )
    bad = {
        k: v
        for k, v in value.items()
        if isinstance(v, bool) or not isinstance(v, numbers.Real)
    }
    if bad:
        raise TypeError(f"{param} values must be floats, got {bad!r}.")
    return [float(value.get(n, 1.0)) for n in names]


class ContinuousSensitiveMixin:
    """Accept continuous sensitive attributes, with ``sensitive_kinds``.

    ``sensitive_kinds`` declares ``"categorical"`` or ``"continuous"`` per
    attribute (a str for all, a list in column order or a dict by name);
    None infers the kinds. Models without this mixin refuse continuous
    attributes and always infer.
    """

    _supports_continuous_sensitive = True

    _parameter_constraints: dict = {
        "sensitive_kinds": [str, list, dict, None],
    }

    def _sensitive_kinds(self):
        return self.sensitive_kinds


class GroupDROMixin:
    """``group_weighting="dro"``: KL-DRO reweighting of per-sample losses.

    Parameters ``group_weighting`` ({None, "dro"}), ``dro_radius`` (the KL
    radius) and ``dro_groups`` ({"label", "label_sensitive"}); see
    :func:`skfrl.nn.grouped_dro_loss`.
    """

    _parameter_constraints: dict = {
        "group_weighting": [StrOptions({"dro"}), None],
        "dro_radius": [Interval(numbers.Real, 0, None, closed="left")],
        "dro_groups": [StrOptions({"label", "label_sensitive"})],
    }

    def _dro_enabled(self, y) -> bool:
        return self.group_weighting == "dro" and y is not None

    def _group_mean(self, per_sample, y, X) -> torch.Tensor:
        """Mean of ``per_sample``, or its KL-DRO reweighting over groups.

        ``y`` holds the batch's label codes (repeated like ``per_sample``
        when several heads score the same batch).
        """
        if not self._dro_enabled(y):
            return per_sample.mean()
        groups = y
        if self.dro_groups == "label_sensitive":
            s_cat = X.get("s_cat") if isinstance(X, dict) else None
            if s_cat is None:
                raise ValueError(
                    "dro_groups='label_sensitive' needs a categorical sensitive "
                    "attribute; fit with sensitive_features or use "
                    "dro_groups='label'."
                )
            s0 = s_cat[:, 0].to(y.device)
            s0 = s0.repeat(len(y) // len(s0))
            n_groups = next(
                a.n_classes
                for a in self.sensitive_attributes_
                if a.kind == "categorical"
            )
            groups = y * n_groups + s0
        return grouped_dro_loss(per_sample, groups, float(self.dro_radius))


class AdversaryMixin:
    """Adversaries with their own optimizer, catching up after each step.

    The adversaries' parameters are those of ``module_`` under
    ``adversaries.``; they get a second optimizer, ``optimizer_adv_``
    (skorch parameters ``optimizer_adv__*``), whose learning rate is
    ``optimizer_adv__lr`` when given, else ``adversary_lr`` when not None,
    else ``lr``. After each joint step the adversaries take
    ``adversary_steps - 1`` more steps on the same batch's detached
    representation, so the encoder faces a near-optimal adversary, with
    gradients clipped to ``max_grad_norm`` like the joint step's. A model
    implements :meth:`_catch_up_loss`.

    The min-max game oscillates, so the mixin also brings
    ``averaging_epochs``: an exponential moving average of the weights
    (:class:`~skfrl.callbacks.WeightAveraging`) that damps the swings of
    leakage from epoch to epoch.
    """

    optimizer_adv = torch.optim.Adam

    _parameter_constraints: dict = {
        "averaging_epochs": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "adversary_steps": [Interval(numbers.Integral, 1, None, closed="left")],
        "adversary_lr": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "adversary_hidden_size": [Interval(numbers.Integral, 0, None, closed="left")],
    }

    def initialize_optimizer(self, *args, **kwargs):
        """``optimizer_`` for the model, ``optimizer_adv_`` for the adversaries."""
        prefix = "adversaries."
        named = list(self.module_.named_parameters())
        main = [(n, p) for n, p in named if not n.startswith(prefix)]
        adv = [(n, p) for n, p in named if n.startswith(prefix)]
        args, kwargs = self.get_params_for_optimizer("optimizer", main)
        self.optimizer_ = self.optimizer(*args, **kwargs)
        if adv:
            args, kwargs = self.get_params_for_optimizer("optimizer_adv", adv)
            if "optimizer_adv__lr" not in vars(self) and self.adversary_lr is not None:
                kwargs["lr"] = self.adversary_lr
            self.optimizer_adv_ = self.optimizer_adv(*args, **kwargs)
        elif "optimizer_adv" in self._optimizers:
            # A refit without sensitive features has no adversary to step.
            del self.optimizer_adv_
        return self

    def _extra_callbacks(self) -> list:
        """Weight averaging first (when asked for), then the base's callbacks."""
        averaging = []
        if self.averaging_epochs is not None:
            averaging.append(
                ("weight_averaging", WeightAveraging(float(self.averaging_epochs)))
            )
        return [*averaging, *super()._extra_callbacks()]

    def _catch_up_loss(self, batch, y_pred) -> Callable[[], torch.Tensor] | None:
        """The adversaries' loss on the batch's detached representation.

        Returns a function of no argument computing it (called once per
        catch-up step), or None when the model has no adversaries.
        """
        raise NotImplementedError

    def train_step(self, batch, **fit_params):
        """Joint step, then ``adversary_steps - 1`` adversary-only steps.

        Gradient reversal only removes what a near-optimal adversary can
        find; letting the adversaries catch up on the (detached)
        representation of the same batch makes training markedly more stable.
        """
        step = super().train_step(batch, **fit_params)
        if self.adversary_steps > 1:
            loss_fn = self._catch_up_loss(batch, step["y_pred"])
            if loss_fn is not None:
                optimizer = self.optimizer_adv_
                params = [p for g in optimizer.param_groups for p in g["params"]]
                for _ in range(self.adversary_steps - 1):
                    optimizer.zero_grad(set_to_none=True)
                    loss_fn().backward()
                    if self.max_grad_norm is not None:
                        torch.nn.utils.clip_grad_norm_(params, self.max_grad_norm)
                    optimizer.step()
        return step


class AdversaryGroupsMixin(AdversaryMixin, ContinuousSensitiveMixin):
    """One group of parallel adversaries per protected attribute.

    Shared by :class:`~skfrl.models.AdversarialFairRepresentation` and
    :class:`~skfrl.models.AdversarialVAE`: the layout of the groups (their
    outputs and reversal scales, ``fairness_weight`` per attribute) and the
    adversaries' loss. A categorical attribute is predicted with
    cross-entropy weighted by inverse group frequency, a continuous one with
    the squared error on its standardised value.
    """

    _parameter_constraints: dict = {
        **AdversaryMixin._parameter_constraints,
        **ContinuousSensitiveMixin._parameter_constraints,
        "fairness_weight": [Interval(numbers.Real, 0, None, closed="left"), dict],
        "n_adversaries": [Interval(numbers.Integral, 1, None, closed="left")],
        "adversary_dropout": [Interval(numbers.Real, 0, 1, closed="left")],
    }

    def _adversary_layout(self) -> tuple[list[int], list[float]]:
        """Outputs and reversal scales of the adversary groups.

        Groups are ordered categorical first, then continuous, matching the
        columns of the batch's ``s_cat`` and ``s_cont``; also sets
        ``_adv_kinds`` and the categorical groups' class weights.
        """
        attrs = self.sensitive_attributes_
        names = [a.name for a in attrs]
        scales = per_attribute(self.fairness_weight, names, "fairness_weight")
        if any(v < 0 for v in scales):
            raise ValueError(
                f"fairness_weight must be >= 0, got {self.fairness_weight!r}."
            )
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
            for counts in self.sensitive_class_counts_
        ]
        return outputs, [scales[i] for i in order]

    def _adversary_loss(self, adv_outputs, X, y=None):
        """Sum over attributes of the adversaries' losses, averaged over heads.

        With ``group_weighting="dro"`` (models with :class:`GroupDROMixin`)
        and labels ``y``, each loss is reweighted over the DRO groups instead
        of averaged.
        """
        dro = isinstance(self, GroupDROMixin) and self._dro_enabled(y)
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
