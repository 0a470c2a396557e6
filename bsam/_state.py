"""A model's state: bit-exact snapshot and restore, eval mode for a block, and its content hash.

Every analysis that perturbs or evaluates a network (surfaces, curvature, evaluation) uses these,
so a model is restored the same way and hashed with the same bytes everywhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

__all__ = ["preserved", "eval_mode", "tensors_hash", "state_hash"]


@contextmanager
def preserved(model: nn.Module) -> Iterator[nn.Module]:
    """Restore ``model``'s parameters, buffers, training modes and ``requires_grad`` on exit.

    Every parameter and buffer (persistent or not) is snapshotted by module and name; on exit the
    values are copied back in place, bit for bit (or the snapshot is put back when the block moved
    or replaced the tensor), the ``training`` flag of every module and the ``requires_grad`` flag
    of every parameter are reset, also when the block raises.

    Examples
    --------
    >>> net = torch.nn.Linear(2, 1)
    >>> before = net.weight.clone()
    >>> with preserved(net):
    ...     _ = net.weight.data.add_(1.0)
    >>> torch.equal(net.weight, before)
    True
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


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put every module of ``model`` in eval mode for the block, then restore each module's flag.

    Unlike ``model.train(was_training)``, a model whose submodules had mixed modes gets each of
    them back.
    """
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, flag in flags:
            m.training = flag


def tensors_hash(named: Sequence[tuple[str, torch.Tensor]] | Sequence[torch.Tensor]) -> str:
    """First 16 hex digits of a SHA-256 over the names, shapes, dtypes and bytes of tensors.

    For each ``(name, tensor)`` (a bare tensor is named by its position) the digest is fed the
    header ``f"{name}|{tuple(shape)}|{dtype}|"`` and then the tensor's bytes in C order (bfloat16,
    which numpy lacks, as its exact float32 values). The same values give the same hash on any
    device.
    """
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
    """Content hash of ``model.state_dict()`` (parameters and persistent buffers).

    :func:`tensors_hash` of the ``state_dict`` items in order: the ``model_hash`` written by the
    surfaces (HDF5 attribute) and by the curvature results (JSON provenance).
    """
    return tensors_hash(list(model.state_dict().items()))
