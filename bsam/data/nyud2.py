"""NYUD2-DIR: monocular depth estimation with dense targets (depth in metres, bins of 0.1 m).

On-disk layout of the DIR code (github.com/YyzHarry/imbalanced-regression, ``nyud2-dir``)::

    ROOT/nyu2_train.csv      # no header; two columns: image path, depth path
    ROOT/nyu2_test.csv
    ROOT/nyu2_train/<scene>/<k>.jpg, <k>.png     # 8-bit depth: metres = value / 255 * 10
    ROOT/nyu2_test/<k>_colors.png, <k>_depth.png # 16-bit depth: metres = value / 1000

Paths in the CSVs start with ``data/`` in the DIR release; a path is resolved relative to
``ROOT`` and, when that file does not exist, with its first component dropped (as the DIR code
does). The test split doubles as the validation split (the DIR code has no other).

    ROOT/test_balanced_mask.npy  # (N_test, 228, 304) uint8: the balanced test pixels

Items are ``(image (3, 228, 304), depth (h, w))``: the image's shorter side is resized to 240,
then image and depth are centre-cropped to 228x304; the depth map is resized to ``(114, 152)``
for the training split and kept at ``(228, 304)`` for the test split (DIR's sizes). Train-time
augmentation (``train=True``): joint horizontal flip with p = 1/2 and colour jitter (brightness,
contrast, saturation 0.4); DIR's +-5 degree rotation and PCA lighting noise are left out.
``image_size=(h, w)`` scales the whole protocol down (crop ``(h, w)``, shorter side
``round(240 h / 228)``, training depth ``(h // 2, w // 2)``), e.g. for tests.

The DIR protocol, from ``nyud2-dir/`` of the DIR code:

- **Bins** (``util.py``, ``Evaluator.get_bin_idx``): 100 bins of 0.1 m, ``min(int(d * 10), 99)``,
  so a depth of 10 m falls in the last bin (:attr:`NYUD2Dataset.binning`, ``clip_upper``).
- **Shot regions** (``util.py``, ``Evaluator.shot_idx``): fixed bucket lists, not count
  thresholds (:data:`DIR_SHOT_BINS`, :meth:`NYUD2Dataset.shot_regions`).
- **Counts** (``loaddata.py``, ``TRAIN_BUCKET_NUM``, which sums to 50,688 x 228 x 304): every pixel
  of every training depth map after the resize and the 228x304 crop, before the resize to the
  training size (:meth:`NYUD2Dataset.label_histogram`, one pass, cached).
- **Balanced test pixels** (``loaddata.py``, ``getTestingData``; ``test.py``): every test metric
  is computed on the pixels of ``test_balanced_mask.npy`` only (9,357 pixels in each of bins
  7..99, ``preprocess_nyud2.py``), after bilinear upsampling (``align_corners=True``) of the
  prediction to the depth map's size (:attr:`NYUD2Dataset.eval_mask`).
- **No validation split**: the DIR code selects its best checkpoint on the test split; so does
  ``split="val"`` here.
"""

from __future__ import annotations

import csv
import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from bsam._bins import Binning
from bsam.data.base import RegressionDataset
from bsam.data.cache import default_cache_dir, load_arrays, save_arrays
from bsam.data.checks import positive_int
from bsam.data.transforms import (
    center_crop,
    color_jitter,
    load_image,
    normalize,
    resize,
    resize_shorter,
)
from bsam.errors import DataError
from bsam.progress import progress
from bsam.regions import LabelHistogram, ShotRegions

__all__ = ["NYUD2Dataset", "depth_to_metres", "DIR_SHOT_BINS", "MASK_FILE"]

#: The balanced test-pixel mask of the DIR release, in ``root``.
MASK_FILE = "test_balanced_mask.npy"

#: NYUD2-DIR's bucket lists (``nyud2-dir/util.py``, ``Evaluator.shot_idx``): depth bins of 0.1 m.
DIR_SHOT_BINS: dict[str, tuple[int, ...]] = {
    "many": (*range(9, 46), 47, 49),
    "medium": (7, 8, 46, 48, 50, 51, 52, 53, 54, 55, 56, 58, 60, 61, 63),
    "few": (*range(0, 7), 57, 59, 62, *range(64, 100)),
}
_HISTOGRAM_VERSION = 1

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def depth_to_metres(path: str | os.PathLike) -> torch.Tensor:
    """Read a depth PNG as metres, shape ``(H, W)``.

    8-bit maps (the DIR training set) hold ``round(d / 10 * 255)``: ``d = value / 255 * 10``;
    16-bit maps (the DIR test set) hold millimetres: ``d = value / 1000``.

    Raises
    ------
    bsam.errors.DataError
        When the file cannot be decoded; :class:`NYUD2Dataset` also refuses depths outside
        0..10 m, naming the file.
    """
    from PIL import Image

    from bsam.data.transforms import _unreadable_image

    try:
        with Image.open(path) as img:
            mode = img.mode
            arr = np.asarray(img)
    except FileNotFoundError:
        raise
    except (OSError, SyntaxError, ValueError) as err:
        raise _unreadable_image(path, err) from err
    if arr.ndim == 3:
        arr = arr[..., 0]
    if arr.dtype == np.uint8 or mode in ("L", "P"):
        return torch.from_numpy(arr.astype(np.float32) / 255.0 * 10.0)
    return torch.from_numpy(arr.astype(np.float32) / 1000.0)


