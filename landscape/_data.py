"""Evaluation data for a surface: in-memory batches when the data fits, a DataLoader otherwise."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, SequentialSampler, TensorDataset

__all__ = ["DataSource", "make_source", "to_device"]

#: Datasets up to this size are kept in memory (on the evaluation device) between grid points.
CACHE_BYTES = 2 * 1024**3


def to_device(obj: Any, device: torch.device) -> Any:
    """Move a tensor, or tensors nested in tuples/lists/dicts, to ``device``."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(o, device) for o in obj)
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    return obj


def _nbytes(obj: Any) -> int:
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, (list, tuple)):
        return sum(_nbytes(o) for o in obj)
    if isinstance(obj, dict):
        return sum(_nbytes(o) for o in obj.values())
    return 0


class DataSource:
    """Ordered batches ``(start, stop, inputs, targets)`` on the evaluation device.

    Either a list of batches held in memory (``batches``) or a DataLoader iterated at every grid
    point (``loader``). ``targets`` holds all targets on the CPU, in sample order.
    """

    def __init__(
        self,
        targets: torch.Tensor,
        device: torch.device,
        *,
        batches: list[tuple[Any, torch.Tensor]] | None = None,
        loader: DataLoader | None = None,
        kind: str,
    ) -> None:
        self.targets = targets
        self.device = device
        self._batches = batches
        self._loader = loader
        self.kind = kind

    @property
    def num_samples(self) -> int:
        """Number of samples."""
        return int(self.targets.shape[0])

    @property
    def in_memory(self) -> bool:
        """Whether the batches are held in memory between passes."""
        return self._batches is not None

    def __iter__(self) -> Iterator[tuple[int, int, Any, torch.Tensor]]:
        start = 0
        source = self._batches if self._batches is not None else self._loader
        for x, y in source:
            stop = start + int(y.shape[0])
            yield start, stop, to_device(x, self.device), to_device(y, self.device)
            start = stop


def _pair(item: Any, where: str) -> tuple[Any, torch.Tensor]:
    if not isinstance(item, (tuple, list)) or len(item) < 2:
        raise ValueError(f"{where} must yield (input, target) pairs; got {type(item).__name__}.")
    target = item[1]
    if not isinstance(target, torch.Tensor):
        target = torch.as_tensor(target)
    return item[0], target


def _from_tensors(inputs: Any, targets: torch.Tensor, batch_size: int, device, kind) -> DataSource:
    targets = torch.as_tensor(targets)
    n = int(targets.shape[0])
    if isinstance(inputs, torch.Tensor) and inputs.shape[0] != n:
        raise ValueError(
            f"inputs have {inputs.shape[0]} samples but targets have {n}; pass aligned tensors."
        )
    if _nbytes(inputs) + _nbytes(targets) <= CACHE_BYTES:
        inputs, targets_dev = to_device(inputs, device), targets.to(device)
    else:
        targets_dev = targets
    batches = [
        (inputs[i : i + batch_size], targets_dev[i : i + batch_size])
        for i in range(0, n, batch_size)
    ]
    return DataSource(targets.detach().cpu(), device, batches=batches, kind=kind)


def make_source(data: Any, *, batch_size: int, device: torch.device) -> DataSource:
    """Turn ``data`` into a :class:`DataSource`.

    Accepted: a pair ``(inputs, targets)`` of tensors; an object with a ``tensors()`` method
    returning that pair; a :class:`~torch.utils.data.TensorDataset`; any map-style ``Dataset`` of
    ``(input, target)`` items; a ``DataLoader`` with a sequential sampler. Loaders and datasets
    are iterated once up front (for the targets) and kept in memory when they fit in
    ``CACHE_BYTES``, so later grid points skip the loader.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"Invalid batch_size {batch_size!r}; it must be a positive integer.")
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[1], torch.Tensor):
        return _from_tensors(data[0], data[1], batch_size, device, "tensors")
    if callable(getattr(data, "tensors", None)):
        inputs, targets = data.tensors()
        return _from_tensors(inputs, targets, batch_size, device, type(data).__name__)
    if isinstance(data, TensorDataset):
        if len(data.tensors) < 2:
            raise ValueError("The TensorDataset must hold (inputs, targets) tensors.")
        return _from_tensors(data.tensors[0], data.tensors[1], batch_size, device, "TensorDataset")
    if isinstance(data, DataLoader):
        loader = data
        if loader.batch_sampler is not None and not isinstance(
            loader.batch_sampler.sampler, SequentialSampler
        ):
            raise ValueError(
                f"The DataLoader uses {type(loader.batch_sampler.sampler).__name__}; region codes "
                "and masks follow the dataset order, so pass a loader with shuffle=False."
            )
    elif isinstance(data, Dataset) or (hasattr(data, "__getitem__") and hasattr(data, "__len__")):
        loader = DataLoader(data, batch_size=batch_size, shuffle=False)
    else:
        raise ValueError(
            f"Invalid data of type {type(data).__name__}; pass (inputs, targets) tensors, a "
            "Dataset of (input, target) pairs or a DataLoader."
        )
    cached: list | None = []
    size = 0
    targets = []
    for item in loader:
        x, y = _pair(item, "The data")
        targets.append(y.detach().cpu())
        if cached is not None:
            size += _nbytes(x) + _nbytes(y)
            if size <= CACHE_BYTES:
                cached.append((x, y))
            else:
                cached = None
    if not targets:
        raise ValueError("The data is empty: the loader yielded no batch.")
    all_targets = torch.cat(targets)
    kind = type(loader.dataset).__name__
    if cached is not None:
        return DataSource(
            all_targets, device, batches=[to_device(b, device) for b in cached], kind=kind
        )
    return DataSource(all_targets, device, loader=loader, kind=kind)
