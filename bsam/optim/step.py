"""One-call training steps: plain (vanilla / reweighted), SAM / BSAM, and ImbSAM.

Each function runs the forward and backward passes and the optimizer update for one batch and
returns a :class:`StepResult`. Losses are element-wise (one value per target element, see
:mod:`bsam.losses`) and are reduced as a weighted mean over all ``N`` target elements,

.. math:: L_w = \\frac{1}{N} \\sum_i w_i \\ell_i ,

with ``w = 1`` when no weights are given. For dense targets ``(N, H, W)`` the weights have the
target's shape and ``N`` counts every element.

**Data parallel.** The same functions run one rank's part of a data-parallel step: ``count`` is
the global ``N`` (each rank's loss is its shard's sum divided by it) and ``sync``
(:class:`bsam.distributed.StepSync`) is called after each backward pass whose gradient must be
the global one, summing the gradients over the ranks, so that every rank gets the gradient of
the global weighted mean whatever the shard sizes; the losses in the :class:`StepResult` are
summed over the ranks too. ``perturb_sync="global"`` (default) all-reduces the perturbation
gradient before ``first_step`` (the run equals a single process on the global batch);
``"local"`` perturbs each rank with its own shard's gradient (m-sharpness, Foret et al. 2021,
with ``m`` = the shard); the descent gradient is always all-reduced. Without ``sync`` and
``count`` a step is the single-process step.

**BatchNorm** (``bn_mode``): which pass of a two-pass step updates the running statistics; see
:mod:`bsam.optim.batchnorm`.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.optim import Optimizer

from bsam.distributed import LOCAL_SYNC, StepSync
from bsam.optim._checks import (
    LossArg,
    check_batch,
    check_tail_mask,
    check_weights,
    elementwise,
    evaluate,
    finite_or_raise,
    global_grad_norm,
    params_of,
    weighted_sum,
)
from bsam.optim.batchnorm import BN_MODES, check_bn_mode, freezes, running_stats_frozen
from bsam.optim.imbsam import ImbSAM
from bsam.optim.result import StepResult
from bsam.optim.sam import SAM

__all__ = [
    "StepResult",
    "BN_MODES",
    "PERTURB_SYNC",
    "plain_step",
    "sam_step",
    "imbsam_step",
    "running_stats_frozen",
]

#: Accepted values of ``perturb_sync``: which gradient a rank perturbs with under DDP.
PERTURB_SYNC: tuple[str, ...] = ("global", "local")


def _check_sync(sync: StepSync | None, perturb_sync: str) -> StepSync:
    if perturb_sync not in PERTURB_SYNC:
        raise ValueError(
            f"Invalid perturb_sync: {perturb_sync!r}; choose from {list(PERTURB_SYNC)}"
        )
    return LOCAL_SYNC if sync is None else sync


def plain_step(
    model: nn.Module,
    optimizer: Optimizer,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    loss: LossArg,
    *,
    weights: torch.Tensor | None = None,
    sync: StepSync | None = None,
    count: int | None = None,
) -> StepResult:
    """One ordinary (vanilla or reweighted) training step.

    Minimises :math:`L_w(\\theta) = \\frac1N \\sum_i w_i \\ell_i(\\theta)` with one forward and one
    backward pass, then ``optimizer.step()``.

    Parameters
    ----------
    model : nn.Module
        The network (its mode is left as the caller set it).
    optimizer : torch.optim.Optimizer
        A plain optimizer (not a :class:`SAM`; use :func:`sam_step` for those).
    inputs, targets : torch.Tensor
        The batch (this rank's shard under DDP); ``model(inputs)`` gives one value per target.
    loss : str or callable
        ``"l1"``, ``"mse"``, ``"huber"`` or ``(pred, target) -> element-wise loss``.
    weights : torch.Tensor, optional
        Per-element weights with the target's shape (``None``: all 1).
    sync : StepSync, optional
        Gradient / loss synchronisation over ranks (module docstring); default: none.
    count : int, optional
        ``N``, the element count of the global batch; default: ``targets.numel()``.

    Returns
    -------
    StepResult
        ``loss = perturbation_loss = loss_at_perturbed = L_w(theta)``,
        ``grad_norm = ||grad L_w||_2``.

    Raises
    ------
    FloatingPointError
        A non-finite loss (the parameters are left unchanged).
    """
    if isinstance(optimizer, SAM):
        raise TypeError(
            f"plain_step got a {type(optimizer).__name__} optimizer; use sam_step (or "
            "imbsam_step for ImbSAM), or pass a plain optimizer such as torch.optim.SGD"
        )
    n = check_batch(targets, count)
    sync = _check_sync(sync, "global")
    fn = elementwise(loss, "loss")
    weights = check_weights(weights, targets, "weights")
    optimizer.zero_grad(set_to_none=True)
    objective = weighted_sum(evaluate(fn, model(inputs), targets, "loss"), weights) / n
    objective.backward()
    (value,) = sync.sum([float(objective.detach())])
    finite_or_raise(value, "training loss")
    sync.grads_(params_of(optimizer))
    grad_norm = global_grad_norm(optimizer)
    optimizer.step()
    return StepResult(value, value, grad_norm, value)


def sam_step(
    model: nn.Module,
    optimizer: SAM,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    descent_loss: LossArg,
    *,
    perturb_weights: torch.Tensor | None = None,
    perturb_loss: LossArg | None = None,
    descent_weights: torch.Tensor | None = None,
    bn_mode: str = "first",
    sync: StepSync | None = None,
    count: int | None = None,
    perturb_sync: str = "global",
) -> StepResult:
    """One SAM / BSAM step: perturb along the (weighted) perturbation loss, descend on another.

    .. math::

        g_w = \\nabla_\\theta \\tfrac1N \\textstyle\\sum_i w_i\\, \\ell^p_i(\\theta), \\quad
        \\epsilon = \\rho\\, g_w / \\|g_w\\|_2, \\quad
        \\theta \\leftarrow \\mathrm{base}\\big(\\theta,\\ \\nabla_\\theta
        \\tfrac1N \\textstyle\\sum_i v_i\\, \\ell^d_i(\\theta + \\epsilon)\\big)

    with ``w = perturb_weights``, ``v = descent_weights`` (1 when ``None``), ``l^p`` the
    perturbation loss and ``l^d`` the descent loss. BSAM (Liu et al., ICCV 2025) is
    ``perturb_weights = BalanceWeights.weights(targets)``; plain SAM leaves it ``None``. The
    official BSAM code also weights the descent (``descent_weights = perturb_weights``), see
    :mod:`bsam.optim.presets`.

    Parameters
    ----------
    model : nn.Module
        The network (its mode is left as the caller set it, normally train).
    optimizer : SAM or BSAM
        Built on ``model``'s parameters.
    inputs, targets : torch.Tensor
        The batch (this rank's shard under DDP); ``model(inputs)`` gives one value per target.
    descent_loss : str or callable
        ``"l1"``, ``"mse"``, ``"huber"`` or ``(pred, target) -> element-wise loss``.
    perturb_weights : torch.Tensor, optional
        Weights of the perturbation loss, with the target's shape.
    perturb_loss : str or callable, optional
        Loss of the first pass; default: ``descent_loss``.
    descent_weights : torch.Tensor, optional
        Weights of the descent loss, with the target's shape.
    bn_mode : {"first", "second", "both", "none"}, default "first"
        Which pass updates BatchNorm running statistics (:mod:`bsam.optim.batchnorm`).
    sync, count, perturb_sync
        Data-parallel hook, global element count and perturbation sync (module docstring).

    Returns
    -------
    StepResult
        ``loss`` = descent loss at ``theta`` (from the first pass's per-element losses, no extra
        forward), ``perturbation_loss``, ``grad_norm = ||g_w||``, ``loss_at_perturbed`` =
        descent loss at ``theta + eps``.

    Raises
    ------
    ValueError
        Weights whose shape differs from the targets', an unknown ``bn_mode``, an empty batch.
    FloatingPointError
        A non-finite loss or gradient norm in the first pass (parameters left unperturbed).
    """
    if not isinstance(optimizer, SAM) or isinstance(optimizer, ImbSAM):
        raise TypeError(
            f"sam_step needs a SAM or BSAM optimizer, got {type(optimizer).__name__}; use "
            "plain_step for plain optimizers and imbsam_step for ImbSAM"
        )
    n = check_batch(targets, count)
    check_bn_mode(bn_mode)
    sync = _check_sync(sync, perturb_sync)
    descent_fn = elementwise(descent_loss, "descent_loss")
    perturb_fn = descent_fn if perturb_loss is None else elementwise(perturb_loss, "perturb_loss")
    perturb_name = "descent_loss" if perturb_loss is None else "perturb_loss"
    perturb_weights = check_weights(perturb_weights, targets, "perturb_weights")
    descent_weights = check_weights(descent_weights, targets, "descent_weights")
    params = params_of(optimizer)

    optimizer.zero_grad(set_to_none=True)
    with running_stats_frozen(model, freezes(bn_mode, "first")):
        pred = model(inputs)
        perturb_values = evaluate(perturb_fn, pred, targets, perturb_name)
        perturb_objective = weighted_sum(perturb_values, perturb_weights) / n
        perturb_objective.backward()
    with torch.no_grad():
        if perturb_fn is descent_fn:
            descent_values = perturb_values.detach()
        else:
            descent_values = evaluate(descent_fn, pred.detach(), targets, "descent_loss")
        loss_at_theta = weighted_sum(descent_values, descent_weights) / n
    loss_value, perturb_value = sync.sum([float(loss_at_theta), float(perturb_objective.detach())])
    finite_or_raise(loss_value + perturb_value, "loss at theta")
    if perturb_sync == "global":
        sync.grads_(params)
    grad_norm = optimizer.first_step(zero_grad=True)

    with running_stats_frozen(model, freezes(bn_mode, "second")):
        descent_values = evaluate(descent_fn, model(inputs), targets, "descent_loss")
        descent_objective = weighted_sum(descent_values, descent_weights) / n
        descent_objective.backward()
    sync.grads_(params)
    optimizer.second_step()
    (perturbed_value,) = sync.sum([float(descent_objective.detach())])
    return StepResult(loss_value, perturb_value, float(grad_norm), perturbed_value)


def imbsam_step(
    model: nn.Module,
    optimizer: ImbSAM,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    loss: LossArg,
    *,
    tail_mask: torch.Tensor,
    weights: torch.Tensor | None = None,
    bn_mode: str = "both",
    sync: StepSync | None = None,
    count: int | None = None,
    perturb_sync: str = "global",
) -> StepResult:
    """One ImbSAM step (Zhou et al., ICCV 2023) with the tail given per sample.

    With ``T`` the tail samples (``tail_mask``), ``N`` the batch size (target elements) and
    ``s = optimizer.tail_scale``,

    .. math::

        L_H = \\tfrac1N \\textstyle\\sum_{i \\notin T} w_i \\ell_i, \\quad
        L_T = \\tfrac{s}{N} \\textstyle\\sum_{i \\in T} w_i \\ell_i, \\quad
        \\epsilon = \\rho\\, \\nabla L_T(\\theta) / \\|\\nabla L_T(\\theta)\\|_2,

    and the update gradient is :math:`\\nabla L_H(\\theta) + \\nabla L_T(\\theta + \\epsilon)`.
    The defaults are the official ImbSAM code's computation (:mod:`bsam.optim.imbsam`): ``s = 2``
    (``ImbSAM(tail_scale=2.0)``) and BatchNorm statistics updated by both passes
    (``bn_mode="both"``). One forward pass at ``theta`` serves both parts (two backward passes).
    A batch without tail samples (counted over all ranks, so every rank runs the same passes)
    takes a plain step on :math:`L_H`, as ``eps = 0`` would; when ``bn_mode`` lets the second
    pass update the statistics, a forward pass without gradient at ``theta`` (= ``theta + 0``)
    updates them, as the official code's second pass does.

    Parameters
    ----------
    model : nn.Module
        The network.
    optimizer : ImbSAM
        Built on ``model``'s parameters.
    inputs, targets : torch.Tensor
        The batch (this rank's shard under DDP).
    loss : str or callable
        ``"l1"``, ``"mse"``, ``"huber"`` or ``(pred, target) -> element-wise loss``.
    tail_mask : torch.BoolTensor
        True for tail samples: targets in bins with fewer than ``few`` training samples
        (``regions.of(targets) == FEW`` for ``ShotRegions.fit(..., few=...)``); shape ``(N,)``
        or the target's shape.
    weights : torch.Tensor, optional
        Per-element weights with the target's shape (SQINV + ImbSAM).
    bn_mode : {"first", "second", "both", "none"}, default "both"
        Which pass updates BatchNorm running statistics (:mod:`bsam.optim.batchnorm`); both, as
        in the official code.
    sync, count, perturb_sync
        As for :func:`sam_step`.

    Returns
    -------
    StepResult
        ``loss`` = the weighted batch mean :math:`\\frac1N \\sum_i w_i \\ell_i(\\theta)` (the
        tail unscaled, comparable across methods), ``perturbation_loss = L_T(theta)``,
        ``grad_norm = ||grad L_T(theta)||`` (both with the factor ``s``),
        ``loss_at_perturbed = L_H(theta) + L_T(theta + eps)``.
    """
    if not isinstance(optimizer, ImbSAM):
        raise TypeError(f"imbsam_step needs an ImbSAM optimizer, got {type(optimizer).__name__}")
    n = check_batch(targets, count)
    check_bn_mode(bn_mode)
    sync = _check_sync(sync, perturb_sync)
    fn = elementwise(loss, "loss")
    weights = check_weights(weights, targets, "weights")
    tail = check_tail_mask(tail_mask, targets)
    params = params_of(optimizer)
    scale = optimizer.tail_scale

    def parts(pred: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        values = evaluate(fn, pred, targets, "loss")
        if weights is not None:
            values = values * weights
        zero = values.new_zeros(())
        return torch.where(tail, zero, values).sum() / n, torch.where(tail, values, zero).sum() / n

    optimizer.zero_grad(set_to_none=True)
    (tail_count,) = sync.sum([float(tail.sum())])
    with running_stats_frozen(model, freezes(bn_mode, "first")):
        head, tail_loss = parts(model(inputs))
        head_value, tail_value = sync.sum([float(head.detach()), float(tail_loss.detach())])
        finite_or_raise(head_value + tail_value, "training loss")
        head.backward(retain_graph=tail_count > 0)
        sync.grads_(params)
        if tail_count > 0:
            optimizer.save_head_grad(zero_grad=True)
            tail_loss.backward()
    if tail_count == 0:
        if not freezes(bn_mode, "second"):  # the official second pass, at theta + 0
            with torch.no_grad():
                model(inputs)
        optimizer.base_step()
        return StepResult(head_value, 0.0, 0.0, head_value)
    if perturb_sync == "global":
        sync.grads_(params)
    grad_norm = optimizer.first_step(zero_grad=True)
    with running_stats_frozen(model, freezes(bn_mode, "second")):
        _, tail_perturbed = parts(model(inputs))
        tail_perturbed.backward()
    sync.grads_(params)
    optimizer.second_step()
    (tail_after,) = sync.sum([float(tail_perturbed.detach())])
    return StepResult(
        head_value + tail_value,
        scale * tail_value,
        scale * float(grad_norm),
        head_value + scale * tail_after,
    )
