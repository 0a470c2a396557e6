"""The tensors a direction perturbs; snapshot, restore and hashing come from :mod:`bsam._state`."""

from __future__ import annotations

import torch
from torch import nn

from bsam._state import preserved, state_hash, tensors_hash

__all__ = ["target_tensors", "preserved", "tensors_hash", "state_hash"]


def target_tensors(model: nn.Module, *, states: bool = False) -> list[tuple[str, torch.Tensor]]:
    """The named tensors a direction is aligned with, in loss-landscape's order.

    ``states=False``: ``model.named_parameters()`` (every parameter, trainable or not).
    ``states=True``: the entries of ``model.state_dict(keep_vars=True)`` (parameters and persistent
    buffers such as BatchNorm running statistics), in ``state_dict`` order; integer buffers
    (``num_batches_tracked``) are listed too so that the order matches loss-landscape's files, but a
    direction is always zero there.
    """
    if states:
        return list(model.state_dict(keep_vars=True).items())
    return list(model.named_parameters())
