"""Data sets: the embedded synthetic benchmarks and the DIR loaders, behind one registry.

>>> from bsam.data import get_dataset, fit_regions
>>> train = get_dataset("agedb-synth", "train")          # doctest: +SKIP
>>> regions = fit_regions(train)                          # doctest: +SKIP
"""

from bsam.data.augment import augment_batch
from bsam.data.base import RegressionDataset
from bsam.data.fit import fit_regions, fit_weights
from bsam.data.registry import DATASETS, get_dataset, register_dataset

__all__ = [
    "DATASETS",
    "RegressionDataset",
    "augment_batch",
    "fit_regions",
    "fit_weights",
    "get_dataset",
    "register_dataset",
]
