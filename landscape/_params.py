"""The tensors a direction perturbs, their snapshot and their bit-exact restoration."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

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


@contextmanager
def preserved(model: nn.Module) -> Iterator[nn.Module]:
    """Restore ``model``'s parameters, buffers, training modes and ``requires_grad`` on exit.

    Every parameter and buffer (persistent or not) is snapshotted by module and name; on exit the
    values are copied back in place, bit for bit (or the snapshot is put back when the block moved
    or replaced the tensor), also when the block raises.
    """
    saved = []
    with torch.no_grad():
        for m in model.modules():
            for kind in ("_parameters", "_buffers"):
                for name, t in getattr(m, kind).items():
                    if t is not None:
                        saved.append((m, kind, name, t, t.detach().clone()))
    modes = [(m, m.training) for m in model.modules()]
    grads = [(p, p.requires_grad) for p in model.parameters()]
    try:
        yield model
    finally:
        with torch.no_grad():
            for m, kind, name, original, snap in saved:
                table = getattr(m, kind)
                current = table.get(name)
                if current is not original or original.device != snap.device:
                    if kind == "_parameters":
                        original.data = snap
                    else:
                        original = snap
                    table[name] = original
                else:
                    original.copy_(snap)
        for m, mode in modes:
            m.training = mode
        for p, flag in grads:
            p.requires_grad_(flag)


def tensors_hash(named: list[tuple[str, torch.Tensor]] | list[torch.Tensor]) -> str:
    """SHA-256 (first 16 hex digits) over names, shapes, dtypes and bytes of the tensors."""
    h = hashlib.sha256()
    for i, item in enumerate(named):
        name, t = item if isinstance(item, tuple) else (str(i), item)
        arr = t.detach().cpu().contiguous()
        h.update(f"{name}|{tuple(arr.shape)}|{arr.dtype}|".encode())
        if arr.dtype == torch.bfloat16:
            arr = arr.to(torch.float32)
        h.update(np.ascontiguousarray(arr.numpy()).tobytes())
    return h.hexdigest()[:16]


def state_hash(model: nn.Module) -> str:
    """Content hash of ``model.state_dict()`` (parameters and persistent buffers)."""
    return tensors_hash(list(model.state_dict().items()))
