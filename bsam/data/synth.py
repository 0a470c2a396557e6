"""The embedded benchmarks ``agedb-synth`` and ``imdb-synth``: rendered faces with DIR label counts.

The labels of each split follow *exactly* the per-age counts of the real benchmark
(:mod:`bsam.data.counts`); each label gets one procedurally rendered face
(:mod:`bsam.data.render`). All three splits are generated together, once, and cached as one
``.npz`` of uint8 images and float32 labels under :func:`bsam.data.cache.default_cache_dir`;
the file name and its stored key hash the generator version, the renderer parameters, the
profile and the seed, so changing any of them regenerates the data.

Inputs are normalised per channel with the mean and standard deviation of the *training*
images: ``x = (pixel / 255 - mean_c) / std_c``.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import numpy as np
import torch

from bsam.data.base import RegressionDataset
from bsam.data.cache import cache_key, default_cache_dir, load_arrays, save_arrays
from bsam.data.counts import SPLITS, exact_labels, load_label_counts
from bsam.data.render import RENDER_VERSION, RenderParams, render_faces

__all__ = [
    "SYNTH_VERSION",
    "SynthAgeDataset",
    "synth_labels",
    "synth_spec",
    "synth_cache_path",
    "generate_synth",
]

#: Version of the data set layout (labels, seeds, file format); part of the cache key.
SYNTH_VERSION = 1


def synth_labels(profile: str, split: str, seed: int = 0) -> np.ndarray:
    """Labels of a synthetic split without rendering (float32, exact per-age counts).

    Parameters
    ----------
    profile : {"agedb", "imdb"}
        Label-count profile.
    split : {"train", "val", "test"}
    seed : int
        Seed of the data set; it fixes the order of the labels.
    """
    return exact_labels(load_label_counts(profile), split, seed)


def _render_seed(seed: int, split: str) -> int:
    return int(seed) * 7 + SPLITS.index(split) + 1


def synth_spec(profile: str, seed: int, params: RenderParams, limit: int | None = None) -> dict:
    """Everything that determines a synthetic data set (hashed into its cache key)."""
    return {
        "synth_version": SYNTH_VERSION,
        "render_version": RENDER_VERSION,
        "profile": profile,
        "seed": int(seed),
        "params": params.to_dict(),
        "limit": None if limit is None else int(limit),
    }


def synth_cache_path(
    profile: str,
    seed: int,
    params: RenderParams,
    cache_dir: str | os.PathLike | None = None,
    limit: int | None = None,
) -> tuple[Path, str]:
    """Cache file and key of a synthetic data set."""
    key = cache_key(synth_spec(profile, seed, params, limit))
    part = "" if limit is None else f"-first{int(limit)}"
    name = f"{profile}-synth-s{int(seed)}-{params.size}px{part}-{key}.npz"
    return default_cache_dir(cache_dir) / name, key


def generate_synth(
    profile: str = "agedb",
    seed: int = 0,
    params: RenderParams | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    progress: bool = False,
    limit: int | None = None,
) -> dict[str, np.ndarray]:
    """Generate (or load from the cache) all splits of a synthetic benchmark.

    ``limit`` keeps only the first ``limit`` samples (of the seeded label order) of each split:
    a quick partial set for tests and previews, whose counts no longer follow the benchmark.

    Returns
    -------
    dict
        ``"{split}_images"`` uint8 ``(N, 3, S, S)``, ``"{split}_labels"`` float32 ``(N,)`` for
        each split, ``"mean"`` and ``"std"`` float32 ``(3,)`` of the training images in [0, 1],
        and ``"seconds"`` (generation time, float64 scalar; 0-d).
    """
    params = params or RenderParams()
    if int(seed) < 0:
        raise ValueError(f"Invalid seed {seed}; seed must be >= 0.")
    if limit is not None and int(limit) < 1:
        raise ValueError(f"Invalid limit {limit}; use None (all samples) or a positive count.")
    path, key = synth_cache_path(profile, seed, params, cache_dir, limit)
    if use_cache:
        cached = load_arrays(path, key)
        if cached is not None:
            return cached
    start = time.perf_counter()
    counts = load_label_counts(profile)
    arrays: dict[str, np.ndarray] = {}
    for split in SPLITS:
        labels = exact_labels(counts, split, seed)
        if limit is not None:
            labels = labels[: int(limit)]
        arrays[f"{split}_labels"] = labels
        arrays[f"{split}_images"] = render_faces(
            labels, seed=_render_seed(seed, split), params=params, progress=progress
        )
    train = arrays["train_images"]
    mean = np.zeros(3, dtype=np.float64)
    sq = np.zeros(3, dtype=np.float64)
    for i in range(0, len(train), 4096):  # chunked to bound memory
        block = train[i : i + 4096].astype(np.float64) / 255.0
        mean += block.sum(axis=(0, 2, 3))
        sq += (block**2).sum(axis=(0, 2, 3))
    pixels = train.shape[0] * train.shape[2] * train.shape[3]
    mean /= pixels
    arrays["mean"] = mean.astype(np.float32)
    arrays["std"] = np.sqrt(np.maximum(sq / pixels - mean**2, 1e-12)).astype(np.float32)
    arrays["seconds"] = np.array(time.perf_counter() - start)
    if use_cache:
        save_arrays(path, key, arrays)
    return arrays


class SynthAgeDataset(RegressionDataset):
    """One split of a synthetic age benchmark, held in memory.

    Parameters
    ----------
    profile : {"agedb", "imdb"}
        Label counts to follow (``agedb-synth``: 12,208 / 2,140 / 2,140; ``imdb-synth``:
        191,509 / 11,022 / 11,022).
    split : {"train", "val", "test"}
    seed : int
        Seed of the whole benchmark (labels order and pictures).
    cache_dir : path, optional
        Cache folder (default ``$BSAM_CACHE`` or ``~/.cache/bsam``).
    train : bool
        Recorded only: the synthetic images are augmented on batches with
        :func:`bsam.data.augment_batch`, never per item.
    limit : int, optional
        Keep only the first ``limit`` samples of each split (tests and previews; the counts then
        no longer follow the benchmark).
    img_size : int, optional
        The rendered side in pixels: another name of ``size``, the name the real data sets and
        :attr:`bsam.recipes.Recipe.img_size` use (giving both with different values is an error).
    **render_kwargs
        Fields of :class:`~bsam.data.render.RenderParams` (``size``, ``label_noise``, ...).

    Notes
    -----
    ``images`` holds the uint8 pictures ``(N, 3, S, S)``; items and :meth:`tensors` return them
    normalised with the training split's per-channel ``mean`` and ``std``.
    """

    bin_width = 1.0
    in_memory = True

    def __init__(
        self,
        profile: str = "agedb",
        split: str = "train",
        *,
        seed: int = 0,
        cache_dir: str | os.PathLike | None = None,
        train: bool = False,
        use_cache: bool = True,
        progress: bool = False,
        limit: int | None = None,
        img_size: int | None = None,
        **render_kwargs,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"Invalid split {split!r}; use one of {', '.join(SPLITS)}.")
        if img_size is not None:
            if render_kwargs.setdefault("size", img_size) != img_size:
                raise ValueError(
                    f"Conflicting sizes for {profile}-synth: img_size={img_size!r} and "
                    f"size={render_kwargs['size']!r}; give one of them."
                )
        fields = {f.name for f in dataclasses.fields(RenderParams)}
        unknown = sorted(set(render_kwargs) - fields)
        if unknown:
            raise ValueError(
                f"Unknown option(s) {unknown} for {profile}-synth; valid options: {sorted(fields)}."
            )
        self.params = RenderParams(**render_kwargs)
        self.profile = profile
        self.name = f"{profile}-synth"
        self.split = split
        self.seed = int(seed)
        self.train = bool(train)
        counts = load_label_counts(profile)
        self.label_range = counts.label_range
        arrays = generate_synth(
            profile,
            seed,
            self.params,
            cache_dir=cache_dir,
            use_cache=use_cache,
            progress=progress,
            limit=limit,
        )
        self.limit = limit
        self.images = torch.from_numpy(np.ascontiguousarray(arrays[f"{split}_images"]))
        self._targets = torch.from_numpy(np.ascontiguousarray(arrays[f"{split}_labels"]))
        self.mean = torch.from_numpy(arrays["mean"]).float()
        self.std = torch.from_numpy(arrays["std"]).float()

    @property
    def targets(self) -> torch.Tensor:
        """Ages of the split, float32, shape ``(N,)`` (exact integers)."""
        return self._targets

    def __len__(self) -> int:
        return self.images.shape[0]

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """Map uint8 images ``(..., 3, H, W)`` to ``(pixel / 255 - mean_c) / std_c`` (float32)."""
        x = images.float().div_(255.0)
        shape = (3, 1, 1)
        return (x - self.mean.view(shape)) / self.std.view(shape)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.normalize(self.images[index]), self._targets[index]

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole split: normalised inputs ``(N, 3, S, S)`` float32 and targets ``(N,)``."""
        return self.normalize(self.images), self._targets.clone()
