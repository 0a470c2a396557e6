"""The update rule of each training method: its optimizer, its weights and tail, its step.

:data:`bsam.train.config.METHODS` says *what* a method is (update rule, default descent weights,
whether the perturbation is weighted); the :class:`UpdateRule` registered here for its
``Method.step`` says *how* it trains:

==========  ===================  ===============================================  ==============
rule        optimizer            per-sample tensors                               step
==========  ===================  ===============================================  ==============
``plain``   the base optimizer   descent weights ``v``                            ``plain_step``
``sam``     :class:`SAM`         ``v``                                            ``sam_step``
``bsam``    :class:`BSAM`        ``v``, perturbation weights ``w``                ``sam_step``
``imbsam``  :class:`ImbSAM`      ``v``, tail flags (few-shot bins, ``cfg.few``)   ``imbsam_step``
==========  ===================  ===============================================  ==============

Methods ``imbsam`` and ``imbsam-mean`` share the ``imbsam`` rule: ``ImbSAM(tail_scale=2)`` (the
official code) and ``ImbSAM(tail_scale=1)``.

The balance weights are fitted on the training labels (:class:`FittedWeights`) and stored in the
checkpoints; the per-sample tensors are looked up by training-set index at every step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer

from bsam.distributed import StepSync
from bsam.optim import BSAM, SAM, ImbSAM, StepResult, imbsam_step, plain_step, sam_step
from bsam.regions import FEW, ShotRegions
from bsam.train.config import DEFAULT_LDS, METHODS, TrainConfig
from bsam.weights import BalanceWeights

__all__ = ["FittedWeights", "UpdateRule", "UPDATE_RULES", "update_rule"]

Columns = dict[str, torch.Tensor]


@dataclass(frozen=True)
class FittedWeights:
    """The balance weights of a run, fitted on the training labels (``None``: all 1).

    Attributes
    ----------
    descent, perturb : BalanceWeights or None
        Weights of the descent loss (``cfg.descent_weights``, LDS when ``cfg.lds``) and of the
        perturbation loss (``cfg.weights``, only for methods with ``perturb_weighted``).
    """

    descent: BalanceWeights | None
    perturb: BalanceWeights | None

    def to_dict(self) -> dict[str, Any]:
        """``{"descent": ..., "perturb": ...}`` as stored under ``ckpt["weights"]``."""
        return {k: None if w is None else w.to_dict() for k, w in self.__dict__.items()}


def _fit(labels: torch.Tensor, binning: dict, scheme: str, *, lds: bool, normalize: bool):
    if scheme == "none":
        return None
    smoothing = dict(DEFAULT_LDS) if lds else None
    return BalanceWeights.fit(labels, scheme=scheme, lds=smoothing, normalize=normalize, **binning)


class UpdateRule:
    """How one kind of method trains: builds its optimizer, fits its weights, runs its step.

    This base class is the plain rule: the base optimizer and ``plain_step`` on the descent
    loss :math:`\\frac1N \\sum_i v_i \\ell_i`.
    """

    name = "plain"
    #: The one-call step of the rule (:mod:`bsam.optim.step`).
    one_call = staticmethod(plain_step)
    #: Its keyword arguments taken from the batch's rows: argument -> column of :meth:`columns`.
    row_arguments: dict[str, str] = {"weights": "descent_weights"}
    #: Whether it has two passes (then ``bn_mode`` and ``perturb_sync`` apply).
    two_pass = False

    def base_optimizer(self, cfg: TrainConfig) -> tuple[type[Optimizer], dict[str, Any]]:
        """The base optimizer class of ``cfg`` and its keyword arguments."""
        if cfg.optimizer == "sgd":
            base, kwargs = torch.optim.SGD, {"momentum": cfg.momentum}
        else:
            base, kwargs = torch.optim.Adam, {}
        kwargs.update(lr=cfg.lr, weight_decay=cfg.weight_decay)
        return base, kwargs

    def build_optimizer(self, cfg: TrainConfig, model: nn.Module) -> Optimizer:
        """The optimizer over ``model``'s parameters."""
        base, kwargs = self.base_optimizer(cfg)
        return base(model.parameters(), **kwargs)

    def fit_weights(self, cfg: TrainConfig, labels: torch.Tensor, binning: dict) -> FittedWeights:
        """Descent and (for weighted perturbations) perturbation weights from ``labels``."""
        normalize = cfg.normalize_weights
        descent = _fit(labels, binning, cfg.descent_weights, lds=cfg.lds, normalize=normalize)
        perturb = None
        if METHODS[cfg.method].perturb_weighted:
            perturb = _fit(labels, binning, cfg.weights, lds=False, normalize=normalize)
        return FittedWeights(descent, perturb)

    def columns(
        self, labels: torch.Tensor, weights: FittedWeights, regions: ShotRegions
    ) -> Columns:
        """Per-training-sample tensors the step reads (by sample index)."""
        out = {}
        if weights.descent is not None:
            out["descent_weights"] = weights.descent.weights(labels)
        if weights.perturb is not None:
            out["perturb_weights"] = weights.perturb.weights(labels)
        return out

    def step(
        self,
        model: nn.Module,
        optimizer: Optimizer,
        batch: tuple[torch.Tensor, torch.Tensor],
        rows: Columns,
        cfg: TrainConfig,
        *,
        sync: StepSync,
        count: int,
    ) -> StepResult:
        """One update on ``batch = (x, y)``; ``rows`` are the :meth:`columns` of its samples,
        ``sync`` and ``count`` the data-parallel hook and global element count."""
        x, y = batch
        options = self.options(rows, cfg, sync=sync, count=count)
        return self.one_call(model, optimizer, x, y, cfg.descent_loss, **options)

    def options(
        self, rows: Columns, cfg: TrainConfig, *, sync: StepSync, count: int
    ) -> dict[str, Any]:
        """Keyword arguments of :attr:`one_call` for a batch: ``sync``, ``count``, the
        :attr:`row_arguments` looked up in ``rows``, and for two-pass rules ``bn_mode`` and
        ``perturb_sync``."""
        options: dict[str, Any] = {"sync": sync, "count": count}
        if self.two_pass:
            options.update(bn_mode=cfg.bn_mode, perturb_sync=cfg.perturb_sync)
        options.update({arg: rows.get(column) for arg, column in self.row_arguments.items()})
        return options


