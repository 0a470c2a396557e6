"""Data sets: the embedded synthetic benchmarks and the DIR loaders, behind one registry.

>>> from bsam.data import get_dataset, fit_regions
>>> train = get_dataset("agedb-synth", "train")          # doctest: +SKIP
>>> regions = fit_regions(train)                          # doctest: +SKIP
>>> X, y = train.tensors()                                # whole split in memory  # doctest: +SKIP
"""

from bsam.data.augment import augment_batch
from bsam.data.base import RegressionDataset
from bsam.data.dir_age import AgeDIRDataset
from bsam.data.fit import fit_regions, fit_weights
from bsam.data.nyud2 import NYUD2Dataset
from bsam.data.registry import DATASETS, get_dataset, register_dataset
from bsam.data.render import RenderParams, render_faces
from bsam.data.synth import SynthAgeDataset, generate_synth

__all__ = [
    "DATASETS",
    "AgeDIRDataset",
    "NYUD2Dataset",
    "RegressionDataset",
    "RenderParams",
    "SynthAgeDataset",
    "augment_batch",
    "fit_regions",
    "fit_weights",
    "generate_synth",
    "get_dataset",
    "register_dataset",
    "render_faces",
]
