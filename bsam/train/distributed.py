"""Data-parallel training over ``torch.distributed`` ranks (``torchrun``; gloo on CPU, NCCL on GPU).

Every rank holds the whole model and takes a contiguous shard of every *global* batch of ``N``
samples. Each rank's loss is the sum over its shard divided by the global ``N``,

.. math:: L^{(r)} = \\frac1N \\sum_{i \\in S_r} w_i \\ell_i ,

so that summing the gradients over ranks (one all-reduce) gives exactly the gradient of the
global weighted mean :math:`\\frac1N \\sum_i w_i \\ell_i`, whatever the shard sizes. The steps here
mirror :func:`bsam.optim.plain_step`, :func:`bsam.optim.sam_step` and
:func:`bsam.optim.imbsam_step` with an all-reduce after each backward pass:

* ``perturb_sync="global"`` (default): the perturbation gradient is all-reduced before
  ``first_step``, so :math:`\\epsilon = \\rho g_w / \\|g_w\\|` uses the global-batch gradient and
  the run equals a single-process run on the global batch (to float rounding);
* ``perturb_sync="local"``: each rank perturbs with the gradient of its own shard
  (m-sharpness, Foret et al. 2021, with ``m`` = per-rank batch); the descent gradient is still
  all-reduced, so the weights stay identical on every rank.

BatchNorm layers normalise with their shard's statistics (no SyncBatchNorm), so their running
statistics drift apart between ranks; :func:`average_buffers` averages every floating buffer over
the ranks at the end of each epoch, before evaluation and checkpointing.
"""

from __future__ import annotations

import atexit
import math
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.optim import Optimizer

from bsam.losses import align, get_loss
from bsam.optim import ImbSAM, StepResult, running_stats_frozen

__all__ = [
    "DistContext",
    "init_distributed",
    "shard",
    "allreduce_grads_",
    "allreduce_sum",
    "average_buffers",
    "broadcast_parameters",
    "ddp_plain_step",
    "ddp_sam_step",
    "ddp_imbsam_step",
]


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: ``rank`` of ``world_size`` processes, and its device.

    Attributes
    ----------
    rank, world_size : int
        This process and the number of processes (1 without ``torch.distributed``).
    device : torch.device
        The device this rank computes on.
    owns_group : bool
        Whether :func:`init_distributed` created the process group (it is destroyed when the
        process exits, so later :func:`bsam.train.train` calls in the process reuse it).
    """

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    owns_group: bool = False

    @property
    def distributed(self) -> bool:
        """True when more than one process trains."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0, the rank that evaluates and writes files."""
        return self.rank == 0

    def barrier(self) -> None:
        """Wait for every rank (no-op in a single process)."""
        if self.distributed:
            dist.barrier()


def init_distributed(device: torch.device) -> DistContext:
    """Join the process group given by the environment, or run as a single process.

    Uses an already initialised default group when there is one; otherwise, when ``torchrun``
    set ``WORLD_SIZE > 1``, initialises one with the ``gloo`` backend on CPU or ``nccl`` on CUDA
    (each rank on ``cuda:LOCAL_RANK``).

    Parameters
    ----------
    device : torch.device
        The resolved device of the run.
    """
    if dist.is_available() and dist.is_initialized():
        return DistContext(dist.get_rank(), dist.get_world_size(), _rank_device(device), False)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext(0, 1, device, False)
    device = _rank_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend)
    atexit.register(_destroy_group)
    return DistContext(dist.get_rank(), dist.get_world_size(), device, True)


def _destroy_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def _rank_device(device: torch.device) -> torch.device:
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def shard(batch: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """This rank's contiguous part of a global batch (``torch.tensor_split`` into world parts)."""
    if not ctx.distributed:
        return batch
    return torch.tensor_split(batch, ctx.world_size)[ctx.rank]


@torch.no_grad()
def allreduce_grads_(params: list[torch.Tensor], ctx: DistContext) -> None:
    """Sum the gradients of ``params`` over all ranks, in place (one flat all-reduce).

    A missing gradient counts as zeros (and becomes a zero tensor), so every rank sends the same
    layout.
    """
    if not ctx.distributed:
        return
    grads = []
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        grads.append(p.grad)
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset : offset + n].view_as(g))
        offset += n


