"""The training data of a run: splits in memory, shot-region binning, batches, shards, augmentation.

Every epoch draws a permutation of the training split from a seeded generator and cuts it into
*global* batches of ``batch_size``; under ``torchrun`` each rank takes its contiguous shard of
each batch (:func:`bsam.distributed.shard_batch`). In-memory data sets are sliced from their
tensors and augmented per global batch (so a sample's augmentation does not depend on the number
of ranks).

Data sets read from disk go through one ``DataLoader`` for the whole run
(:func:`bsam.batches.loader_options`: ``num_workers`` persistent workers that decode and
transform each image once per epoch, ``prefetch_factor``, pinned memory on CUDA). Its batch
sampler (:class:`EpochBatches`) is given this rank's shards of the epoch's global batches before
each epoch. Each sample of an epoch carries a seed drawn from the run's augmentation generator,
and its transform draws from a torch RNG set to that seed (:class:`SeededItems`), so the
augmentation of a sample depends on the run's seed, the epoch and the sample only: not on the
number of workers, which worker reads it, or the number of ranks; a resumed run continues the
generator from its checkpoint.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from bsam.batches import loader_options, split_tensors
from bsam.distributed import DistContext, shard_batch
from bsam.train.config import TrainConfig

__all__ = [
    "Split",
    "load_split",
    "label_binning",
    "augmenter",
    "derived_generator",
    "global_batches",
    "EpochBatches",
    "SeededItems",
    "BatchSource",
]

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


@dataclass
class Split:
    """One split of the data set: the dataset, and its tensors when it is held in memory."""

    dataset: Any
    x: torch.Tensor | None
    y: torch.Tensor | None

    @property
    def num_samples(self) -> int:
        """Number of samples (without reading targets that are not held)."""
        return len(self.dataset) if self.y is None else len(self.y)

    @property
    def per_sample(self) -> int:
        """Target elements of one sample (pixels of a dense map, else 1)."""
        if self.y is None:
            return math.prod(self.dataset.target_shape)
        return self.y[0].numel() if self.y.dim() > 1 else 1

    @property
    def eval_data(self) -> Any:
        """``(x, y)`` for in-memory splits, else the dataset (what ``evaluate_model`` takes)."""
        return (self.x, self.y) if self.x is not None else self.dataset


def load_split(cfg: TrainConfig, split: str, *, train: bool) -> Split:
    """Split ``split`` of ``cfg.data`` (float targets), in memory when the data set allows.

    For a data set read from disk, ``y`` are the labels that bin counts, weights and regions
    use: its ``bin_targets`` when it has them (IMDB-WIKI-DIR's ages above 120 clipped into the
    last bin, as DIR does), else its ``targets``; the loss takes each item's own label. A data
    set with a ``label_histogram()`` (NYUD2-DIR's 50k depth maps) is counted by that one pass
    and its targets are not held (``y`` is None).
    """
    from bsam.data import get_dataset

    kwargs = {"seed": cfg.data_seed, **cfg.data_kwargs}
    ds = get_dataset(cfg.data, split, root=cfg.root, train=train, **kwargs)
    if callable(getattr(ds, "label_histogram", None)):
        return Split(ds, None, None)
    tensors = split_tensors(ds)
    if tensors is not None:
        x, y = tensors
        return Split(ds, x, y.float())
    targets = getattr(ds, "bin_targets", None)
    if not isinstance(targets, torch.Tensor):
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


class EpochBatches(Sampler[list[Any]]):
    """A batch sampler whose batches are replaced before each epoch (:meth:`set_epoch`), so one
    ``DataLoader`` with persistent workers serves the whole run."""

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []

    def set_epoch(self, batches: Sequence[Sequence[Any]]) -> None:
        """Use ``batches`` (lists of dataset keys) for the next pass."""
        self.batches = [list(b) for b in batches]

    def __iter__(self) -> Iterator[list[Any]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class SeededItems(Dataset):
    """``dataset`` read with keys ``(index, seed)``: item ``index`` with torch's RNG set to
    ``seed`` while it is read, and restored afterwards (so reading it draws nothing from the
    caller's RNG)."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> Any:
        index, seed = key
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.dataset[index]


class BatchSource:
    """This rank's part of each global batch of the training split, on the run's device.

    Parameters
    ----------
    cfg : TrainConfig
        The run (``augment``, ``num_workers``, ``seed``).
    split : Split
        The training split.
    ctx : DistContext
        The process group (rank, world size, device).
    aug_gen, data_gen : torch.Generator
        Generators of the augmentation (in-memory batches, and the per-sample seeds of data
        sets on disk) and of the epochs' orders (drawn by the loop; unused here).
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
        self.y = None if split.y is None else split.y.to(self.device)
        self.num_samples = split.num_samples
        self.x = None if split.x is None else split.x.to(self.device)
        self.augment = augmenter(cfg, split.dataset) if self.x is not None else None
        self.per_sample = split.per_sample
        self._sampler = EpochBatches()
        self._dataloader: DataLoader | None = None
        self._loader: Iterator | None = None

    def _make_loader(self) -> DataLoader:
        """The run's one loader over the data set on disk (workers seeded from ``cfg.seed``)."""
        return DataLoader(
            SeededItems(self.split.dataset),
            batch_sampler=self._sampler,
            generator=derived_generator(self.cfg.seed, 3),
            **loader_options(self.cfg.num_workers, self.device),
        )

    def start_epoch(self, batches: list[torch.Tensor]) -> None:
        """Prepare an epoch over ``batches`` (the loader's batches for data sets on disk)."""
        if self.x is not None:
            return
        n = self.split.num_samples
        seeds = torch.randint(0, 2**62, (n,), generator=self.aug_gen).tolist()
        if self._dataloader is None:
            self._dataloader = self._make_loader()
        shards = [shard_batch(b, self.ctx).tolist() for b in batches]
        self._sampler.set_epoch([[(i, seeds[i]) for i in shard] for shard in shards])
        self._loader = iter(self._dataloader)

    def count(self, idx: torch.Tensor) -> int:
        """``N``: target elements of the global batch ``idx``."""
        return len(idx) * self.per_sample

    def get(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(x, y, local)`` of this rank's shard of global batch ``idx`` (``local``: indices)."""
        local = shard_batch(idx, self.ctx)
        if self._loader is not None:
            x, y = next(self._loader)
            y = y.float().to(self.device, non_blocking=True)
            return x.to(self.device, non_blocking=True), y, local
        if self.augment is not None:
            x = self.augment(self.x[idx.to(self.x.device)], self.aug_gen)
            x = shard_batch(x, self.ctx)
        else:
            x = self.x[local.to(self.x.device)]
        return x, self.y[local.to(self.device)], local
