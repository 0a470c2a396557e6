"""AgeDB-DIR and IMDB-WIKI-DIR from a local folder, in the on-disk layout of the DIR code.

Layout (Yang et al., "Delving into Deep Imbalanced Regression", ICML 2021,
github.com/YyzHarry/imbalanced-regression)::

    ROOT/agedb.csv           # or imdb_wiki.csv; columns age,path,split (any order, more allowed)
    ROOT/AgeDB/...jpg        # paths in the CSV are relative to ROOT

``split`` is one of ``train``, ``val``, ``test``; ``age`` a finite number within the benchmark's
range. Every problem (a missing CSV or column, a bad row, a missing image) raises an error that
names the file and, for rows, the line number.

IMDB-WIKI-DIR's ages run over 0..120 in 121 bins of one year, but its training split also holds
ages above 120 (DIR's ``create_imdb_wiki.py`` keeps ages 0..200). DIR keeps those labels and
counts them in the last bin: ``value_dict[min(max_target - 1, int(label))]`` with
``max_target = 121`` in ``imdb-wiki-dir/datasets.py`` (``_prepare_weights``). This loader does
the same: such rows are read, the sample keeps its age as its target (``targets``, the loss), and
:attr:`AgeDIRDataset.bin_targets` clips it to 120 for the bin counts, the balance weights and the
shot regions (:data:`CLIPPED_ABOVE`). AgeDB-DIR refuses ages outside 0..101.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import torch

from bsam.data.base import RegressionDataset
from bsam.data.checks import positive_int, triple
from bsam.data.transforms import EvalTransform, RnCTrainTransform, open_rgb

__all__ = ["AgeDIRDataset", "read_dir_csv", "DIR_AGE_LAYOUTS", "CLIPPED_ABOVE"]

#: Registry name -> (CSV file name, label range).
DIR_AGE_LAYOUTS: dict[str, tuple[str, tuple[float, float]]] = {
    "agedb-dir": ("agedb.csv", (0.0, 101.0)),
    "imdb-wiki-dir": ("imdb_wiki.csv", (0.0, 120.0)),
}

#: Layouts whose ages above the range are kept and binned into the last bin (DIR's clip).
CLIPPED_ABOVE: frozenset[str] = frozenset({"imdb-wiki-dir"})

_COLUMNS = ("age", "path", "split")
_SPLITS = ("train", "val", "test")


def read_dir_csv(
    csv_path: str | os.PathLike,
    label_range: tuple[float, float] | None = None,
    *,
    clip_above: bool = False,
) -> list[tuple[float, str, str]]:
    """Read and validate a DIR CSV into ``(age, path, split)`` rows.

    ``clip_above=True`` accepts ages above ``label_range`` (kept as they are; IMDB-WIKI-DIR, see
    the module docstring); ages below it are refused either way.

    Raises
    ------
    FileNotFoundError
        When ``csv_path`` does not exist.
    ValueError
        When a column is missing, or a row has a non-numeric / non-finite age, an age outside
        ``label_range``, an empty path or an unknown split (the message names the line).
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise FileNotFoundError(
            f"DIR CSV not found: {csv_path}; expected a CSV with columns age,path,split beside "
            "the image folder."
        )
    rows: list[tuple[float, str, str]] = []
    with open(csv_path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        missing = [c for c in _COLUMNS if c not in header]
        if missing:
            raise ValueError(
                f"{csv_path}: missing column(s) {missing}; found {header}, expected age,path,split."
            )
        for line, row in enumerate(reader, start=2):
            raw = (row.get("age") or "").strip()
            try:
                age = float(raw)
            except ValueError:
                raise ValueError(f"{csv_path}, line {line}: invalid age {raw!r}.") from None
            if not math.isfinite(age):
                raise ValueError(f"{csv_path}, line {line}: age {raw!r} is not finite.")
            above = label_range is not None and age > label_range[1] and not clip_above
            if label_range is not None and (age < label_range[0] or above):
                raise ValueError(
                    f"{csv_path}, line {line}: age {age:g} outside the label range "
                    f"{label_range[0]:g}..{label_range[1]:g}."
                )
            split = (row.get("split") or "").strip()
            if split not in _SPLITS:
                raise ValueError(
                    f"{csv_path}, line {line}: unknown split {split!r}; expected train, val or test."
                )
            path = (row.get("path") or "").strip()
            if not path:
                raise ValueError(f"{csv_path}, line {line}: empty image path.")
            rows.append((age, path, split))
    return rows


class AgeDIRDataset(RegressionDataset):
    """One split of AgeDB-DIR or IMDB-WIKI-DIR read from ``root``.

    Parameters
    ----------
    root : path
        Folder holding the CSV and the images.
    split : {"train", "val", "test"}
    name : {"agedb-dir", "imdb-wiki-dir"}
        Selects the CSV name and label range (see :data:`DIR_AGE_LAYOUTS`).
    train : bool
        Apply :class:`~bsam.data.transforms.RnCTrainTransform` (else :class:`EvalTransform`),
        Rank-N-Contrast's torchvision v2 transforms, to the decoded PIL image.
    img_size : int
        Side of the square inputs (224; e.g. 32 for a quick run).
    csv_name : str, optional
        Override the CSV file name.
    check_files : bool
        Check at construction that every image of the split exists.
    """

    bin_width = 1.0

    def __init__(
        self,
        root: str | os.PathLike,
        split: str,
        *,
        name: str = "agedb-dir",
        train: bool = False,
        img_size: int = 224,
        csv_name: str | None = None,
        check_files: bool = True,
        mean: tuple[float, float, float] = (0.5, 0.5, 0.5),
        std: tuple[float, float, float] = (0.5, 0.5, 0.5),
    ) -> None:
        if name not in DIR_AGE_LAYOUTS:
            raise ValueError(f"Invalid name {name!r}; use one of {sorted(DIR_AGE_LAYOUTS)}.")
        if split not in _SPLITS:
            raise ValueError(f"Invalid split {split!r}; use 'train', 'val' or 'test'.")
        default_csv, self.label_range = DIR_AGE_LAYOUTS[name]
        img_size = positive_int(name, "img_size", img_size, minimum=8)
        mean = triple(name, "mean", mean, positive=False)
        std = triple(name, "std", std, positive=True)
        self.root = Path(root).expanduser()
        self.csv_path = self.root / (csv_name or default_csv)
        self.name, self.split, self.train = name, split, bool(train)
        clip = name in CLIPPED_ABOVE
        rows = read_dir_csv(self.csv_path, self.label_range, clip_above=clip)
        rows = [r for r in rows if r[2] == split]
        if not rows:
            raise ValueError(f"{self.csv_path}: no rows with split {split!r}.")
        self.paths = [self.root / p for _, p, _ in rows]
        if check_files:
            for (_, rel, _), full in zip(rows, self.paths):
                if not full.is_file():
                    raise FileNotFoundError(
                        f"Image {full} listed in {self.csv_path} (path {rel!r}) does not exist."
                    )
        self._targets = torch.tensor([a for a, _, _ in rows], dtype=torch.float32)
        cls = RnCTrainTransform if self.train else EvalTransform
        self.transform = cls(img_size, mean, std)

    @property
    def targets(self) -> torch.Tensor:
        """Ages of the split as in the CSV (the loss targets), float32, shape ``(N,)``."""
        return self._targets

    @property
    def bin_targets(self) -> torch.Tensor:
        """The ages that bin counts, weights and regions use: :attr:`targets` clipped to the top
        of :attr:`label_range` for IMDB-WIKI-DIR (DIR's last-bin clip), unchanged otherwise."""
        if self.name in CLIPPED_ABOVE:
            return self._targets.clamp(max=self.label_range[1])
        return self._targets

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        path = self.paths[index]
        try:
            img = open_rgb(path)
        except FileNotFoundError:
            raise FileNotFoundError(f"Image {path} listed in {self.csv_path} is missing.") from None
        return self.transform(img), self._targets[index]
