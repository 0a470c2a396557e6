"""Tests of the embedded synthetic benchmark: exact counts, determinism, cache, items."""

import numpy as np
import pytest
import torch

from bsam.data import fit_regions, get_dataset
from bsam.data.counts import SPLITS
from bsam.data.synth import synth_labels


def _csv_counts(split):
    import csv
    from importlib import resources

    text = resources.files("bsam.data").joinpath("resources/agedb_dir_label_counts.csv").read_text()
    return {int(r["age"]): int(r[split]) for r in csv.DictReader(text.splitlines())}


@pytest.mark.parametrize("split", SPLITS)
def test_label_counts_equal_csv(split):
    labels = synth_labels("agedb", split, seed=3)
    ages, counts = np.unique(labels.astype(int), return_counts=True)
    got = dict(zip(ages.tolist(), counts.tolist()))
    want = {a: c for a, c in _csv_counts(split).items() if c > 0}
    assert got == want


def test_small_dataset_items(tmp_path):
    ds = get_dataset("agedb-synth", "val", cache_dir=tmp_path, size=8, supersample=1)
    x, y = ds[0]
    assert x.shape == (3, 8, 8) and x.dtype == torch.float32
    assert y.shape == () and y.dtype == torch.float32
    assert len(ds) == 2140
    X, Y = ds.tensors()
    assert X.shape == (2140, 3, 8, 8) and torch.equal(Y, ds.targets)
    regions = fit_regions(
        get_dataset("agedb-synth", "train", cache_dir=tmp_path, size=8, supersample=1)
    )
    assert regions.summary()["many"] == 51
