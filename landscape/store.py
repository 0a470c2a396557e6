"""The HDF5 store of one surface: resumable, with the provenance of every number.

Layout of a file (``nx`` x-coordinates, ``ny`` y-coordinates). The grid has loss-landscape's
shape (Li et al., NeurIPS 2018; its ``plot_2D.py`` reads these files unchanged): ``(nx,)`` in 1D,
``(ny, nx)`` in 2D with **row = y index**, point ``[j, i]`` at :math:`\\theta + x_i d_x + y_j d_y`.

``xcoordinates`` ``(nx,)``, ``ycoordinates`` ``(ny,)`` (2D only), float64
``loss/<region>``, ``mae/<region>``
    grid of the mean loss and the mean absolute error over the region's target elements
    (NaN where not computed yet, and everywhere for a region without samples)
``count/<region>``
    scalar, the number of target elements of the region
``per_bin/loss``, ``per_bin/mae`` (grid + ``(B,)``), ``per_bin/count`` ``(B,)``, ``per_bin/edges``
    only for per-bin surfaces
``done``
    bool grid, the points computed so far
``train_loss``, ``loss_<region>``, ``mae_<region>``
    hard links to ``loss/all`` and to each region's grids: root-level names that loss-landscape's
    ``plot_1D.py`` (``train_loss``) and ``plot_2D.py --surf_name loss_few`` read
``train_acc``
    NaN grid with attribute ``meaning``: accuracy is not defined for a regression loss; the
    dataset exists only because loss-landscape's ``plot_1D.py`` reads it unconditionally (it then
    draws an empty accuracy curve)

Grids are chunked with Fletcher-32 checksums, so a flipped bit is reported instead of read.
Root attributes: ``format`` (:data:`SURFACE_FORMAT`), ``grid_layout`` (``"y,x"``), the request's
identity (model hash, directions hash, loss, data hash, dataset, split, regions definition, grid,
library version), compared on every reopen, plus informational ones (direction file, checkpoint
path, creation time). Files of :data:`LEGACY_FORMAT` (grids ``(nx, ny)``, row = x) are read and
resumed in their own layout. The file is created atomically; later chunks of points are written
in place and flushed, so a kill loses at most the chunk being computed.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from bsam._io import atomic_path
from landscape._h5 import GRID_LAYOUT, LEGACY_FORMAT, SURFACE_FORMAT, damaged, dataset, open_read
from landscape._h5 import read_surface as read_surface
from landscape.result import SurfaceResult, grid_shape

__all__ = [
    "SURFACE_FORMAT",
    "LEGACY_FORMAT",
    "GRID_LAYOUT",
    "SurfaceResult",
    "SurfaceStore",
    "check_output_surface",
    "read_surface",
]

_FIX = "pass overwrite=True (--overwrite) to recompute it, or choose another output file (--out)"

#: ``meaning`` attribute of the ``train_acc`` dataset.
ACC_MEANING = (
    "undefined: accuracy has no meaning for a regression loss; NaN, present only so that "
    "loss-landscape's plot_1D.py (which reads train_acc unconditionally) runs"
)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    return value


def _attr(value: Any) -> Any:
    # HDF5 attribute value: strings as-is, everything else as JSON text.
    return value if isinstance(value, str) else json.dumps(_jsonable(value), sort_keys=True)


def check_output_surface(path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Check, before any work, that ``path`` may receive a surface; return it as a Path.

    Accepted: a missing file, any file with ``overwrite``, or one of our surface files (which
    :class:`SurfaceStore` then resumes or refuses by its request). Anything else raises
    ``ValueError`` naming the file and the fix, so that nothing the user had is replaced.
    """
    path = Path(path)
    if overwrite or not path.exists():
        return path
    with open_read(path, _FIX) as f:
        try:
            fmt = f.attrs.get("format")
            keys = sorted(f.keys())[:6]
        except (OSError, KeyError, TypeError) as err:
            raise damaged(path, "its metadata", err, _FIX) from err
    if fmt not in (SURFACE_FORMAT, LEGACY_FORMAT):
        what = "no 'format' attribute" if fmt is None else f"format {fmt!r}"
        raise ValueError(
            f"{path} exists and is not a bsam surface file ({what}; it holds {keys}); {_FIX}."
        )
    return path


def _swap(grid: np.ndarray, legacy: bool) -> np.ndarray:
    # A legacy 2D grid is (nx, ny, ...); the canonical one is (ny, nx, ...).
    return np.swapaxes(grid, 0, 1) if legacy and grid.ndim >= 2 else grid


