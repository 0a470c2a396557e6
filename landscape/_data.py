"""Evaluation data for a surface: :class:`bsam.batches.Batches`, cached, in data set order."""

from __future__ import annotations

from typing import Any

import torch

from bsam.batches import CACHE_BYTES, Batches, to_device

__all__ = ["DataSource", "make_source", "to_device", "CACHE_BYTES"]

#: The surface's data source is the shared adaptor (old name kept).
DataSource = Batches


def make_source(data: Any, *, batch_size: int, device: torch.device) -> Batches:
    """Batches of ``data`` on ``device``, kept in memory between grid points when they fit.

    Accepted: a pair ``(inputs, targets)`` of tensors; an object with its own ``tensors()``
    method returning that pair; a :class:`~torch.utils.data.TensorDataset`; any map-style
    ``Dataset`` of ``(input, target)`` items; a ``DataLoader`` with a sequential sampler. Loaders
    and datasets are iterated once up front (for the targets) and kept when they fit in
    :data:`bsam.batches.CACHE_BYTES`, so later grid points skip the loader.
    """
    source = Batches(data, batch_size=batch_size, device=device, cache=True)
    source.check_ordered()
    if not source.from_tensors and source.targets.numel() == 0:
        raise ValueError("The data is empty: the loader yielded no batch.")
    return source
