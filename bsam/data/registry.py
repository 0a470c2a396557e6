"""Registry of data sets: adding a data set is one :func:`register_dataset` call."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from bsam.data.base import RegressionDataset
from bsam.data.checks import check_options

__all__ = ["DATASETS", "register_dataset", "get_dataset"]

#: Data set name -> factory ``(split, *, root, train, seed, cache_dir, **kwargs) -> dataset``.
DATASETS: dict[str, Callable[..., RegressionDataset]] = {}


def register_dataset(
    name: str,
) -> Callable[[Callable[..., RegressionDataset]], Callable[..., RegressionDataset]]:
    """Decorator registering a factory under ``name`` in :data:`DATASETS`.

    The factory is called as ``factory(split, root=..., train=..., seed=..., cache_dir=...,
    **kwargs)`` and returns a :class:`~bsam.data.base.RegressionDataset`.
    """

    def deco(factory: Callable[..., RegressionDataset]) -> Callable[..., RegressionDataset]:
        if name in DATASETS:
            raise ValueError(f"Data set {name!r} is already registered.")
        DATASETS[name] = factory
        return factory

    return deco


def get_dataset(
    name: str,
    split: str,
    *,
    root: str | os.PathLike | None = None,
    train: bool = False,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    **kwargs: Any,
) -> RegressionDataset:
    """Build one split of a registered data set.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS`: ``"agedb-synth"``, ``"imdb-synth"``, ``"agedb-dir"``,
        ``"imdb-wiki-dir"``, ``"nyud2-dir"``.
    split : {"train", "val", "test"}
    root : path, optional
        Folder of a real data set on disk (required for the DIR data sets, unused otherwise).
    train : bool
        Enable train-time augmentation of the items (real data sets only; the synthetic ones
        are augmented on batches with :func:`bsam.data.augment_batch`).
    seed : int
        Seed of a generated data set.
    cache_dir : path, optional
        Cache folder of generated data sets.
    **kwargs
        Data-set specific options (e.g. ``size=32`` for the synthetic ones, ``img_size=224``
        for the DIR ones).
    """
    if name not in DATASETS:
        raise ValueError(f"Unknown data set {name!r}; choose from {sorted(DATASETS)}.")
    if split not in ("train", "val", "test"):
        raise ValueError(f"Invalid split {split!r}; use 'train', 'val' or 'test'.")
    return DATASETS[name](split, root=root, train=train, seed=seed, cache_dir=cache_dir, **kwargs)


def _no_root(name: str, root: Any) -> None:
    if root is not None:
        raise ValueError(f"Data set {name!r} is generated; it takes no root (got root={root!r}).")


@register_dataset("agedb-synth")
def _agedb_synth(split, *, root=None, train=False, seed=0, cache_dir=None, **kwargs):
    from bsam.data.synth import SynthAgeDataset

    _no_root("agedb-synth", root)
    return SynthAgeDataset("agedb", split, seed=seed, cache_dir=cache_dir, train=train, **kwargs)


@register_dataset("imdb-synth")
def _imdb_synth(split, *, root=None, train=False, seed=0, cache_dir=None, **kwargs):
    from bsam.data.synth import SynthAgeDataset

    _no_root("imdb-synth", root)
    return SynthAgeDataset("imdb", split, seed=seed, cache_dir=cache_dir, train=train, **kwargs)


@register_dataset("agedb-dir")
def _agedb_dir(split, *, root=None, train=False, seed=0, cache_dir=None, **kwargs):
    from bsam.data.dir_age import AgeDIRDataset

    if root is None:
        raise ValueError("Data set 'agedb-dir' needs root=<folder with agedb.csv and AgeDB/>.")
    check_options("agedb-dir", AgeDIRDataset.__init__, kwargs)
    return AgeDIRDataset(root, split, name="agedb-dir", train=train, **kwargs)


@register_dataset("imdb-wiki-dir")
def _imdb_wiki_dir(split, *, root=None, train=False, seed=0, cache_dir=None, **kwargs):
    from bsam.data.dir_age import AgeDIRDataset

    if root is None:
        raise ValueError("Data set 'imdb-wiki-dir' needs root=<folder with imdb_wiki.csv>.")
    check_options("imdb-wiki-dir", AgeDIRDataset.__init__, kwargs)
    return AgeDIRDataset(root, split, name="imdb-wiki-dir", train=train, **kwargs)


@register_dataset("nyud2-dir")
def _nyud2_dir(split, *, root=None, train=False, seed=0, cache_dir=None, **kwargs):
    from bsam.data.nyud2 import NYUD2Dataset

    if root is None:
        raise ValueError("Data set 'nyud2-dir' needs root=<folder with nyu2_train.csv>.")
    check_options("nyud2-dir", NYUD2Dataset.__init__, kwargs)
    return NYUD2Dataset(root, split, train=train, cache_dir=cache_dir, **kwargs)
