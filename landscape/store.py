"""The HDF5 store of one surface: resumable, with the provenance of every number.

Layout of a file (``nx`` x-coordinates, ``ny`` y-coordinates; the grid is ``(nx,)`` in 1D and
``(nx, ny)`` in 2D, point ``(i, j)`` at :math:`\\theta + x_i d_x + y_j d_y`):

``xcoordinates`` ``(nx,)``, ``ycoordinates`` ``(ny,)`` (2D only)
``loss/<region>``, ``mae/<region>``
    grid of the mean loss and the mean absolute error over the region's target elements
    (NaN where not computed yet)
``count/<region>``
    scalar, the number of target elements of the region
``per_bin/loss``, ``per_bin/mae`` (grid + ``(B,)``), ``per_bin/count`` ``(B,)``, ``per_bin/edges``
    only for per-bin surfaces
``done``
    bool grid, the points computed so far
``train_loss``
    hard link to ``loss/all``, the name loss-landscape's plotting scripts read

Root attributes: ``format`` and the request's identity (model hash, directions hash, loss, data
hash, dataset, split, regions definition, grid, library version), compared on every reopen, plus
informational ones (direction file, checkpoint path, creation time). The file is created
atomically; later chunks of points are written in place and flushed, so a kill loses at most the
chunk being computed.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from bsam._io import atomic_path

__all__ = ["SURFACE_FORMAT", "SurfaceResult", "SurfaceStore", "read_surface"]

#: Value of the ``format`` attribute of surface files.
SURFACE_FORMAT = "bsam-surface/1"

_FIX = "pass overwrite=True (--overwrite) to recompute it, or choose another output file (--out)"


@dataclass
class SurfaceResult:
    """A 1D or 2D loss surface per region.

    Attributes
    ----------
    xcoords, ycoords:
        Grid coordinates (``ycoords`` is ``None`` in 1D).
    loss, mae:
        Region name -> grid of the mean loss / mean absolute error (shape ``(nx,)`` or
        ``(nx, ny)``; NaN at points not computed).
    count:
        Region name -> number of target elements.
    done:
        Bool grid of the computed points.
    attrs:
        Provenance attributes.
    per_bin:
        ``{"loss", "mae"}`` (grid + ``(B,)``), ``"count"`` ``(B,)``, ``"edges"`` ``(B + 1,)``; or
        ``None``.
    path:
        The HDF5 file, if any.
    """

    xcoords: np.ndarray
    ycoords: np.ndarray | None
    loss: dict[str, np.ndarray]
    mae: dict[str, np.ndarray]
    count: dict[str, int]
    done: np.ndarray
    attrs: dict[str, Any] = field(default_factory=dict)
    per_bin: dict[str, np.ndarray] | None = None
    path: Path | None = None

    @property
    def dims(self) -> int:
        """1 or 2."""
        return 1 if self.ycoords is None else 2

    @property
    def region_names(self) -> list[str]:
        """Region names in file order."""
        return list(self.loss)

    @property
    def regions(self) -> list[str]:
        """Deprecated name of :attr:`region_names` (``regions`` is the ShotRegions object)."""
        warnings.warn(
            "SurfaceResult.regions is deprecated; use SurfaceResult.region_names.",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.region_names

    @property
    def complete(self) -> bool:
        """Whether every grid point was computed."""
        return bool(self.done.all())

    def origin_index(self) -> tuple[int, ...]:
        """Grid index of the point closest to :math:`(0, 0)` (the unperturbed model)."""
        ix = int(np.argmin(np.abs(self.xcoords)))
        if self.ycoords is None:
            return (ix,)
        return (ix, int(np.argmin(np.abs(self.ycoords))))

    def at_origin(self, region: str = "all", quantity: str = "loss") -> float:
        """Value of ``quantity`` (``"loss"`` or ``"mae"``) of ``region`` at the origin."""
        table = {"loss": self.loss, "mae": self.mae}.get(quantity)
        if table is None:
            raise ValueError(f"Invalid quantity {quantity!r}; choose 'loss' or 'mae'.")
        if region not in table:
            raise ValueError(f"Unknown region {region!r}; this surface has {self.region_names}.")
        return float(table[region][self.origin_index()])


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


def _open_read(path: Path) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise ValueError(
            f"Cannot open {path} as HDF5 (corrupt, truncated or not an HDF5 file: {err}); delete "
            f"it, {_FIX}."
        ) from err


def _grid_shape(xcoords: np.ndarray, ycoords: np.ndarray | None) -> tuple[int, ...]:
    return (len(xcoords),) if ycoords is None else (len(xcoords), len(ycoords))


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
        self.shape = _grid_shape(xcoords, ycoords)
        self.num_bins = 0 if bin_edges is None else len(bin_edges) - 1
        identity = {"format": SURFACE_FORMAT, **identity}
        identity["xcoordinates"] = np.asarray(xcoords, dtype=np.float64)
        if ycoords is not None:
            identity["ycoordinates"] = np.asarray(ycoords, dtype=np.float64)
        if overwrite or not self.path.exists():
            self._create(identity, info, counts, bin_edges)
        else:
            self._check(identity)
        with _open_read(self.path) as f:
            self.done = np.array(f["done"], dtype=bool)

    # -- creation and validation ---------------------------------------------------------------
    def _create(self, identity: dict, info: dict, counts: np.ndarray, edges) -> None:
        with atomic_path(self.path) as tmp, h5py.File(tmp, "w") as f:
            f.create_dataset("xcoordinates", data=identity["xcoordinates"])
            if "ycoordinates" in identity:
                f.create_dataset("ycoordinates", data=identity["ycoordinates"])
            for i, name in enumerate(self.names):
                for q in ("loss", "mae"):
                    f.create_dataset(f"{q}/{name}", data=np.full(self.shape, np.nan))
                f.create_dataset(f"count/{name}", data=np.int64(counts[i]))
            if self.num_bins:
                bshape = self.shape + (self.num_bins,)
                for q in ("loss", "mae"):
                    f.create_dataset(f"per_bin/{q}", data=np.full(bshape, np.nan))
                f.create_dataset("per_bin/count", data=np.asarray(counts[len(self.names) :]))
                f.create_dataset("per_bin/edges", data=np.asarray(edges, dtype=np.float64))
            f.create_dataset("done", data=np.zeros(self.shape, dtype=bool))
            f["train_loss"] = f["loss/all"]
            for key, value in identity.items():
                if key not in ("xcoordinates", "ycoordinates"):
                    f.attrs[key] = _attr(value)
            f.attrs["identity_keys"] = json.dumps(sorted(identity))
            for key, value in info.items():
                f.attrs[key] = _attr(value)
            f.attrs["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")

    def _check(self, identity: dict) -> None:
        with _open_read(self.path) as f:
            fmt = f.attrs.get("format")
            if fmt is None:
                raise ValueError(
                    f"{self.path} is an HDF5 file but not a bsam surface file (no 'format' "
                    f"attribute; it holds {sorted(f.keys())[:6]}); {_FIX}."
                )
            if fmt != SURFACE_FORMAT:
                raise ValueError(
                    f"{self.path} has surface format {fmt!r}, this version writes "
                    f"{SURFACE_FORMAT!r}; {_FIX}."
                )
            missing = [k for k in ("done", "xcoordinates", "loss/all") if k not in f]
            if missing:
                raise ValueError(
                    f"{self.path} is a damaged surface file (missing {missing}); {_FIX}."
                )
            for key, value in identity.items():
                if key in ("xcoordinates", "ycoordinates"):
                    old = np.array(f[key]) if key in f else None
                    same = (
                        old is not None and old.shape == value.shape and np.array_equal(old, value)
                    )
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
        """Flat indices (row-major) of the points not computed yet."""
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
                    ds = f[f"{name}/{region}"]
                    grid = ds[...]
                    grid[idx] = means[:, g, q]
                    ds[...] = grid
                if self.num_bins:
                    ds = f[f"per_bin/{name}"]
                    grid = ds[...]
                    grid[idx] = means[:, n:, q]
                    ds[...] = grid
            f.flush()
            self.done[idx] = True
            f["done"][...] = self.done
            f.flush()


def read_surface(path: str | os.PathLike) -> SurfaceResult:
    """Read a surface file written by :func:`landscape.compute_surface`.

    loss-landscape's own surface files (``xcoordinates``, ``ycoordinates``, ``train_loss``, no
    ``format`` attribute) are read too, as region ``"all"`` (their ``attrs`` hold
    ``{"format": "loss-landscape"}``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Surface file not found: {path}")
    with _open_read(path) as f:
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
        x = np.array(f["xcoordinates"]) if "xcoordinates" in f else None
        y = np.array(f["ycoordinates"]) if "ycoordinates" in f else None
        if attrs.get("format") is None:
            if x is None or "train_loss" not in f:
                raise ValueError(
                    f"{path} is not a surface file: it has no 'format' attribute and no "
                    f"'xcoordinates'/'train_loss' datasets (found {sorted(f.keys())[:6]})."
                )
            loss = np.array(f["train_loss"], dtype=np.float64)
            return SurfaceResult(
                x,
                y,
                {"all": loss},
                {},
                {},
                np.isfinite(loss),
                {"format": "loss-landscape"},
                path=path,
            )
        if attrs["format"] != SURFACE_FORMAT:
            raise ValueError(
                f"{path} has surface format {attrs['format']!r}; expected {SURFACE_FORMAT!r}."
            )
        if x is None or "loss" not in f or "done" not in f:
            raise ValueError(f"{path} is a damaged surface file (missing datasets).")
        names = (
            list(json.loads(attrs["regions"])["names"]) if "regions" in attrs else list(f["loss"])
        )
        loss = {n: np.array(f[f"loss/{n}"]) for n in names}
        mae = {n: np.array(f[f"mae/{n}"]) for n in names}
        count = {n: int(np.array(f[f"count/{n}"])) for n in names}
        per_bin = None
        if "per_bin" in f:
            per_bin = {k: np.array(f[f"per_bin/{k}"]) for k in ("loss", "mae", "count", "edges")}
        done = np.array(f["done"], dtype=bool)
    return SurfaceResult(x, y, loss, mae, count, done, attrs, per_bin, path)
