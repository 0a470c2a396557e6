"""Fixed-order batches of an evaluation set, on a device, with every target known up front.

Evaluation, surfaces and curvature all average a per-sample quantity over a *fixed* set of samples
whose region masks follow the data set order. :class:`Batches` is the one adaptor that turns what a
user has into such batches:

* a pair ``(inputs, targets)`` of tensors, a :class:`~torch.utils.data.TensorDataset`, or a data set
  held in memory (:func:`split_tensors`): sliced directly, no loader;
* any map-style ``Dataset`` of ``(input, target)`` items: read by a ``DataLoader`` in order;
* a ``DataLoader``: iterated as it is (a shuffling one is refused by :meth:`Batches.check_ordered`
  wherever masks must line up with the samples).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, SequentialSampler, Subset, TensorDataset

__all__ = [
    "Batches",
    "DataKindError",
    "split_tensors",
    "to_device",
    "loader_options",
    "CACHE_BYTES",
    "PREFETCH_FACTOR",
]

#: Data up to this size is kept (on the evaluation device) between passes when caching is on.
CACHE_BYTES = 2 * 1024**3

#: Batches each loader worker prepares ahead (``DataLoader(prefetch_factor=...)``).
PREFETCH_FACTOR = 4


def loader_options(num_workers: int, device: torch.device | str | None) -> dict[str, Any]:
    """``DataLoader`` keywords that keep an accelerator fed.

    ``num_workers`` processes decode and transform in parallel; with workers, they persist
    across passes (``persistent_workers``: no process start per epoch) and each prefetches
    :data:`PREFETCH_FACTOR` batches; batches go to pinned memory when ``device`` is CUDA, so
    the copy ``.to(device, non_blocking=True)`` overlaps with compute.
    """
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"Invalid num_workers {num_workers!r}; it must be an int >= 0.")
    pin = device is not None and torch.device(device).type == "cuda"
    opts: dict[str, Any] = {"num_workers": num_workers, "pin_memory": pin}
    if num_workers > 0:
        opts.update(persistent_workers=True, prefetch_factor=PREFETCH_FACTOR)
    return opts


class DataKindError(TypeError, ValueError):
    """The data is of a kind :class:`Batches` cannot read (a ``TypeError`` and a ``ValueError``)."""


def to_device(obj: Any, device: torch.device | None) -> Any:
    """Move a tensor, or tensors nested in tuples/lists/dicts, to ``device`` (``None``: stay)."""
    if device is None:
        return obj
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


def split_tensors(dataset: Any) -> tuple[Any, torch.Tensor] | None:
    """Return ``(inputs, targets)`` of data held in memory, or ``None`` for data read per item.

    In memory are a tuple/list ``(inputs, targets)`` with a tensor of targets, a
    :class:`~torch.utils.data.TensorDataset` (its first two tensors), and an object with
    ``in_memory = True`` or a ``tensors()`` method of its own (not the stacking fallback of
    :class:`bsam.data.RegressionDataset`, which would read every file).
    """
    if isinstance(dataset, (tuple, list)) and len(dataset) == 2:
        if isinstance(dataset[1], torch.Tensor):
            return dataset[0], dataset[1]
        return None
    if isinstance(dataset, TensorDataset):
        if len(dataset.tensors) < 2:
            raise ValueError("The TensorDataset must hold (inputs, targets) tensors.")
        return dataset.tensors[0], dataset.tensors[1]
    flag = getattr(dataset, "in_memory", None)
    method = getattr(type(dataset), "tensors", None)
    if flag is False or not callable(method):
        return None
    if flag is None:
        from bsam.data.base import RegressionDataset

        if method is RegressionDataset.tensors:
            return None
    x, y = dataset.tensors()
    return x, torch.as_tensor(y)


def _pair(item: Any) -> tuple[Any, torch.Tensor]:
    if not isinstance(item, (tuple, list)) or len(item) < 2:
        raise ValueError(
            f"Invalid data: expected (input, target) pairs, got {type(item).__name__}; pass a "
            "Dataset/DataLoader of (input, target) or a tuple (X, y)."
        )
    return item[0], torch.as_tensor(item[1])


class Batches:
    """Batches ``(start, stop, inputs, targets)`` of a fixed data set, in data set order.

    Parameters
    ----------
    data:
        ``(inputs, targets)`` tensors, a ``TensorDataset``, a data set in memory, any map-style
        ``Dataset`` of ``(input, target)`` items, or a ``DataLoader`` (which keeps its batches).
    batch_size:
        Samples per batch for everything but a ``DataLoader``.
    device:
        Where the batches are delivered (``None``: where they are).
    cache:
        Keep the batches on ``device`` after the first pass when they take at most
        :data:`CACHE_BYTES` (tensors are moved once at construction), so later passes skip the
        loader; the first access to :attr:`targets` makes that pass.
    num_workers:
        Loader workers for a ``Dataset`` read per item (they persist across passes; pinned
        memory when ``device`` is CUDA: :func:`loader_options`).

    Examples
    --------
    >>> X, y = torch.arange(10.0).reshape(5, 2), torch.arange(5.0)
    >>> [(a, b) for a, b, _, _ in Batches((X, y), batch_size=2)]
    [(0, 2), (2, 4), (4, 5)]
    """

    def __init__(
        self,
        data: Any,
        *,
        batch_size: int,
        device: torch.device | None = None,
        cache: bool = False,
        num_workers: int = 0,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"Invalid batch_size {batch_size!r}; it must be an int >= 1.")
        self.batch_size = batch_size
        self.device = device
        self._cache = cache
        self._tensors: tuple[Any, torch.Tensor] | None = None
        self._loader: DataLoader | None = None
        self._cached: list[tuple[Any, torch.Tensor]] | None = None
        self._targets: torch.Tensor | None = None
        self._data, self._own_loader = data, False
        self._options: dict[str, Any] = {}
        tensors = None if isinstance(data, DataLoader) else split_tensors(data)
        #: Whether the data came as tensors (sliced directly) rather than through a loader.
        self.from_tensors = tensors is not None
        if tensors is not None:
            self._init_tensors(*tensors)
            self.kind = "tensors" if isinstance(data, (tuple, list)) else type(data).__name__
        elif isinstance(data, DataLoader):
            self._loader, self._data = data, data.dataset
            self.kind = type(data.dataset).__name__
        elif isinstance(data, Dataset) or (hasattr(data, "__getitem__") and hasattr(data, "__len__")):
            # a map-style data set (or any sequence of (input, target) pairs)
            self._own_loader = True
            self._options = loader_options(num_workers, device)
            self._loader = DataLoader(data, batch_size=batch_size, shuffle=False, **self._options)
            self.kind = type(data).__name__
        else:
            raise DataKindError(
                f"Invalid data of type {type(data).__name__}; pass (inputs, targets) tensors, a "
                "Dataset of (input, target) pairs or a DataLoader."
            )

    def _init_tensors(self, inputs: Any, targets: torch.Tensor) -> None:
        n = int(targets.shape[0])
        if isinstance(inputs, torch.Tensor) and inputs.shape[0] != n:
            raise ValueError(
                f"Invalid data: X has {inputs.shape[0]} samples but y has {n}; pass inputs and "
                "targets with the same first dimension."
            )
        self._targets = targets.detach().cpu()
        fits = _nbytes(inputs) + _nbytes(targets) <= CACHE_BYTES
        if self._cache and self.device is not None and fits:
            inputs, targets = to_device(inputs, self.device), targets.to(self.device)
        self._tensors = (inputs, targets)

    # -- what the data is ------------------------------------------------------------------------
    def _sampler(self) -> Any:
        if self._loader is None:
            return None
        batches = self._loader.batch_sampler
        return batches.sampler if batches is not None else self._loader.sampler

    @property
    def shuffles(self) -> bool:
        """Whether the data is a ``DataLoader`` whose sampler is not sequential (it shuffles)."""
        return self._loader is not None and not isinstance(self._sampler(), SequentialSampler)

    def check_ordered(self) -> None:
        """Raise ``ValueError`` when the samples do not come in data set order (shuffling loader)."""
        if self.shuffles:
            raise ValueError(
                f"Invalid data: the DataLoader uses {type(self._sampler()).__name__} (the DataLoader "
                "shuffles), so masks and region codes, which follow the data set order, cannot be "
                "aligned with its samples; pass a loader with shuffle=False."
            )

    @property
    def in_memory(self) -> bool:
        """Whether passes skip the loader (tensors, or loader batches cached by the first pass)."""
        return self._tensors is not None or self._cached is not None

    @property
    def num_samples(self) -> int:
        """Number of samples."""
        if self._targets is None and self._tensors is None and hasattr(self._data, "__len__"):
            return len(self._data)
        return int(self.targets.shape[0])

    @property
    def targets(self) -> torch.Tensor:
        """All targets on the CPU, in iteration order.

        Without caching, a data set's own ``targets`` tensor is used when it has one of the right
        length (no pass over the inputs); otherwise one pass reads them (and caches the batches
        when ``cache`` is on and they fit).
        """
        if self._targets is None:
            own = getattr(self._data, "targets", None)
            if (
                not self._cache
                and not self.shuffles
                and isinstance(own, torch.Tensor)
                and hasattr(self._data, "__len__")
                and own.shape[0] == len(self._data)
            ):
                self._targets = own.detach().cpu()
            else:
                self._targets = self._first_pass()
        return self._targets

    def _first_pass(self) -> torch.Tensor:
        cached: list[tuple[Any, torch.Tensor]] | None = [] if self._cache else None
        size, targets = 0, []
        for item in self._loader:
            x, y = _pair(item)
            targets.append(y.detach().cpu())
            if cached is not None:
                size += _nbytes(x) + _nbytes(y)
                if size <= CACHE_BYTES:
                    cached.append((x, y))
                else:
                    cached = None
        if not targets:
            return torch.empty(0)
        if cached is not None:
            self._cached = [to_device(b, self.device) for b in cached]
        return torch.cat(targets)

    # -- passes ----------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[tuple[int, int, Any, torch.Tensor]]:
        """Yield ``(start, stop, inputs, targets)`` on :attr:`device`, samples ``start:stop``."""
        start = 0
        for x, y in self._pairs():
            stop = start + int(y.shape[0])
            yield start, stop, to_device(x, self.device), to_device(y, self.device)
            start = stop

    def _pairs(self) -> Iterator[tuple[Any, torch.Tensor]]:
        if self._tensors is not None:
            x, y = self._tensors
            for i in range(0, int(y.shape[0]), self.batch_size):
                yield x[i : i + self.batch_size], y[i : i + self.batch_size]
        elif self._cached is not None:
            yield from self._cached
        else:
            yield from (_pair(item) for item in self._loader)

    def subset(self, indices: torch.Tensor) -> Iterator[tuple[Any, torch.Tensor, torch.Tensor]]:
        """Yield ``(inputs, targets, idx)`` for the samples at the sorted positions ``indices``.

        Tensors are indexed, a ``Dataset`` is read only at those positions, a ``DataLoader`` is
        read in full and filtered. Batches are delivered on :attr:`device`.
        """
        indices = torch.as_tensor(indices, dtype=torch.long).cpu()
        if not self._own_loader:
            yield from self._filtered(indices)
            return
        options = {**self._options, "persistent_workers": False}  # one pass over this subset
        subset = Subset(self._data, indices.tolist())
        loader = DataLoader(subset, batch_size=self.batch_size, **options)
        offset = 0
        for item in loader:
            x, y = _pair(item)
            idx = indices[offset : offset + int(y.shape[0])]
            offset += int(y.shape[0])
            yield to_device(x, self.device), to_device(y, self.device), idx

    def _filtered(self, indices: torch.Tensor) -> Iterator[tuple[Any, torch.Tensor, torch.Tensor]]:
        if self._tensors is not None:
            x, y = self._tensors
            for i in range(0, indices.numel(), self.batch_size):
                idx = indices[i : i + self.batch_size]
                xs, ys = x[idx.to(x.device)], y[idx.to(y.device)]
                yield to_device(xs, self.device), to_device(ys, self.device), idx
            return
        for start, stop, x, y in self:
            idx = torch.arange(start, stop)
            keep = torch.isin(idx, indices)
            if not bool(keep.any()):
                continue
            if not bool(keep.all()):
                x, y, idx = x[keep.to(x.device)], y[keep.to(y.device)], idx[keep]
            yield x, y, idx
