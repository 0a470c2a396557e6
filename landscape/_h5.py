"""Reading surface files: ours (current and legacy layout) and loss-landscape's own.

Every grid comes back in the layout of :class:`landscape.result.SurfaceResult` (``(ny, nx)``,
row = y index). A file that cannot be opened, or whose datasets cannot be read (a flipped bit
fails the Fletcher-32 checksum of our grids; damaged metadata fails in HDF5), raises one
``ValueError`` naming the file, the damaged part and the fix.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np

from landscape.result import SurfaceResult, grid_shape

__all__ = [
    "SURFACE_FORMAT",
    "LEGACY_FORMAT",
    "GRID_LAYOUT",
    "SurfaceFileError",
    "open_read",
    "damaged",
    "dataset",
    "read_surface",
]

#: Value of the ``format`` attribute of the surface files this version writes.
SURFACE_FORMAT = "bsam-surface/2"
#: Format of the files written before 0.x: same datasets, 2D grids ``(nx, ny)`` (row = x index).
LEGACY_FORMAT = "bsam-surface/1"
#: Value of the ``grid_layout`` attribute: axes of a 2D grid, slowest first (loss-landscape's).
GRID_LAYOUT = "y,x"

_READ_FIX = "delete it and compute it again with `bsam surface`"
_H5_ERRORS = (OSError, KeyError, ValueError, TypeError, json.JSONDecodeError)


class SurfaceFileError(ValueError):
    """A surface file that is damaged, foreign or of an unknown format (one-line message)."""


def open_read(path: Path, fix: str = _READ_FIX) -> h5py.File:
    """Open ``path`` read-only; an unopenable file raises :class:`SurfaceFileError` with ``fix``."""
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise SurfaceFileError(
            f"Cannot open {path} as HDF5 (corrupt, truncated or not an HDF5 file: {err}); "
            f"delete it, {fix}."
        ) from err


def damaged(path: Path, what: str, err: BaseException, fix: str = _READ_FIX) -> SurfaceFileError:
    """The error for a file whose ``what`` cannot be read (``err``: what HDF5 said)."""
    reason = " ".join(str(err).split()) or type(err).__name__
    return SurfaceFileError(f"{path} is damaged: cannot read {what} ({reason}); {fix}.")


def dataset(f: h5py.File | h5py.Group, name: str, data: np.ndarray) -> h5py.Dataset:
    """Create dataset ``name``; arrays are chunked with a Fletcher-32 checksum."""
    data = np.asarray(data)
    if data.ndim == 0 or data.size == 0:
        return f.create_dataset(name, data=data)
    return f.create_dataset(name, data=data, chunks=True, fletcher32=True)


def _grid(f: h5py.File, key: str, shape: tuple[int, ...], legacy: bool, path: Path) -> np.ndarray:
    arr = np.array(f[key], dtype=np.float64 if key != "done" else bool)
    if legacy and arr.ndim >= 2:
        arr = np.swapaxes(arr, 0, 1)
    if arr.shape[: len(shape)] != shape:
        raise SurfaceFileError(
            f"{path} is damaged: {key!r} has shape {arr.shape}, the grid is {shape}; {_READ_FIX}."
        )
    return arr


def _read_loss_landscape(f: h5py.File, path: Path, x: np.ndarray, y) -> SurfaceResult:
    # loss-landscape (plot_surface.py) fills -1 and writes value k of the flattened array at the
    # k-th point of meshgrid(x, y) (x fastest), whatever the dataset's shape: reshape to (ny, nx).
    if "train_loss" not in f:
        raise SurfaceFileError(
            f"{path} is not a surface file: it has no 'format' attribute and no "
            f"'xcoordinates'/'train_loss' datasets (found {sorted(f.keys())[:6]})."
        )
    shape = grid_shape(x, y)
    loss = {}
    for region, key in (("all", "train_loss"), ("test", "test_loss")):
        if key not in f:
            continue
        values = np.array(f[key], dtype=np.float64)
        if values.size != int(np.prod(shape)):
            raise SurfaceFileError(
                f"{path}: {key!r} holds {values.size} values but the grid has "
                f"{int(np.prod(shape))} points ({len(x)} x-coordinates"
                f"{'' if y is None else f', {len(y)} y-coordinates'}); {_READ_FIX}."
            )
        values = values.reshape(shape)
        loss[region] = np.where(values == -1, np.nan, values)  # its fill: not computed yet
    done = np.isfinite(loss["all"])
    return SurfaceResult(x, y, loss, {}, {}, done, {"format": "loss-landscape"}, path=path)


def _read(f: h5py.File, path: Path) -> SurfaceResult:
    attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    x = np.array(f["xcoordinates"], dtype=np.float64) if "xcoordinates" in f else None
    y = np.array(f["ycoordinates"], dtype=np.float64) if "ycoordinates" in f else None
    fmt = attrs.get("format")
    if fmt is None:
        if x is None:
            raise SurfaceFileError(
                f"{path} is not a surface file: it has no 'format' attribute and no "
                f"'xcoordinates'/'train_loss' datasets (found {sorted(f.keys())[:6]})."
            )
        return _read_loss_landscape(f, path, x, y)
    if fmt not in (SURFACE_FORMAT, LEGACY_FORMAT):
        raise SurfaceFileError(
            f"{path} has surface format {fmt!r}; this version reads {SURFACE_FORMAT!r} and "
            f"{LEGACY_FORMAT!r}."
        )
    if x is None or "loss" not in f or "done" not in f:
        raise SurfaceFileError(f"{path} is a damaged surface file (missing datasets); {_READ_FIX}.")
    legacy = fmt == LEGACY_FORMAT
    shape = grid_shape(x, y)
    names = list(json.loads(attrs["regions"])["names"]) if "regions" in attrs else list(f["loss"])
    loss = {n: _grid(f, f"loss/{n}", shape, legacy, path) for n in names}
    mae = {n: _grid(f, f"mae/{n}", shape, legacy, path) for n in names}
    count = {n: int(np.array(f[f"count/{n}"])) for n in names}
    per_bin = None
    if "per_bin" in f:
        per_bin = {k: _grid(f, f"per_bin/{k}", shape, legacy, path) for k in ("loss", "mae")}
        per_bin.update({k: np.array(f[f"per_bin/{k}"]) for k in ("count", "edges")})
    done = _grid(f, "done", shape, legacy, path)
    return SurfaceResult(x, y, loss, mae, count, done, attrs, per_bin, path)


def read_surface(path: str | os.PathLike) -> SurfaceResult:
    """Read a surface file written by :func:`landscape.compute_surface`, or by loss-landscape.

    Our files of format ``bsam-surface/2`` are stored as the result is (``(ny, nx)``); those of
    the legacy ``bsam-surface/1`` (``(nx, ny)``) are transposed on read. loss-landscape's own
    files (``xcoordinates``, ``ycoordinates``, ``train_loss``, no ``format`` attribute) give region
    ``"all"`` (and ``"test"`` from ``test_loss``), their ``-1`` fill (exactly ``-1``) read as NaN (not computed),
    ``attrs == {"format": "loss-landscape"}`` and no MAE.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    SurfaceFileError
        (a ``ValueError``) the file cannot be opened or read, or is not a surface file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Surface file not found: {path}")
    with open_read(path) as f:
        try:
            return _read(f, path)
        except SurfaceFileError:
            raise
        except _H5_ERRORS as err:
            raise damaged(path, "its datasets", err) from err