def allreduce_sum(values: list[float], ctx: DistContext, device: torch.device) -> list[float]:
    """Sum a few Python floats over all ranks (returned unchanged in a single process)."""
    if not ctx.distributed:
        return list(values)
    buf = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(buf, op=dist.ReduceOp.SUM)
    return buf.tolist()


@torch.no_grad()
def average_buffers(model: nn.Module, ctx: DistContext) -> None:
    """Replace every floating buffer (BatchNorm running mean/var) by its mean over the ranks."""
    if not ctx.distributed:
        return
    for buf in model.buffers():
        if buf.is_floating_point():
            dist.all_reduce(buf, op=dist.ReduceOp.SUM)
            buf.div_(ctx.world_size)


@torch.no_grad()
def broadcast_parameters(model: nn.Module, ctx: DistContext, src: int = 0) -> None:
    """Copy rank ``src``'s parameters and buffers to every rank."""
    if not ctx.distributed:
        return
    for tensor in [*model.parameters(), *model.buffers()]:
        dist.broadcast(tensor, src)


# ------------------------------------------------------------------------------- steps
def _params(optimizer: Optimizer) -> list[torch.Tensor]:
    return [p for group in optimizer.param_groups for p in group["params"]]


def _weighted_sum(values: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    return (values if weights is None else values * weights).sum()


def _values(loss, model_out: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return get_loss(loss)(align(model_out, targets), targets)


def _raise_if_nonfinite(value: float, what: str) -> None:
    if not math.isfinite(value):
        raise FloatingPointError(f"Non-finite {what}: {value}")


def ddp_plain_step(
    model: nn.Module,
    optimizer: Optimizer,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    loss: str,
    *,
    weights: torch.Tensor | None,
    global_count: int,
    ctx: DistContext,
) -> StepResult:
    """Data-parallel :func:`bsam.optim.plain_step` on this rank's shard.

    Minimises :math:`\\frac1N \\sum_i w_i \\ell_i` over the global batch of ``global_count``
    target elements: local sum / N, backward, all-reduce (sum) of the gradients, base step.
    """
    params = _params(optimizer)
    optimizer.zero_grad(set_to_none=True)
    objective = _weighted_sum(_values(loss, model(inputs), targets), weights) / global_count
    objective.backward()
    (value,) = allreduce_sum([float(objective.detach())], ctx, inputs.device)
    _raise_if_nonfinite(value, "training loss")
    allreduce_grads_(params, ctx)
    grad_norm = float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params])))
    optimizer.step()
    return StepResult(loss=value, perturb_loss=value, grad_norm=grad_norm, perturbed_loss=value)


def ddp_sam_step(
    model: nn.Module,
    optimizer: Optimizer,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    descent_loss: str,
    *,
    perturb_weights: torch.Tensor | None,
    descent_weights: torch.Tensor | None,
    global_count: int,
    ctx: DistContext,
    perturb_sync: str = "global",
    bn_mode: str = "first",
) -> StepResult:
    """Data-parallel :func:`bsam.optim.sam_step` (SAM / BSAM) on this rank's shard.

    .. math::

        g_w = \\nabla \\tfrac1N \\textstyle\\sum_i w_i \\ell_i(\\theta) \\ \\text{(all-reduced if
        global)}, \\quad \\epsilon = \\rho g_w / \\|g_w\\|, \\quad
        g = \\nabla \\tfrac1N \\textstyle\\sum_i v_i \\ell_i(\\theta + \\epsilon)
        \\ \\text{(all-reduced)}.
    """
    params = _params(optimizer)
    optimizer.zero_grad(set_to_none=True)
    with running_stats_frozen(model, bn_mode in ("second", "none")):
        values = _values(descent_loss, model(inputs), targets)
        perturb = _weighted_sum(values, perturb_weights) / global_count
        perturb.backward()
    loss_at_theta = _weighted_sum(values.detach(), descent_weights) / global_count
    loss_value, perturb_value = allreduce_sum(
        [float(loss_at_theta), float(perturb.detach())], ctx, inputs.device
    )
    _raise_if_nonfinite(loss_value, "training loss")
    if perturb_sync == "global":
        allreduce_grads_(params, ctx)
    grad_norm = optimizer.first_step(zero_grad=True)
    with running_stats_frozen(model, bn_mode in ("first", "none")):
        values2 = _values(descent_loss, model(inputs), targets)
        descent = _weighted_sum(values2, descent_weights) / global_count
        descent.backward()
    allreduce_grads_(params, ctx)
    optimizer.second_step()
    (perturbed_value,) = allreduce_sum([float(descent.detach())], ctx, inputs.device)
    return StepResult(
        loss=loss_value,
        perturb_loss=perturb_value,
        grad_norm=float(grad_norm),
        perturbed_loss=perturbed_value,
    )


