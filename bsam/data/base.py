"""The interface every regression data set of the toolkit follows."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

__all__ = ["RegressionDataset"]


class RegressionDataset(Dataset):
    """Base class of the toolkit's data sets: ``(input, target)`` pairs with binning metadata.

    Subclasses set the attributes below and implement ``__len__`` and ``__getitem__``.
    Items are ``(input FloatTensor (C, H, W), target FloatTensor)`` where the target has shape
    ``()`` for scalar targets (age) and ``(H', W')`` for dense ones (depth).

    Attributes
    ----------
    name : str
        Registry name of the data set (``"agedb-synth"``, ``"agedb-dir"``, ...).
    split : str
        ``"train"``, ``"val"`` or ``"test"``.
    bin_width : float
        Width of a label bin (1 year for age, 0.1 m for depth).
    label_range : tuple[float, float]
        ``(lower, upper)`` of the benchmark's labels, for
        ``ShotRegions.fit(..., lower=lower, upper=upper)``.
    in_memory : bool
        Whether the whole split is held in memory, so that :meth:`tensors` is cheap (training
        loops then skip the ``DataLoader``); on-disk data sets read files per item.
    """

    in_memory: bool = False
    name: str = ""
    split: str = ""
    bin_width: float = 1.0
    label_range: tuple[float, float] = (0.0, 0.0)

    @property
    def targets(self) -> torch.Tensor:
        """All targets, float32, shape ``(N,)`` (scalar) or ``(N, H, W)`` (dense)."""
        raise NotImplementedError

    @property
    def dense(self) -> bool:
        """Whether targets are dense maps (one label per pixel) rather than one per sample."""
        return self.targets.dim() > 1

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole split as ``(X, y)``: inputs stacked to ``(N, C, H, W)`` and the targets.

        The default stacks every item; in-memory data sets override it with a faster path.
        """
        items = [self[i] for i in range(len(self))]
        return torch.stack([x for x, _ in items]), torch.stack([y for _, y in items])

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, split={self.split!r}, n={len(self)}, "
            f"bin_width={self.bin_width:g}, label_range={self.label_range})"
        )
