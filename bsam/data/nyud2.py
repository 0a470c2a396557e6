"""NYUD2-DIR: monocular depth estimation with dense targets (depth in metres, bins of 0.1 m).

On-disk layout of the DIR code (github.com/YyzHarry/imbalanced-regression, ``nyud2-dir``)::

    ROOT/nyu2_train.csv      # no header; two columns: image path, depth path
    ROOT/nyu2_test.csv
    ROOT/nyu2_train/<scene>/<k>.jpg, <k>.png     # 8-bit depth: metres = value / 255 * 10
    ROOT/nyu2_test/<k>_colors.png, <k>_depth.png # 16-bit depth: metres = value / 1000

Paths in the CSVs start with ``data/`` in the DIR release; a path is resolved relative to
``ROOT`` and, when that file does not exist, with its first component dropped (as the DIR code
does). The test split doubles as the validation split (the DIR code has no other).

Items are ``(image (3, 228, 304), depth (h, w))``: the image's shorter side is resized to 240,
then image and depth are centre-cropped to 228x304; the depth map is resized to ``(114, 152)``
for the training split and kept at ``(228, 304)`` for the test split (DIR's sizes). Train-time
augmentation (``train=True``): joint horizontal flip with p = 1/2 and colour jitter (brightness,
contrast, saturation 0.4); DIR's +-5 degree rotation and PCA lighting noise are left out.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import torch

from bsam.data.base import RegressionDataset
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

__all__ = ["NYUD2Dataset", "depth_to_metres"]

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
        Size of the target maps (default ``(114, 152)`` for train, ``(228, 304)`` otherwise).
    check_files : bool
        Check at construction that every listed file exists.
    """

    bin_width = 0.1
    label_range = (0.0, 10.0)

    def __init__(
        self,
        root: str | os.PathLike,
        split: str,
        *,
        train: bool = False,
        depth_size: tuple[int, int] | None = None,
        check_files: bool = True,
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
        default = (114, 152) if split == "train" else (228, 304)
        self.depth_size = tuple(depth_size) if depth_size is not None else default
        if len(self.depth_size) != 2:
            raise ValueError(
                f"Invalid depth_size={depth_size!r} for nyud2-dir; give (height, width)."
            )
        for side in self.depth_size:
            positive_int("nyud2-dir", "depth_size", side)
        self._targets: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.pairs)

    def _load(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        img_path, dep_path = self.pairs[index]
        img = resize_shorter(load_image(img_path), 240)
        depth = depth_to_metres(dep_path)[None]
        low, high = self.label_range
        if depth.numel() and not (low <= float(depth.min()) and float(depth.max()) <= high):
            raise DataError(
                f"Depth map {dep_path} holds depths {float(depth.min()):g}..{float(depth.max()):g}"
                f" m, outside NYUD2-DIR's {low:g}..{high:g} m; check its encoding (8-bit: value"
                " / 255 * 10 m, 16-bit: millimetres) or remove its row"
            )
        depth = resize(depth, tuple(img.shape[-2:]), mode="nearest")
        img = center_crop(img, (228, 304))
        depth = center_crop(depth, (228, 304))
        if tuple(depth.shape[-2:]) != self.depth_size:
            depth = resize(depth, self.depth_size)
        return img, depth[0]

    @property
    def targets(self) -> torch.Tensor:
        """All (un-augmented) depth maps in metres, shape ``(N, h, w)``; read once, then kept."""
        if self._targets is None:
            self._targets = torch.stack([self._load(i)[1] for i in range(len(self))])
        return self._targets

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        img, depth = self._load(index)
        if self.train:
            if float(torch.rand(())) < 0.5:
                img, depth = img.flip(-1), depth.flip(-1)
            img = color_jitter(img, 0.4, 0.4, 0.4, 0.0)
        return normalize(img, _IMAGENET_MEAN, _IMAGENET_STD), depth