def ddp_imbsam_step(
    model: nn.Module,
    optimizer: ImbSAM,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    loss: str,
    *,
    tail_mask: torch.Tensor,
    weights: torch.Tensor | None,
    global_count: int,
    ctx: DistContext,
    perturb_sync: str = "global",
    bn_mode: str = "first",
) -> StepResult:
    """Data-parallel :func:`bsam.optim.imbsam_step` on this rank's shard.

    Head part :math:`L_H = \\frac1N \\sum_{i \\notin T} w_i \\ell_i` and tail part :math:`L_T`
    over the global batch; the update gradient is
    :math:`\\nabla L_H(\\theta) + \\nabla L_T(\\theta + \\epsilon_T)`, every gradient all-reduced
    (the tail perturbation gradient only when ``perturb_sync="global"``). Whether the batch has
    tail samples is decided globally, so every rank runs the same passes.
    """
    params = _params(optimizer)
    tail = tail_mask.to(targets.device).reshape((-1,) + (1,) * (targets.dim() - 1))
    tail = tail.expand_as(targets)

    def parts(pred: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        values = _values(loss, pred, targets)
        if weights is not None:
            values = values * weights
        zero = values.new_zeros(())
        head = torch.where(tail, zero, values).sum() / global_count
        tail_part = torch.where(tail, values, zero).sum() / global_count
        return head, tail_part

    optimizer.zero_grad(set_to_none=True)
    (tail_count,) = allreduce_sum([float(tail.sum())], ctx, inputs.device)
    with running_stats_frozen(model, bn_mode in ("second", "none")):
        head, tail_loss = parts(model(inputs))
        head_value, tail_value = allreduce_sum(
            [float(head.detach()), float(tail_loss.detach())], ctx, inputs.device
        )
        _raise_if_nonfinite(head_value + tail_value, "training loss")
        head.backward(retain_graph=tail_count > 0)
        allreduce_grads_(params, ctx)
        if tail_count == 0:
            optimizer.base_optimizer.step()
            return StepResult(head_value, 0.0, 0.0, head_value)
        optimizer.save_head_grad(zero_grad=True)
        tail_loss.backward()
    if perturb_sync == "global":
        allreduce_grads_(params, ctx)
    else:
        for p in params:  # a rank without tail samples perturbs by zero
            if p.grad is None:
                p.grad = torch.zeros_like(p)
    grad_norm = optimizer.first_step(zero_grad=True)
    with running_stats_frozen(model, bn_mode in ("first", "none")):
        _, tail_perturbed = parts(model(inputs))
        tail_perturbed.backward()
    allreduce_grads_(params, ctx)
    optimizer.second_step()
    (tail_after,) = allreduce_sum([float(tail_perturbed.detach())], ctx, inputs.device)
    return StepResult(
        loss=head_value + tail_value,
        perturb_loss=tail_value,
        grad_norm=float(grad_norm),
        perturbed_loss=head_value + tail_after,
    )
