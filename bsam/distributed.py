"""Process groups over ``torch.distributed``: one init, the rank query, sharding and collectives.

Launch with ``torchrun --nproc_per_node N`` (``gloo`` on CPU, ``nccl`` on CUDA with each rank on
``cuda:LOCAL_RANK``); without ``torchrun``'s variables everything runs in the one process and
every collective here is the identity. Two kinds of sharding are used, under two names:

* :func:`shard_batch` -- this rank's *contiguous* part of a global batch (training: rank ``r`` of
  ``R`` takes part ``r`` of ``torch.tensor_split(batch, R)``);
* :func:`strided_positions` -- positions ``rank, rank + R, rank + 2R, ...`` of a chunk of work
  items (loss-surface grid points).

:class:`StepSync` is the hook the training steps of :mod:`bsam.optim` call after each backward
pass: :data:`LOCAL_SYNC` (identity) in one process, :class:`AllReduceSync` (one flat all-reduce
sum of the gradients) under ``torch.distributed``.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

__all__ = [
    "DistContext",
    "init_process_group",
    "world",
    "shard_batch",
    "strided_positions",
    "allreduce_grads_",
    "allreduce_sum",
    "average_buffers",
    "broadcast_parameters",
    "broadcast_object",
    "sum_to_rank0",
    "StepSync",
    "AllReduceSync",
    "LOCAL_SYNC",
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
        Whether :func:`init_process_group` created the process group (it is destroyed when the
        process exits, so later calls in the process reuse it).
    """

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    owns_group: bool = False

    @property
    def distributed(self) -> bool:
        """True when more than one process takes part."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0, the rank that evaluates and writes files."""
        return self.rank == 0

    def barrier(self) -> None:
        """Wait for every rank (no-op in a single process)."""
        if self.distributed:
            dist.barrier()


def world() -> tuple[int, int]:
    """``(rank, world_size)`` of the default process group, ``(0, 1)`` without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _rank_device(device: torch.device) -> torch.device:
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def _destroy_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def init_process_group(device: torch.device) -> DistContext:
    """Join the process group given by the environment, or run as a single process.

    Uses an already initialised default group when there is one; otherwise, when ``torchrun``
    set ``WORLD_SIZE > 1``, initialises one with ``nccl`` on CUDA (each rank on
    ``cuda:LOCAL_RANK`` when ``device`` has no index) or ``gloo`` otherwise, and destroys it when
    the process exits.

    Parameters
    ----------
    device : torch.device
        The resolved device of the run.

    Returns
    -------
    DistContext
        ``rank``, ``world_size`` and this rank's device.
    """
    device = torch.device(device)
    if dist.is_available() and dist.is_initialized():
        return DistContext(dist.get_rank(), dist.get_world_size(), _rank_device(device), False)
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return DistContext(0, 1, device, False)
    device = _rank_device(device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    atexit.register(_destroy_group)
    return DistContext(dist.get_rank(), dist.get_world_size(), device, True)


def shard_batch(batch: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """This rank's contiguous part of a global batch: ``torch.tensor_split(batch, R)[rank]``.

    With ``N`` rows and ``R`` ranks the first ``N mod R`` ranks get ``ceil(N / R)`` rows, the
    others ``floor(N / R)``; in a single process the batch itself is returned.
    """
    if not ctx.distributed:
        return batch
    return torch.tensor_split(batch, ctx.world_size)[ctx.rank]


def strided_positions(count: int) -> range:
    """Positions ``rank, rank + R, rank + 2R, ... < count`` that this rank evaluates.

    ``(rank, R)`` come from :func:`world`; in a single process this is ``range(count)``.
    """
    rank, size = world()
    return range(rank, count, size)


@torch.no_grad()
def allreduce_grads_(params: list[torch.Tensor], ctx: DistContext) -> None:
    """Sum the gradients of ``params`` over all ranks, in place (one flat all-reduce).

    A missing gradient counts as zeros (and becomes a zero tensor), so every rank sends the same
    layout. Nothing happens in a single process.
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
    """Sum a few Python floats over all ranks in float64 (unchanged in a single process)."""
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


def broadcast_object(obj: Any) -> Any:
    """Rank 0's ``obj`` (any picklable object) on every rank (identity without a group)."""
    rank, size = world()
    if size == 1:
        return obj
    box = [obj if rank == 0 else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def sum_to_rank0(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over ranks onto rank 0, in place (identity without a process group)."""
    if world()[1] > 1:
        dist.reduce(tensor, dst=0, op=dist.ReduceOp.SUM)
    return tensor


class StepSync:
    """How a training step combines this rank's gradients and losses with the other ranks'.

    This base class is the single-process hook: both methods are the identity. A step calls
    :meth:`grads_` after each backward pass whose gradient must be the global one, and
    :meth:`sum` on the scalar losses it reports.
    """

    distributed: bool = False

    def grads_(self, params: list[torch.Tensor]) -> None:
        """Sum the gradients of ``params`` over the ranks, in place (identity here)."""

    def sum(self, values: list[float]) -> list[float]:
        """Sum each of ``values`` over the ranks (identity here)."""
        return list(values)


class AllReduceSync(StepSync):
    """:class:`StepSync` over the ranks of ``ctx``: flat all-reduce sums (gradients, scalars).

    Parameters
    ----------
    ctx : DistContext
        The process group of the run.
    """

    def __init__(self, ctx: DistContext) -> None:
        self.ctx = ctx
        self.distributed = ctx.distributed

    def grads_(self, params: list[torch.Tensor]) -> None:
        """:func:`allreduce_grads_` over ``ctx``."""
        allreduce_grads_(params, self.ctx)

    def sum(self, values: list[float]) -> list[float]:
        """:func:`allreduce_sum` over ``ctx`` on its device."""
        return allreduce_sum(values, self.ctx, self.ctx.device)


#: The single-process hook (no communication).
LOCAL_SYNC = StepSync()
