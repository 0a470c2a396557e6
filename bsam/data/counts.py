"""Per-age label counts of the DIR age benchmarks, and exact label lists drawn from them.

The embedded benchmarks (``agedb-synth``, ``imdb-synth``) take their targets from the per-age
train/val/test counts of AgeDB-DIR and IMDB-WIKI-DIR (Yang et al., "Delving into Deep Imbalanced
Regression", ICML 2021), shipped as package data under ``bsam/data/resources``.

IMDB-WIKI-DIR: the train counts are exact; for the ages where the CSV only gives a range
``val_test_min..val_test_max`` for the (identical) val and test counts, the counts are chosen
deterministically: every such age starts at ``val_test_min`` and the units missing to reach the
published split size of 11,022 are handed out by the largest-remainder rule in proportion to each
age's slack ``val_test_max - val_test_min`` (ties broken by the lower age).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources

import numpy as np

__all__ = ["SPLITS", "PROFILES", "LabelCounts", "load_label_counts", "exact_labels"]

#: The three splits of every DIR benchmark.
SPLITS: tuple[str, ...] = ("train", "val", "test")

#: Label-count profiles: name -> (resource file, published val/test size or None).
PROFILES: dict[str, tuple[str, int | None]] = {
    "agedb": ("agedb_dir_label_counts.csv", None),
    "imdb": ("imdb_wiki_dir_label_counts.csv", 11022),
}


@dataclass(frozen=True)
class LabelCounts:
    """Per-age sample counts of one benchmark.

    Attributes
    ----------
    profile : str
        Profile name (``"agedb"`` or ``"imdb"``).
    ages : numpy.ndarray
        Integer ages, shape ``(A,)``, increasing and contiguous.
    counts : dict[str, numpy.ndarray]
        Split name -> number of samples per age, shape ``(A,)``, int64.
    """

    profile: str
    ages: np.ndarray
    counts: dict[str, np.ndarray]

    @property
    def label_range(self) -> tuple[float, float]:
        """``(lowest age, highest age)`` of the profile, as floats."""
        return float(self.ages[0]), float(self.ages[-1])

    def size(self, split: str) -> int:
        """Number of samples of ``split``."""
        return int(self.counts[_check_split(split)].sum())


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"Invalid split {split!r}; use one of {', '.join(SPLITS)}.")
    return split


def _resolve_range(mins: np.ndarray, maxs: np.ndarray, total: int) -> np.ndarray:
    """Pick counts in ``[mins, maxs]`` summing to ``total`` (largest remainder on the slack)."""
    slack = maxs - mins
    extra = total - int(mins.sum())
    if extra < 0 or extra > int(slack.sum()):
        raise ValueError(
            f"Cannot reach total {total} within the ranges (min sum {mins.sum()}, "
            f"max sum {maxs.sum()})."
        )
    if extra == 0:
        return mins.copy()
    share = slack * (extra / slack.sum())
    base = np.floor(share).astype(np.int64)
    rest = extra - int(base.sum())
    order = np.lexsort((np.arange(len(share)), -(share - base)))  # largest remainder, low age
    base[order[:rest]] += 1
    return mins + base


def load_label_counts(profile: str = "agedb") -> LabelCounts:
    """Read the per-age counts of a benchmark from the package data.

    Parameters
    ----------
    profile : {"agedb", "imdb"}
        ``"agedb"``: AgeDB-DIR (12,208 / 2,140 / 2,140 samples, ages 0..101).
        ``"imdb"``: IMDB-WIKI-DIR (191,509 / 11,022 / 11,022 samples, ages 0..120), with the
        val/test counts of the ranged ages resolved as described in the module docstring.

    Returns
    -------
    LabelCounts
    """
    if profile not in PROFILES:
        raise ValueError(f"Invalid profile {profile!r}; use one of {', '.join(PROFILES)}.")
    filename, val_total = PROFILES[profile]
    text = resources.files("bsam.data").joinpath("resources").joinpath(filename).read_text()
    rows = list(csv.DictReader(text.splitlines()))
    ages = np.array([int(r["age"]) for r in rows], dtype=np.int64)
    train = np.array([int(r["train"]) for r in rows], dtype=np.int64)
    known = np.array([r["val"] != "" for r in rows])
    val = np.array([int(r["val"]) if r["val"] != "" else 0 for r in rows], dtype=np.int64)
    test = np.array([int(r["test"]) if r["test"] != "" else 0 for r in rows], dtype=np.int64)
    if not known.all():
        if val_total is None:
            raise ValueError(f"Profile {profile!r} has ages without val/test counts.")
        mins = np.array([int(r["val_test_min"]) for r in rows], dtype=np.int64)[~known]
        maxs = np.array([int(r["val_test_max"]) for r in rows], dtype=np.int64)[~known]
        picked = _resolve_range(mins, maxs, val_total - int(val[known].sum()))
        val[~known] = picked
        test[~known] = picked
    return LabelCounts(profile, ages, {"train": train, "val": val, "test": test})


def exact_labels(counts: LabelCounts, split: str, seed: int = 0) -> np.ndarray:
    """Labels of ``split`` with exactly the per-age counts, in a seeded random order.

    Each age ``a`` is repeated ``counts[split][a]`` times and the list is shuffled with a
    permutation drawn from ``numpy.random.default_rng([seed, split_index])``.

    Returns
    -------
    numpy.ndarray
        float32 ages, shape ``(counts.size(split),)``.
    """
    split = _check_split(split)
    labels = np.repeat(counts.ages, counts.counts[split]).astype(np.float32)
    rng = np.random.default_rng([int(seed), SPLITS.index(split)])
    return labels[rng.permutation(len(labels))]
