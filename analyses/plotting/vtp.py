"""ParaView export of a surface: VTK PolyData XML (``.vtp``), ASCII.

A 2D surface becomes a height field: one point :math:`(a, b, L(a, b))` per computed grid point,
one quadrilateral per grid cell whose four corners are computed, and the value as point data
(for colouring). A 1D surface becomes a polyline :math:`(a, 0, L(a))`. loss-landscape's
``h52vtp.py`` writes the same kind of file; this one is written from scratch.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from bsam._io import atomic_path
from landscape.store import SurfaceResult

__all__ = ["write_vtp"]


def _fmt(values: np.ndarray) -> str:
    return " ".join(f"{v:.9g}" for v in np.asarray(values).ravel())


def write_vtp(
    result: SurfaceResult,
    path: str | os.PathLike,
    *,
    region: str = "all",
    quantity: str = "loss",
    log: bool = False,
    zmax: float | None = None,
) -> Path:
    """Write one region's surface as an ASCII ``.vtp`` file for ParaView.

    Parameters
    ----------
    result:
        A 1D or 2D surface.
    path:
        Output file (``.vtp`` is appended when missing).
    region, quantity:
        Which values become the height (``"loss"`` or ``"mae"``).
    log:
        Use :math:`\\log_{10}` of the values (non-positive values are dropped).
    zmax:
        Clip heights above ``zmax``.
    """
    z = np.asarray(result.grid(region, quantity), dtype=np.float64)
    if log:
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(z > 0, np.log10(np.where(z > 0, z, 1.0)), np.nan)
    if zmax is not None:
        z = np.minimum(z, zmax)
    x = result.xcoords
    y = result.ycoords if result.ycoords is not None else np.zeros(1)
    grid = z.T if result.ycoords is not None else z.reshape(len(x), 1)  # (nx, ny) here
    ok = np.isfinite(grid)
    if not ok.any():
        raise ValueError(f"Nothing to export: region {region!r} has no computed point.")
    index = -np.ones(grid.shape, dtype=np.int64)
    index[ok] = np.arange(int(ok.sum()))
    ii, jj = np.nonzero(ok)
    points = np.stack([x[ii], y[jj], grid[ii, jj]], axis=1)
    cells = []
    if result.ycoords is None:
        kind = "Lines"
        cells = [
            [index[i, 0], index[i + 1, 0]] for i in range(len(x) - 1) if ok[i, 0] and ok[i + 1, 0]
        ]
    else:
        kind = "Polys"
        for i in range(len(x) - 1):
            for j in range(len(y) - 1):
                corner = [index[i, j], index[i + 1, j], index[i + 1, j + 1], index[i, j + 1]]
                if min(corner) >= 0:
                    cells.append(corner)
    connectivity = np.asarray(cells, dtype=np.int64).ravel()
    offsets = np.cumsum([len(c) for c in cells], dtype=np.int64)
    counts = {"Verts": 0, "Lines": 0, "Strips": 0, "Polys": 0}
    counts[kind] = len(cells)
    name = f"{quantity}_{region}" + ("_log10" if log else "")
    piece_attrs = " ".join(f'NumberOf{k}="{v}"' for k, v in counts.items())
    text = f"""<?xml version="1.0"?>
<VTKFile type="PolyData" version="0.1" byte_order="LittleEndian">
  <PolyData>
    <Piece NumberOfPoints="{len(points)}" {piece_attrs}>
      <PointData Scalars="{name}">
        <DataArray type="Float64" Name="{name}" format="ascii">{_fmt(points[:, 2])}</DataArray>
      </PointData>
      <Points>
        <DataArray type="Float64" NumberOfComponents="3" format="ascii">{_fmt(points)}</DataArray>
      </Points>
      <{kind}>
        <DataArray type="Int64" Name="connectivity" format="ascii">{_fmt(connectivity)}</DataArray>
        <DataArray type="Int64" Name="offsets" format="ascii">{_fmt(offsets)}</DataArray>
      </{kind}>
    </Piece>
  </PolyData>
</VTKFile>
"""
    path = Path(path)
    if path.suffix != ".vtp":
        path = path.with_name(path.name + ".vtp")
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path
