"""Sharding grid points over ``torch.distributed`` ranks.

Every rank evaluates the whole dataset at its share of the grid points (point ``k`` of a chunk
goes to rank ``k mod world_size``); the per-group sums are summed onto rank 0, which alone writes
the surface file. Launch with ``torchrun --nproc_per_node N`` (gloo on CPU, NCCL on GPU); without a
process group everything runs in the one process.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist

__all__ = ["world", "init_from_env", "broadcast_object", "sum_to_rank0", "shard"]


def world() -> tuple[int, int]:
    """``(rank, world_size)`` of the default process group, ``(0, 1)`` without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_from_env(device: torch.device) -> bool:
    """Join the process group described by torchrun's environment (``WORLD_SIZE`` > 1).

    Uses NCCL for CUDA devices (and selects ``cuda:LOCAL_RANK``), gloo otherwise. Returns whether
    a process group is active afterwards; a single process without torchrun's variables gets
    ``False`` and needs no launcher.
    """
    if dist.is_initialized():
        return True
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl")
    else:
        dist.init_process_group("gloo")
    return True


def broadcast_object(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (identity without a process group)."""
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


def shard(count: int) -> range:
    """Positions ``0 .. count-1`` of a chunk that this rank evaluates."""
    rank, size = world()
    return range(rank, count, size)