class SurfaceStore:
    """A surface file on disk: created or reopened for the given request, then filled by chunks.

    Parameters
    ----------
    path:
        The HDF5 file.
    identity:
        Attributes that define the request (compared on reopen; a difference is refused).
    info:
        Informational attributes (written at creation only).
    xcoords, ycoords:
        The grid.
    names:
        Region names (``"all"`` first).
    counts:
        Elements per region (and per bin after the regions).
    bin_edges:
        Edges of the per-bin groups, or ``None``.
    overwrite:
        Replace an existing file instead of resuming it.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        identity: dict[str, Any],
        info: dict[str, Any],
        xcoords: np.ndarray,
        ycoords: np.ndarray | None,
        names: list[str],
        counts: np.ndarray,
        bin_edges: np.ndarray | None = None,
        overwrite: bool = False,
    ) -> None:
        self.path = Path(path)
        self.names = list(names)
        self.shape = grid_shape(xcoords, ycoords)
        self.num_bins = 0 if bin_edges is None else len(bin_edges) - 1
        self.legacy = False
        identity = {"format": SURFACE_FORMAT, **identity}
        identity["xcoordinates"] = np.asarray(xcoords, dtype=np.float64)
        if ycoords is not None:
            identity["ycoordinates"] = np.asarray(ycoords, dtype=np.float64)
        if overwrite or not self.path.exists():
            self._create(identity, info, counts, bin_edges)
        else:
            self._check(identity)
        with open_read(self.path, _FIX) as f:
            try:
                self.done = _swap(np.array(f["done"], dtype=bool), self.legacy)
            except (OSError, KeyError, ValueError, TypeError) as err:
                raise damaged(self.path, "done", err, _FIX) from err

    # -- creation and validation ---------------------------------------------------------------
    def _create(self, identity: dict, info: dict, counts: np.ndarray, edges) -> None:
        with atomic_path(self.path) as tmp, h5py.File(tmp, "w") as f:
            dataset(f, "xcoordinates", identity["xcoordinates"])
            if "ycoordinates" in identity:
                dataset(f, "ycoordinates", identity["ycoordinates"])
            for i, name in enumerate(self.names):
                for q in ("loss", "mae"):
                    dataset(f, f"{q}/{name}", np.full(self.shape, np.nan))
                    f[f"{q}_{name}"] = f[f"{q}/{name}"]
                f.create_dataset(f"count/{name}", data=np.int64(counts[i]))
            if self.num_bins:
                bshape = self.shape + (self.num_bins,)
                for q in ("loss", "mae"):
                    dataset(f, f"per_bin/{q}", np.full(bshape, np.nan))
                dataset(f, "per_bin/count", np.asarray(counts[len(self.names) :]))
                dataset(f, "per_bin/edges", np.asarray(edges, dtype=np.float64))
            dataset(f, "done", np.zeros(self.shape, dtype=bool))
            f["train_loss"] = f["loss/all"]
            dataset(f, "train_acc", np.full(self.shape, np.nan))
            f["train_acc"].attrs["meaning"] = ACC_MEANING
            for key, value in identity.items():
                if key not in ("xcoordinates", "ycoordinates"):
                    f.attrs[key] = _attr(value)
            f.attrs["grid_layout"] = GRID_LAYOUT
            f.attrs["identity_keys"] = json.dumps(sorted(identity))
            for key, value in info.items():
                f.attrs[key] = _attr(value)
            f.attrs["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")

    def _check(self, identity: dict) -> None:
        with open_read(self.path, _FIX) as f:
            try:
                self._check_open(f, identity)
            except (OSError, KeyError, TypeError) as err:
                raise damaged(self.path, "its metadata", err, _FIX) from err

    def _check_open(self, f: h5py.File, identity: dict) -> None:
        fmt = f.attrs.get("format")
        if fmt is None:
            raise ValueError(
                f"{self.path} is an HDF5 file but not a bsam surface file (no 'format' "
                f"attribute; it holds {sorted(f.keys())[:6]}); {_FIX}."
            )
        if fmt not in (SURFACE_FORMAT, LEGACY_FORMAT):
            raise ValueError(
                f"{self.path} has surface format {fmt!r}, this version writes "
                f"{SURFACE_FORMAT!r}; {_FIX}."
            )
        self.legacy = fmt == LEGACY_FORMAT
        missing = [k for k in ("done", "xcoordinates", "loss/all") if k not in f]
        if missing:
            raise ValueError(f"{self.path} is a damaged surface file (missing {missing}); {_FIX}.")
        for key, value in identity.items():
            if key == "format":
                continue
            if key in ("xcoordinates", "ycoordinates"):
                old = np.array(f[key]) if key in f else None
                same = old is not None and old.shape == value.shape and np.array_equal(old, value)
                shown_old = (
                    None if old is None else f"{len(old)} points [{old.min():g}, {old.max():g}]"
                )
                shown_new = f"{len(value)} points [{value.min():g}, {value.max():g}]"
            else:
                old = f.attrs.get(key)
                same = old == _attr(value)
                shown_old, shown_new = old, _attr(value)
            if not same:
                raise ValueError(
                    f"{self.path} was made for a different request: {key!r} is {shown_old!r} "
                    f"in the file but {shown_new!r} now; {_FIX}."
                )
        if "ycoordinates" in f and "ycoordinates" not in identity:
            raise ValueError(
                f"{self.path} holds a 2D surface but a 1D surface was asked for; {_FIX}."
            )
        if any(f"loss/{n}" not in f for n in self.names):
            raise ValueError(f"{self.path} lacks regions of {self.names}; {_FIX}.")

    # -- filling ------------------------------------------------------------------------------
    def pending(self) -> np.ndarray:
        """Flat indices (row-major over the ``(ny, nx)`` grid: x fastest) of the points to do."""
        return np.flatnonzero(~self.done.reshape(-1))

    def write(self, points: np.ndarray, means: np.ndarray) -> None:
        """Store ``means`` (``(k, G, 2)``: loss and MAE per group) of flat ``points``; flush.

        The ``done`` flags are written last, so a point is marked done only with its values.
        """
        points = np.asarray(points, dtype=np.int64)
        order = np.argsort(points)
        points, means = points[order], means[order]
        idx = np.unravel_index(points, self.shape)
        n = len(self.names)
        with h5py.File(self.path, "r+") as f:
            for q, name in ((0, "loss"), (1, "mae")):
                for g, region in enumerate(self.names):
                    self._update(f[f"{name}/{region}"], idx, means[:, g, q])
                if self.num_bins:
                    self._update(f[f"per_bin/{name}"], idx, means[:, n:, q])
            f.flush()
            self.done[idx] = True
            f["done"][...] = _swap(self.done, self.legacy)
            f.flush()

    def _update(self, ds: h5py.Dataset, idx: tuple, values: np.ndarray) -> None:
        grid = _swap(ds[...], self.legacy)
        grid[idx] = values
        ds[...] = _swap(grid, self.legacy)