def _resolve(root: Path, rel: str) -> Path:
    direct = root / rel
    if direct.is_file():
        return direct
    parts = Path(rel).parts
    if len(parts) > 1:
        stripped = root.joinpath(*parts[1:])
        if stripped.is_file():
            return stripped
    return direct


class NYUD2Dataset(RegressionDataset):
    """One split of NYUD2-DIR read from ``root`` (see the module docstring for the layout).

    Parameters
    ----------
    root : path
        Folder holding ``nyu2_train.csv``, ``nyu2_test.csv`` and the image folders.
    split : {"train", "val", "test"}
        ``"val"`` reads the test list.
    train : bool
        Enable the train-time augmentation.
    depth_size : tuple of int, optional
        Size of the target maps (default ``(114, 152)`` for train, ``(228, 304)`` otherwise;
        half and full ``image_size``).
    check_files : bool
        Check at construction that every listed file exists.
    image_size : tuple of int
        Crop size ``(h, w)`` of the images (DIR: ``(228, 304)``); the resize before it scales along.
    cache_dir : path, optional
        Where :meth:`label_histogram` keeps its counts (default: ``$BSAM_CACHE`` or
        ``~/.cache/bsam``).
    """

    bin_width = 0.1
    label_range = (0.0, 10.0)
    #: The 100 bins of 0.1 m of the DIR code; depths of 10 m fall in the last one.
    binning = Binning(0.1, 0.0, 100)

    def __init__(
        self,
        root: str | os.PathLike,
        split: str,
        *,
        train: bool = False,
        depth_size: tuple[int, int] | None = None,
        check_files: bool = True,
        image_size: tuple[int, int] = (228, 304),
        cache_dir: str | os.PathLike | None = None,
    ) -> None:
        if split not in ("train", "val", "test"):
            raise ValueError(f"Invalid split {split!r}; use 'train', 'val' or 'test'.")
        self.root = Path(root).expanduser()
        self.name, self.split, self.train = "nyud2-dir", split, bool(train)
        file = "nyu2_train.csv" if split == "train" else "nyu2_test.csv"
        self.csv_path = self.root / file
        if not self.csv_path.is_file():
            raise FileNotFoundError(
                f"NYUD2-DIR list not found: {self.csv_path}; expected {file} (image,depth rows)."
            )
        self.pairs: list[tuple[Path, Path]] = []
        with open(self.csv_path, newline="", encoding="utf-8") as fh:
            for line, row in enumerate(csv.reader(fh), start=1):
                if not row:
                    continue
                if len(row) < 2 or not row[0].strip() or not row[1].strip():
                    raise ValueError(
                        f"{self.csv_path}, line {line}: expected two columns (image path, depth "
                        f"path), got {row!r}."
                    )
                img, dep = _resolve(self.root, row[0].strip()), _resolve(self.root, row[1].strip())
                if check_files:
                    for p in (img, dep):
                        if not p.is_file():
                            raise FileNotFoundError(
                                f"File {p} listed in {self.csv_path}, line {line}, does not exist."
                            )
                self.pairs.append((img, dep))
        if not self.pairs:
            raise ValueError(f"{self.csv_path}: no rows.")
        self.image_size = tuple(image_size)
        if len(self.image_size) != 2:
            raise ValueError(f"Invalid image_size={image_size!r} for nyud2-dir; give (height, width).")
        for side in self.image_size:
            positive_int("nyud2-dir", "image_size", side)
        self.cache_dir = cache_dir
        h, w = self.image_size
        self._shorter = max(1, round(240 * h / 228))
        default = (max(1, h // 2), max(1, w // 2)) if split == "train" else self.image_size
        self.depth_size = tuple(depth_size) if depth_size is not None else default
        if len(self.depth_size) != 2:
            raise ValueError(
                f"Invalid depth_size={depth_size!r} for nyud2-dir; give (height, width)."
            )
        for side in self.depth_size:
            positive_int("nyud2-dir", "depth_size", side)
        self._targets: torch.Tensor | None = None
        self._mask: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.pairs)

    def _cropped_depth(self, index: int) -> torch.Tensor:
        """Depth map ``index`` in metres after the resize and the crop, shape ``(1, *image_size)``."""
        dep_path = self.pairs[index][1]
        depth = depth_to_metres(dep_path)[None]
        low, high = self.label_range
        if depth.numel() and not (low <= float(depth.min()) and float(depth.max()) <= high):
            raise DataError(
                f"Depth map {dep_path} holds depths {float(depth.min()):g}..{float(depth.max()):g}"
                f" m, outside NYUD2-DIR's {low:g}..{high:g} m; check its encoding (8-bit: value"
                " / 255 * 10 m, 16-bit: millimetres) or remove its row"
            )
        depth = resize_shorter(depth, self._shorter, mode="nearest")
        return center_crop(depth, self.image_size)

    def _sized(self, depth: torch.Tensor) -> torch.Tensor:
        if tuple(depth.shape[-2:]) != self.depth_size:
            depth = resize(depth, self.depth_size)
        return depth[0]

    def _load(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        img = resize_shorter(load_image(self.pairs[index][0]), self._shorter)
        depth = self._cropped_depth(index)
        return center_crop(img, self.image_size), self._sized(depth)

    @property
    def target_shape(self) -> tuple[int, int]:
        """Shape of one target map, ``depth_size`` (known without reading a file)."""
        return self.depth_size

    @property
    def targets(self) -> torch.Tensor:
        """All (un-augmented) depth maps in metres, shape ``(N, h, w)``; read once, then kept.

        Only the depth files are read. For the 50k training maps prefer :meth:`label_histogram`.
        """
        if self._targets is None:
            maps = [self._sized(self._cropped_depth(i)) for i in range(len(self))]
            self._targets = torch.stack(maps)
        return self._targets

    @property
    def eval_mask(self) -> torch.Tensor | None:
        """The balanced test pixels (``test_balanced_mask.npy``) as a bool ``(N, h, w)`` tensor.

        ``None`` for the training split. Every test metric is computed on these pixels only
        (DIR's ``test.py``); the file is read on first use.

        Raises
        ------
        FileNotFoundError
            When ``root/test_balanced_mask.npy`` is missing.
        ValueError
            When its shape is not ``(len(self), *depth_size)``.
        """
        if self.split == "train":
            return None
        if self._mask is None:
            path = self.root / MASK_FILE
            if not path.is_file():
                raise FileNotFoundError(
                    f"NYUD2-DIR balanced test mask not found: {path}; NYUD2-DIR evaluates on its "
                    f"pixels only: put the DIR release's {MASK_FILE} in {self.root}"
                )
            mask = np.load(path, allow_pickle=False)
            expected = (len(self), *self.depth_size)
            if mask.shape != expected:
                raise ValueError(
                    f"{path} has shape {mask.shape}, expected {expected} (one flag per test "
                    "pixel); it belongs to another test list or depth_size"
                )
            self._mask = torch.from_numpy(mask.astype(bool))
        return self._mask

    def _histogram_key(self) -> str:
        digest = hashlib.sha256(self.csv_path.read_bytes())
        for _, dep in self.pairs:
            st = dep.stat()
            digest.update(f"{dep}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        spec = f"v{_HISTOGRAM_VERSION}|{self.image_size}|{self.binning}"
        digest.update(spec.encode())
        return digest.hexdigest()[:20]

    def label_histogram(self) -> LabelHistogram:
        """Training pixels per depth bin, counted as the DIR code counts ``TRAIN_BUCKET_NUM``.

        One pass over the depth files (no image is read, nothing is kept): every pixel of each
        map after the resize and the ``image_size`` crop, before the resize to ``depth_size``,
        in :attr:`binning` with depths of 10 m in the last bin. The counts are cached under
        ``cache_dir``, keyed on the list file's bytes, each depth file's path, size and
        modification time, and ``image_size``; a changed file recounts. The first pass over
        the 50,688 DIR maps takes about half an hour on one core (~35 ms a map measured).
        """
        key = self._histogram_key()
        path = default_cache_dir(self.cache_dir) / f"nyud2-histogram-{key}.npz"
        cached = load_arrays(path, key)
        if cached is not None:
            return LabelHistogram(self.binning, cached["counts"], clip_upper=True)
        total = LabelHistogram(self.binning, np.zeros(self.binning.num_bins), clip_upper=True)
        desc = "nyud2-dir: counting training depths"
        for i in progress(range(len(self)), desc=desc, total=len(self)):
            total = total + LabelHistogram.of(self._cropped_depth(i), self.binning, clip_upper=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_arrays(path, key, {"counts": total.counts})
        return total

    def shot_regions(self, histogram: LabelHistogram | None = None) -> ShotRegions:
        """NYUD2-DIR's shot regions: :data:`DIR_SHOT_BINS` over :attr:`binning`, with the
        training counts of ``histogram`` (default: :meth:`label_histogram`) for summaries."""
        hist = histogram if histogram is not None else self.label_histogram()
        return ShotRegions.from_bins(self.binning, DIR_SHOT_BINS, hist.counts, clip_upper=True)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        img, depth = self._load(index)
        if self.train:
            if float(torch.rand(())) < 0.5:
                img, depth = img.flip(-1), depth.flip(-1)
            img = color_jitter(img, 0.4, 0.4, 0.4, 0.0)
        return normalize(img, _IMAGENET_MEAN, _IMAGENET_STD), depth
