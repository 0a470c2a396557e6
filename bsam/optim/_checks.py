"""Argument checks and loss evaluation shared by the one-call steps (private)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch.optim import Optimizer

from bsam.losses import align, get_loss

LossArg = str | Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def elementwise(loss: LossArg, name: str) -> LossFn:
    """The element-wise loss function of ``loss`` (a name or a callable), checked."""
    if not (isinstance(loss, str) or callable(loss)):
        raise TypeError(
            f"Invalid {name}: {loss!r}; pass a loss name ('l1', 'mse', 'huber') or a callable "
            "(pred, target) -> element-wise loss"
        )
    return get_loss(loss)


def evaluate(fn: LossFn, pred: torch.Tensor, targets: torch.Tensor, name: str) -> torch.Tensor:
    """``fn(pred, targets)`` with ``pred`` aligned to the targets; one value per element."""
    values = fn(align(pred, targets), targets)
    if values.shape != targets.shape:
        raise ValueError(
            f"{name} returned shape {tuple(values.shape)} but the targets have shape "
            f"{tuple(targets.shape)}; the loss must be element-wise (reduction='none')"
        )
    return values


def check_weights(
    weights: torch.Tensor | None, targets: torch.Tensor, name: str
) -> torch.Tensor | None:
    """``weights`` detached on the targets' device, after checking it has their shape."""
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


def check_batch(targets: torch.Tensor, count: int | None) -> int:
    """The element count ``N`` of the reduction: ``count``, or the batch's ``numel``."""
    if not isinstance(targets, torch.Tensor):
        raise TypeError(f"Invalid targets: expected a tensor, got {type(targets).__name__}")
    if targets.numel() == 0:
        raise ValueError(
            f"Empty batch: targets have shape {tuple(targets.shape)}; a step needs at least one "
            "sample (drop empty batches in the data loader)"
        )
    if count is None:
        return targets.numel()
    if isinstance(count, bool) or not isinstance(count, int) or count < targets.numel():
        raise ValueError(
            f"Invalid count: {count!r}; pass the number of target elements of the global batch "
            f"(at least this rank's {targets.numel()}), or None for a single process"
        )
    return count


def check_tail_mask(tail_mask: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The tail flags broadcast to the targets' shape (one flag per sample or per element)."""
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
        shape = (-1,) + (1,) * (targets.dim() - 1)
        return tail_mask.to(targets.device).reshape(shape).expand_as(targets)
    raise ValueError(
        f"tail_mask has shape {tuple(tail_mask.shape)} but the targets have shape "
        f"{tuple(targets.shape)}; pass one flag per sample (N,) or per target element"
    )


def weighted_sum(values: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """:math:`\\sum_i w_i \\ell_i` (``w = 1`` when ``weights`` is None)."""
    return (values if weights is None else values * weights).sum()


def params_of(optimizer: Optimizer) -> list[torch.Tensor]:
    """Every parameter of ``optimizer``'s groups, in order."""
    return [p for group in optimizer.param_groups for p in group["params"]]


def global_grad_norm(optimizer: Optimizer) -> float:
    """:math:`(\\sum_p \\|g_p\\|_2^2)^{1/2}` over the parameters with a gradient (0 if none)."""
    norms = [torch.linalg.vector_norm(p.grad, 2) for p in params_of(optimizer) if p.grad is not None]
    if not norms:
        return 0.0
    device = norms[0].device
    stacked = torch.stack([n.to(device, norms[0].dtype) for n in norms])
    return float(torch.linalg.vector_norm(stacked, 2))


def finite_or_raise(value: float, what: str) -> float:
    """``value``, or ``FloatingPointError`` naming ``what`` when it is NaN/inf."""
    if not math.isfinite(value):
        raise FloatingPointError(
            f"Non-finite {what}: {value}; the parameters were not changed (check the inputs, "
            "the targets and the learning rate)"
        )
    return value