class SAMRule(UpdateRule):
    """SAM / BSAM: ``sam_step``, perturbation weights ``w`` (BSAM) or uniform (SAM)."""

    one_call = staticmethod(sam_step)
    row_arguments = {"perturb_weights": "perturb_weights", "descent_weights": "descent_weights"}
    two_pass = True

    def __init__(self, name: str, wrapper: type[SAM]) -> None:
        self.name, self.wrapper = name, wrapper

    def build_optimizer(self, cfg: TrainConfig, model: nn.Module) -> Optimizer:
        """The SAM-type wrapper around the base optimizer, with ``cfg.rho`` and ``adaptive``."""
        base, kwargs = self.base_optimizer(cfg)
        params = model.parameters()
        return self.wrapper(params, base, rho=cfg.rho, adaptive=cfg.adaptive, **kwargs)


class ImbSAMRule(UpdateRule):
    """ImbSAM: ``imbsam_step`` with the tail = the few-shot bins (fewer than ``cfg.few``).

    The factor of the tail part (``ImbSAM(tail_scale=...)``) depends on the method:
    :attr:`tail_scales` (2 for ``imbsam``, the official ImbSAM code's computation; 1 for
    ``imbsam-mean``, head + tail = the batch mean); another method on this rule gets 2.
    """

    name = "imbsam"
    one_call = staticmethod(imbsam_step)
    row_arguments = {"weights": "descent_weights", "tail_mask": "tail"}
    two_pass = True
    #: ``ImbSAM.tail_scale`` of each method on this rule.
    tail_scales: dict[str, float] = {"imbsam": 2.0, "imbsam-mean": 1.0}

    def build_optimizer(self, cfg: TrainConfig, model: nn.Module) -> Optimizer:
        """:class:`ImbSAM` around the base optimizer, with ``cfg.rho`` and the method's tail
        scale."""
        base, kwargs = self.base_optimizer(cfg)
        scale = self.tail_scales.get(cfg.method, 2.0)
        return ImbSAM(model.parameters(), base, rho=cfg.rho, tail_scale=scale, **kwargs)

    def columns(
        self, labels: torch.Tensor, weights: FittedWeights, regions: ShotRegions
    ) -> Columns:
        """:meth:`UpdateRule.columns` plus the tail flags ``regions.of(labels) == FEW``."""
        return {**super().columns(labels, weights, regions), "tail": regions.of(labels) == FEW}


#: The update rule of each ``Method.step``.
UPDATE_RULES: dict[str, UpdateRule] = {
    "plain": UpdateRule(),
    "sam": SAMRule("sam", SAM),
    "bsam": SAMRule("bsam", BSAM),
    "imbsam": ImbSAMRule(),
}


def update_rule(method: str) -> UpdateRule:
    """The :class:`UpdateRule` of training method ``method`` (a key of ``METHODS``)."""
    if method not in METHODS:
        raise ValueError(f"Invalid method {method!r}: choose one of {list(METHODS)}")
    return UPDATE_RULES[METHODS[method].step]
