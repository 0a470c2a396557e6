"""One-call training steps: plain (vanilla / reweighted), SAM / BSAM, and ImbSAM.

Each function runs the forward and backward passes and the optimizer update for one batch and
returns a :class:`StepResult`. Losses are element-wise (one value per target element, see
:mod:`bsam.losses`) and are reduced as a weighted mean over all ``N`` target elements,

.. math:: L_w = \\frac{1}{N} \\sum_i w_i \\ell_i ,

with ``w = 1`` when no weights are given. For dense targets ``(N, H, W)`` the weights have the
target's shape and ``N`` counts every element.

BatchNorm (``bn_mode``). SAM-type steps run two forward passes in train mode, and each would
update the running statistics of normalisation layers. ``bn_mode`` chooses which pass may update
them: ``"first"`` (default: once per step, from the batch at ``theta``, like a plain step),
``"second"`` (from the batch at ``theta + eps``), ``"both"`` (twice per step, what naive SAM code
and the official BSAM code do) or ``"none"`` (never). A pass that must not update them is run with
the running mean, variance and batch counter of every normalisation layer saved before and copied
back after its backward pass, so they are restored bit for bit; the forward pass itself still
normalises with the batch statistics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.modules.batchnorm import _NormBase
from torch.optim import Optimizer

from bsam.losses import align, get_loss, weighted_mean
from bsam.optim.imbsam import ImbSAM
from bsam.optim.sam import SAM

__all__ = [
    "StepResult",
    "BN_MODES",
    "plain_step",
    "sam_step",
    "imbsam_step",
    "running_stats_frozen",
]

#: Accepted values of ``bn_mode``: which pass of a two-pass step updates BatchNorm statistics.
BN_MODES = ("first", "second", "both", "none")

LossArg = str | Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class StepResult:
    """What one training step measured (all Python floats, read after the update).

    Attributes
    ----------
    loss : float
        Descent loss at ``theta`` (before the update): ``(1/N) sum_i v_i l_i`` with the descent
        weights ``v``; taken from the first pass's per-sample losses (no extra forward).
    perturb_loss : float
        The loss differentiated at ``theta``: the perturbation loss ``(1/N) sum_i w_i l_i`` of
        SAM/BSAM, the tail part of ImbSAM, the training loss itself for a plain step.
    grad_norm : float
        ``||g||_2`` of the gradient of ``perturb_loss`` at ``theta`` (one norm over all
        parameters with a gradient; ``|theta|``-scaled for adaptive SAM).
    perturbed_loss : float
        The loss whose gradient made the update, at the point where it was taken: the descent
        loss at ``theta + eps`` (SAM/BSAM), head(theta) + tail(theta + eps) (ImbSAM), equal to
        ``loss`` for a plain step.
    """

    loss: float
    perturb_loss: float
    grad_norm: float
    perturbed_loss: float


# ---------------------------------------------------------------------------- helpers
def _elementwise(loss: LossArg, name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if not (isinstance(loss, str) or callable(loss)):
        raise TypeError(
            f"Invalid {name}: {loss!r}; pass a loss name ('l1', 'mse', 'huber') or a callable "
            "(pred, target) -> element-wise loss"
        )
    return get_loss(loss)


def _evaluate(
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    pred: torch.Tensor,
    targets: torch.Tensor,
    name: str,
) -> torch.Tensor:
    values = fn(align(pred, targets), targets)
    if values.shape != targets.shape:
        raise ValueError(
            f"{name} returned shape {tuple(values.shape)} but the targets have shape "
            f"{tuple(targets.shape)}; the loss must be element-wise (reduction='none')"
        )
    return values


def _check_weights(
    weights: torch.Tensor | None, targets: torch.Tensor, name: str
) -> torch.Tensor | None:
    if weights is None:
        return None
    if not isinstance(weights, torch.Tensor):
        raise TypeError(f"Invalid {name}: expected a tensor or None, got {type(weights).__name__}")
    if weights.shape != targets.shape:
        raise ValueError(
            f"{name} has shape {tuple(weights.shape)} but the targets have shape "
            f"{tuple(targets.shape)}; pass one weight per target element "
            "(BalanceWeights.weights(targets))"
        )
    return weights.detach().to(device=targets.device)


def _check_batch(targets: torch.Tensor) -> None:
    if not isinstance(targets, torch.Tensor):
        raise TypeError(f"Invalid targets: expected a tensor, got {type(targets).__name__}")
    if targets.numel() == 0:
        raise ValueError(
            f"Empty batch: targets have shape {tuple(targets.shape)}; a step needs at least one "
            "sample (drop empty batches in the data loader)"
        )


def _check_bn_mode(bn_mode: str) -> None:
    if bn_mode not in BN_MODES:
        raise ValueError(f"Invalid bn_mode: {bn_mode!r}; choose from {list(BN_MODES)}")


def _running_buffers(model: nn.Module) -> list[torch.Tensor]:
    buffers = []
    for module in model.modules():
        if isinstance(module, _NormBase) and module.track_running_stats:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                buf = getattr(module, name, None)
                if isinstance(buf, torch.Tensor):
                    buffers.append(buf)
    return buffers


@contextmanager
def running_stats_frozen(model: nn.Module, frozen: bool = True) -> Iterator[None]:
    """Keep the running statistics of every normalisation layer unchanged inside the block.

    The running mean, running variance and ``num_batches_tracked`` of each BatchNorm-type layer
    (``torch.nn.modules.batchnorm._NormBase`` with ``track_running_stats``) are copied on entry
    and copied back on exit, bit for bit. Layers still normalise with batch statistics in train
    mode. Run the backward pass inside the block too (it may read the saved buffers).

    Parameters
    ----------
    model : nn.Module
        The network.
    frozen : bool, default True
        When False the block does nothing (convenient for switching by a flag).
    """
    if not frozen:
        yield
        return
    saved = [(buf, buf.clone()) for buf in _running_buffers(model)]
    try:
        yield
    finally:
        with torch.no_grad():
            for buf, copy in saved:
                buf.copy_(copy)


def _global_grad_norm(optimizer: Optimizer) -> float:
    norms = [
        torch.linalg.vector_norm(p.grad, 2)
        for group in optimizer.param_groups
        for p in group["params"]
        if p.grad is not None
    ]
    if not norms:
        return 0.0
    device = norms[0].device
    stacked = torch.stack([n.to(device, norms[0].dtype) for n in norms])
    return float(torch.linalg.vector_norm(stacked, 2))


# ---------------------------------------------------------------------------- steps
def plain_step(
    model: nn.Module,
    optimizer: Optimizer,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    loss: LossArg,
    *,
    weights: torch.Tensor | None = None,
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
        The batch; ``model(inputs)`` must give one value per target element.
    loss : str or callable
        ``"l1"``, ``"mse"``, ``"huber"`` or ``(pred, target) -> element-wise loss``.
    weights : torch.Tensor, optional
        Per-element weights with the target's shape (``None``: all 1).

    Returns
    -------
    StepResult
        ``loss = perturb_loss = perturbed_loss = L_w(theta)``, ``grad_norm = ||grad L_w||_2``.
    """
    if isinstance(optimizer, SAM):
        raise TypeError(
            f"plain_step got a {type(optimizer).__name__} optimizer; use sam_step (or "
            "imbsam_step for ImbSAM), or pass a plain optimizer such as torch.optim.SGD"
        )
    _check_batch(targets)
    fn = _elementwise(loss, "loss")
    weights = _check_weights(weights, targets, "weights")
    optimizer.zero_grad(set_to_none=True)
    values = _evaluate(fn, model(inputs), targets, "loss")
    objective = weighted_mean(values, weights)
    objective.backward()
    grad_norm = _global_grad_norm(optimizer)
    optimizer.step()
    value = float(objective.detach())
    return StepResult(loss=value, perturb_loss=value, grad_norm=grad_norm, perturbed_loss=value)


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
        The batch; ``model(inputs)`` must give one value per target element.
    descent_loss : str or callable
        ``"l1"``, ``"mse"``, ``"huber"`` or ``(pred, target) -> element-wise loss``.
    perturb_weights : torch.Tensor, optional
        Weights of the perturbation loss, with the target's shape.
    perturb_loss : str or callable, optional
        Loss of the first pass; default: ``descent_loss``.
    descent_weights : torch.Tensor, optional
        Weights of the descent loss, with the target's shape.
    bn_mode : {"first", "second", "both", "none"}, default "first"
        Which pass updates BatchNorm running statistics (module docstring).

    Returns
    -------
    StepResult
        ``loss`` = descent loss at ``theta`` (from the first pass's per-element losses, no extra
        forward), ``perturb_loss``, ``grad_norm = ||g_w||``, ``perturbed_loss`` = descent loss
        at ``theta + eps``.

    Raises
    ------
    ValueError
        Weights whose shape differs from the targets', an unknown ``bn_mode``, an empty batch.
    FloatingPointError
        A non-finite gradient norm in the first pass (parameters are left unperturbed).
    """
    if not isinstance(optimizer, SAM) or isinstance(optimizer, ImbSAM):
        raise TypeError(
            f"sam_step needs a SAM or BSAM optimizer, got {type(optimizer).__name__}; use "
            "plain_step for plain optimizers and imbsam_step for ImbSAM"
        )
    _check_batch(targets)
    _check_bn_mode(bn_mode)
    descent_fn = _elementwise(descent_loss, "descent_loss")
    perturb_fn = descent_fn if perturb_loss is None else _elementwise(perturb_loss, "perturb_loss")
    perturb_weights = _check_weights(perturb_weights, targets, "perturb_weights")
    descent_weights = _check_weights(descent_weights, targets, "descent_weights")

    optimizer.zero_grad(set_to_none=True)
    with running_stats_frozen(model, bn_mode in ("second", "none")):
        pred = model(inputs)
        perturb_name = "descent_loss" if perturb_loss is None else "perturb_loss"
        perturb_values = _evaluate(perturb_fn, pred, targets, perturb_name)
        perturb_objective = weighted_mean(perturb_values, perturb_weights)
        perturb_objective.backward()
    with torch.no_grad():
        if perturb_fn is descent_fn:
            descent_values = perturb_values.detach()
        else:
            descent_values = _evaluate(descent_fn, pred.detach(), targets, "descent_loss")
        loss_at_theta = weighted_mean(descent_values, descent_weights)
    grad_norm = optimizer.first_step(zero_grad=True)

    with running_stats_frozen(model, bn_mode in ("first", "none")):
        descent_values = _evaluate(descent_fn, model(inputs), targets, "descent_loss")
        descent_objective = weighted_mean(descent_values, descent_weights)
        descent_objective.backward()
    optimizer.second_step()
    return StepResult(
        loss=float(loss_at_theta),
        perturb_loss=float(perturb_objective.detach()),
        grad_norm=float(grad_norm),
        perturbed_loss=float(descent_objective.detach()),
    )


def _tail_mask(tail_mask: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    if not isinstance(tail_mask, torch.Tensor):
        raise TypeError(
            f"Invalid tail_mask: expected a boolean tensor, got {type(tail_mask).__name__}"
        )
    if tail_mask.dtype != torch.bool:
        raise ValueError(
            f"tail_mask must be a boolean tensor, got dtype {tail_mask.dtype}; pass e.g. "
            "regions.of(targets) == FEW"
        )
    if tail_mask.shape == targets.shape:
        return tail_mask.to(targets.device)
    if tail_mask.dim() == 1 and tail_mask.shape[0] == targets.shape[0]:
        return tail_mask.to(targets.device).reshape((-1,) + (1,) * (targets.dim() - 1))
    raise ValueError(
        f"tail_mask has shape {tuple(tail_mask.shape)} but the targets have shape "
        f"{tuple(targets.shape)}; pass one flag per sample (N,) or per target element"
    )


def imbsam_step(
    model: nn.Module,
    optimizer: ImbSAM,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    loss: LossArg,
    *,
    tail_mask: torch.Tensor,
    weights: torch.Tensor | None = None,
    bn_mode: str = "first",
) -> StepResult:
    """One ImbSAM step (Zhou et al., ICCV 2023) with the tail given per sample.

    With ``T`` the tail samples (``tail_mask``) and ``N`` the batch size (target elements),

    .. math::

        L_H = \\tfrac1N \\textstyle\\sum_{i \\notin T} w_i \\ell_i, \\quad
        L_T = \\tfrac1N \\textstyle\\sum_{i \\in T} w_i \\ell_i, \\quad
        \\epsilon = \\rho\\, \\nabla L_T(\\theta) / \\|\\nabla L_T(\\theta)\\|_2,

    and the update gradient is :math:`\\nabla L_H(\\theta) + \\nabla L_T(\\theta + \\epsilon)`.
    Both parts are divided by the whole batch size, so :math:`L_H + L_T` is the weighted batch
    mean. One forward pass at ``theta`` serves both parts (two backward passes); a batch without
    tail samples takes a plain step on :math:`L_H` (no second forward).

    Parameters
    ----------
    model : nn.Module
        The network.
    optimizer : ImbSAM
        Built on ``model``'s parameters.
    inputs, targets : torch.Tensor
        The batch.
    loss : str or callable
        ``"l1"``, ``"mse"``, ``"huber"`` or ``(pred, target) -> element-wise loss``.
    tail_mask : torch.BoolTensor
        True for tail samples (targets in bins with fewer than 20 training samples, e.g.
        ``regions.of(targets) == FEW``); shape ``(N,)`` or the target's shape.
    weights : torch.Tensor, optional
        Per-element weights with the target's shape (SQINV + ImbSAM).
    bn_mode : {"first", "second", "both", "none"}, default "first"
        Which pass updates BatchNorm running statistics (module docstring).

    Returns
    -------
    StepResult
        ``loss = L_H + L_T`` at ``theta``, ``perturb_loss = L_T(theta)``,
        ``grad_norm = ||grad L_T(theta)||``, ``perturbed_loss = L_H(theta) + L_T(theta + eps)``.
    """
    if not isinstance(optimizer, ImbSAM):
        raise TypeError(f"imbsam_step needs an ImbSAM optimizer, got {type(optimizer).__name__}")
    _check_batch(targets)
    _check_bn_mode(bn_mode)
    fn = _elementwise(loss, "loss")
    weights = _check_weights(weights, targets, "weights")
    tail = _tail_mask(tail_mask, targets)
    count = targets.numel()

    def parts(pred: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        values = _evaluate(fn, pred, targets, "loss")
        if weights is not None:
            values = values * weights
        zero = values.new_zeros(())
        head = torch.where(tail, zero, values).sum() / count
        tail_part = torch.where(tail, values, zero).sum() / count
        return head, tail_part

    optimizer.zero_grad(set_to_none=True)
    has_tail = bool(tail.any())
    with running_stats_frozen(model, bn_mode in ("second", "none")):
        head, tail_loss = parts(model(inputs))
        if not has_tail:
            head.backward()
        else:
            head.backward(retain_graph=True)
            optimizer.save_head_grad(zero_grad=True)
            tail_loss.backward()
    if not has_tail:
        optimizer.base_step()
        value = float(head.detach())
        return StepResult(loss=value, perturb_loss=0.0, grad_norm=0.0, perturbed_loss=value)

    grad_norm = optimizer.first_step(zero_grad=True)
    with running_stats_frozen(model, bn_mode in ("first", "none")):
        _, tail_perturbed = parts(model(inputs))
        tail_perturbed.backward()
    optimizer.second_step()
    head_value = float(head.detach())
    return StepResult(
        loss=head_value + float(tail_loss.detach()),
        perturb_loss=float(tail_loss.detach()),
        grad_norm=float(grad_norm),
        perturbed_loss=head_value + float(tail_perturbed.detach()),
    )
