"""Data-parallel training over ``torch.distributed`` ranks (``torchrun``; gloo on CPU, NCCL on GPU).

Every rank holds the whole model and takes a contiguous shard of every *global* batch of ``N``
samples (:func:`bsam.distributed.shard_batch`). Each rank's loss is the sum over its shard
divided by the global ``N``,

.. math:: L^{(r)} = \\frac1N \\sum_{i \\in S_r} w_i \\ell_i ,

so that summing the gradients over ranks (one all-reduce) gives exactly the gradient of the
global weighted mean :math:`\\frac1N \\sum_i w_i \\ell_i`, whatever the shard sizes. The steps are
the single-process ones of :mod:`bsam.optim.step`, given ``count = N`` and the all-reduce hook
:class:`bsam.distributed.AllReduceSync`; ``perturb_sync`` chooses between the global
perturbation gradient and m-sharpness (see there).

BatchNorm layers normalise with their shard's statistics (no SyncBatchNorm), so their running
statistics drift apart between ranks; :func:`average_buffers` averages every floating buffer over
the ranks at the end of each epoch, before evaluation and checkpointing.

The process group itself lives in :mod:`bsam.distributed`; the names here are kept for callers
(``init_distributed`` = :func:`bsam.distributed.init_process_group`, ``shard`` =
:func:`bsam.distributed.shard_batch`). The former ``ddp_plain_step`` / ``ddp_sam_step`` /
``ddp_imbsam_step`` are gone: :func:`bsam.optim.plain_step`, :func:`bsam.optim.sam_step` and
:func:`bsam.optim.imbsam_step` take ``sync=AllReduceSync(ctx)`` and ``count=N`` instead.
"""

from __future__ import annotations

from bsam.distributed import (
    DistContext,
    allreduce_grads_,
    allreduce_sum,
    average_buffers,
    broadcast_parameters,
    init_process_group,
    shard_batch,
)

__all__ = [
    "DistContext",
    "init_distributed",
    "shard",
    "allreduce_grads_",
    "allreduce_sum",
    "average_buffers",
    "broadcast_parameters",
]

#: :func:`bsam.distributed.init_process_group` under its former name.
init_distributed = init_process_group
#: :func:`bsam.distributed.shard_batch` under its former name.
shard = shard_batch
