"""The training data of a run: splits in memory, shot-region binning, batches, shards, augmentation.

Every epoch draws a permutation of the training split from a seeded generator and cuts it into
*global* batches of ``batch_size``; under ``torchrun`` each rank takes its contiguous shard of
each batch (:func:`bsam.distributed.shard_batch`). In-memory data sets are sliced from their
tensors and augmented per global batch (so a sample's augmentation does not depend on the number
of ranks); others go through a ``DataLoader`` whose batch sampler is this rank's shards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from bsam.batches import split_tensors
from bsam.distributed import DistContext, shard_batch
from bsam.train.config import TrainConfig

__all__ = [
    "Split",
    "load_split",
    "label_binning",
    "augmenter",
    "derived_generator",
    "global_batches",
    "BatchSource",
]

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


@dataclass
class Split:
    """One split of the data set: the dataset, and its tensors when it is held in memory."""

    dataset: Any
    x: torch.Tensor | None
    y: torch.Tensor

    @property
    def eval_data(self) -> Any:
        """``(x, y)`` for in-memory splits, else the dataset (what ``evaluate_model`` takes)."""
        return (self.x, self.y) if self.x is not None else self.dataset


def load_split(cfg: TrainConfig, split: str, *, train: bool) -> Split:
    """Split ``split`` of ``cfg.data`` (float targets), in memory when the data set allows."""
    from bsam.data import get_dataset

    kwargs = {"seed": cfg.data_seed, **cfg.data_kwargs}
    ds = get_dataset(cfg.data, split, root=cfg.root, train=train, **kwargs)
    tensors = split_tensors(ds)
    if tensors is not None:
        x, y = tensors
        return Split(ds, x, y.float())
    targets = getattr(ds, "targets", None)
    if not isinstance(targets, torch.Tensor):
        raise ValueError(
            f"Invalid data set {cfg.data!r}: it is not held in memory and has no 'targets' tensor"
        )
    return Split(ds, None, targets.float())


def label_binning(ds: Any) -> dict[str, Any]:
    """``bin_width``, ``lower``, ``upper`` of the data set's label bins (for regions, weights)."""
    lower, upper = getattr(ds, "label_range", (None, None))
    return {"bin_width": float(getattr(ds, "bin_width", 1.0)), "lower": lower, "upper": upper}


def augmenter(cfg: TrainConfig, ds: Any) -> Augment | None:
    """The batch augmentation of ``ds`` (its ``augment_batch``, or the synthetic benchmark's)."""
    if not cfg.augment:
        return None
    fn = getattr(ds, "augment_batch", None)
    if callable(fn):
        return fn
    from bsam.data import RegressionDataset, augment_batch

    name = getattr(ds, "name", "")
    if isinstance(ds, RegressionDataset) and name.endswith("-synth"):
        return augment_batch
    return None


def derived_generator(seed: int, stream: int) -> torch.Generator:
    """A CPU generator seeded from ``(seed, stream)`` by NumPy's ``SeedSequence``."""
    value = int(np.random.SeedSequence([seed, stream]).generate_state(1, dtype=np.uint64)[0])
    return torch.Generator().manual_seed(value % 2**63)


def global_batches(order: torch.Tensor, batch_size: int, world_size: int) -> list[torch.Tensor]:
    """Global batches of ``order``; a last batch with fewer than 2 samples per rank is dropped
    (BatchNorm needs 2 samples to normalise in train mode)."""
    batches = list(order.split(batch_size))
    if batches and len(batches[-1]) < 2 * world_size:
        batches.pop()
    return batches


class BatchSource:
    """This rank's part of each global batch of the training split, on the run's device.

    Parameters
    ----------
    cfg : TrainConfig
        The run (``augment``, ``num_workers``).
    split : Split
        The training split.
    ctx : DistContext
        The process group (rank, world size, device).
    aug_gen, data_gen : torch.Generator
        Generators of the augmentation and of the ``DataLoader``.
    """

    def __init__(
        self,
        cfg: TrainConfig,
        split: Split,
        ctx: DistContext,
        *,
        aug_gen: torch.Generator,
        data_gen: torch.Generator,
    ) -> None:
        self.cfg, self.split, self.ctx = cfg, split, ctx
        self.aug_gen, self.data_gen = aug_gen, data_gen
        self.device = ctx.device
        self.y = split.y.to(self.device)
        self.x = None if split.x is None else split.x.to(self.device)
        self.augment = augmenter(cfg, split.dataset) if self.x is not None else None
        self.per_sample = self.y[0].numel() if self.y.dim() > 1 else 1
        self._loader: Iterator | None = None

    def start_epoch(self, batches: list[torch.Tensor]) -> None:
        """Prepare an epoch over ``batches`` (a ``DataLoader`` for data sets on disk)."""
        if self.x is not None:
            return
        sampler = [shard_batch(b, self.ctx).tolist() for b in batches]
        self._loader = iter(
            DataLoader(
                self.split.dataset,
                batch_sampler=sampler,
                num_workers=self.cfg.num_workers,
                generator=self.data_gen,
            )
        )

    def count(self, idx: torch.Tensor) -> int:
        """``N``: target elements of the global batch ``idx``."""
        return len(idx) * self.per_sample

    def get(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(x, y, local)`` of this rank's shard of global batch ``idx`` (``local``: indices)."""
        local = shard_batch(idx, self.ctx)
        if self._loader is not None:
            x, y = next(self._loader)
            return x.to(self.device, non_blocking=True), y.float().to(self.device), local
        if self.augment is not None:
            x = self.augment(self.x[idx.to(self.x.device)], self.aug_gen)
            x = shard_batch(x, self.ctx)
        else:
            x = self.x[local.to(self.x.device)]
        return x, self.y[local.to(self.device)], local
