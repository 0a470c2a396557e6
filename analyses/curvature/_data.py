"""Private: turn a Dataset, a DataLoader or a tuple ``(X, y)`` into fixed batches.

The curvature of a region is an average over a *fixed* set of samples, so the data must come in
the same order every time (a mask is aligned with that order): a shuffling loader is refused when a
mask is given.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler
from torch.utils.data._utils.collate import default_collate

__all__: list[str] = []

Batch = tuple[torch.Tensor, torch.Tensor]


def _split_pair(item: Any, what: str) -> Batch:
    if isinstance(item, (tuple, list)) and len(item) >= 2:
        return item[0], item[1]
    raise ValueError(
        f"Invalid {what}: expected (input, target) pairs, got {type(item).__name__}; "
        "pass a Dataset/DataLoader of (input, target) or a tuple (X, y)."
    )


class _Source:
    """Fixed data in a fixed order: ``len`` samples, iterated in batches of ``(X, y, index)``."""

    def __init__(self, data: Any, batch_size: int) -> None:
        self.batch_size = int(batch_size)
        self._tensors: Batch | None = None
        self._dataset: Any = None
        self._loader: DataLoader | None = None
        if (
            isinstance(data, (tuple, list))
            and len(data) == 2
            and all(isinstance(t, torch.Tensor) for t in data)
        ):
            X, y = data
            if X.shape[0] != y.shape[0]:
                raise ValueError(
                    f"Invalid data: X has {X.shape[0]} samples but y has {y.shape[0]}; "
                    "pass tensors with the same first dimension."
                )
            self._tensors = (X, y)
            self.num_samples = int(X.shape[0])
        elif isinstance(data, DataLoader):
            self._loader = data
            self.num_samples = len(data.dataset) if hasattr(data.dataset, "__len__") else -1
        elif isinstance(data, Dataset) or (
            hasattr(data, "__getitem__") and hasattr(data, "__len__")
        ):
            self._dataset = data
            self.num_samples = len(data)
        else:
            raise TypeError(
                f"Invalid data of type {type(data).__name__}: pass a torch Dataset, a DataLoader "
                "or a tuple (X, y) of tensors."
            )

    @property
    def shuffles(self) -> bool:
        """Whether the source is a loader that draws samples in random order."""
        return self._loader is not None and isinstance(self._loader.sampler, RandomSampler)

    def targets(self) -> torch.Tensor:
        """All targets in iteration order (read from ``.targets`` when the dataset has it)."""
        if self._tensors is not None:
            return self._tensors[1]
        ds = self._dataset if self._dataset is not None else self._loader.dataset
        tg = getattr(ds, "targets", None)
        if isinstance(tg, torch.Tensor) and tg.shape[0] == self.num_samples and not self.shuffles:
            return tg
        return torch.cat([y.reshape(y.shape[0], *y.shape[1:]) for _, y, _ in self.batches()])

    def batches(
        self, indices: torch.Tensor | None = None
    ) -> Iterator[tuple[Any, Any, torch.Tensor]]:
        """Yield ``(X, y, idx)`` with the dataset positions ``idx`` of the batch's samples.

        With ``indices`` (sorted positions) only those samples are produced (a DataLoader is still
        read in full and filtered).
        """
        bs = self.batch_size
        if self._tensors is not None:
            X, y = self._tensors
            idx_all = torch.arange(self.num_samples) if indices is None else indices
            for start in range(0, idx_all.numel(), bs):
                idx = idx_all[start : start + bs]
                if indices is None:
                    yield X[start : start + bs], y[start : start + bs], idx
                else:
                    dev = X.device
                    yield X[idx.to(dev)], y[idx.to(y.device)], idx
        elif self._dataset is not None:
            idx_all = torch.arange(self.num_samples) if indices is None else indices
            for start in range(0, idx_all.numel(), bs):
                idx = idx_all[start : start + bs]
                items = [_split_pair(self._dataset[int(i)], "dataset item") for i in idx]
                X, y = default_collate(items)
                yield X, y, idx
        else:
            offset = 0
            for item in self._loader:
                X, y = _split_pair(item, "batch from the data loader")
                n = int(y.shape[0])
                idx = torch.arange(offset, offset + n)
                offset += n
                if indices is not None:
                    keep = torch.isin(idx, indices)
                    if not bool(keep.any()):
                        continue
                    if not bool(keep.all()):
                        X, y, idx = X[keep.to(X.device)], y[keep.to(y.device)], idx[keep]
                yield X, y, idx
            if self.num_samples < 0:
                self.num_samples = offset
