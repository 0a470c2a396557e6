"""Sharding grid points over ``torch.distributed`` ranks (thin layer over :mod:`bsam.distributed`).

Every rank evaluates the whole dataset at its share of the grid points (point ``k`` of a chunk
goes to rank ``k mod world_size``, :func:`bsam.distributed.strided_positions`); the per-group
sums are summed onto rank 0, which alone writes the surface file. Launch with
``torchrun --nproc_per_node N`` (gloo on CPU, NCCL on GPU); without a process group everything
runs in the one process.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from bsam.distributed import (
    broadcast_object,
    init_process_group,
    strided_positions,
    sum_to_rank0,
    world,
)

__all__ = ["world", "init_from_env", "broadcast_object", "sum_to_rank0", "shard"]


def init_from_env(device: torch.device) -> bool:
    """Join the process group described by torchrun's environment (``WORLD_SIZE`` > 1).

    :func:`bsam.distributed.init_process_group` (NCCL on ``cuda:LOCAL_RANK`` for CUDA devices,
    gloo otherwise). Returns whether a process group is active afterwards; a single process
    without torchrun's variables gets ``False`` and needs no launcher.
    """
    init_process_group(torch.device(device))
    return dist.is_available() and dist.is_initialized()


#: Positions ``0 .. count-1`` of a chunk that this rank evaluates (``rank, rank + size, ...``);
#: the name kept for callers of :mod:`landscape.distributed`.
shard = strided_positions
