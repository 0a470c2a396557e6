"""Which pass of a two-pass step may update BatchNorm running statistics (``bn_mode``).

SAM-type steps run two forward passes in train mode, and each would update the running statistics
of normalisation layers. ``bn_mode`` chooses which pass may update them: ``"first"`` (default:
once per step, from the batch at ``theta``, like a plain step), ``"second"`` (from the batch at
``theta + eps``), ``"both"`` (twice per step, what naive SAM code and the official BSAM code do)
or ``"none"`` (never). A pass that must not update them is run inside
:func:`running_stats_frozen`: the running mean, variance and batch counter of every normalisation
layer are saved before and copied back after its backward pass, so they are restored bit for bit;
the forward pass itself still normalises with the batch statistics.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.nn.modules.batchnorm import _NormBase

__all__ = ["BN_MODES", "running_stats_frozen", "check_bn_mode", "freezes"]

#: Accepted values of ``bn_mode``: which pass of a two-pass step updates BatchNorm statistics.
BN_MODES: tuple[str, ...] = ("first", "second", "both", "none")


def check_bn_mode(bn_mode: str) -> None:
    """Raise ``ValueError`` naming ``bn_mode`` unless it is one of :data:`BN_MODES`."""
    if bn_mode not in BN_MODES:
        raise ValueError(f"Invalid bn_mode: {bn_mode!r}; choose from {list(BN_MODES)}")


def freezes(bn_mode: str, which: str) -> bool:
    """Whether pass ``which`` (``"first"`` at theta, ``"second"`` at theta + eps) must leave the
    running statistics unchanged under ``bn_mode``."""
    return bn_mode not in (which, "both")


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
