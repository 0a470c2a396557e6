"""A 1D or 2D loss surface per region, in memory, laid out as loss-landscape lays it out.

A 2D grid has shape ``(len(ycoords), len(xcoords))``: **row = y index, column = x index**, so
``grid[j, i]`` is the value at :math:`\\theta + x_i d_x + y_j d_y` and ``matplotlib``'s
``contour(xcoords, ycoords, grid)`` draws it the right way round. A 1D grid has shape
``(len(xcoords),)``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["SurfaceResult", "grid_shape"]


def grid_shape(xcoords: np.ndarray, ycoords: np.ndarray | None) -> tuple[int, ...]:
    """Shape of a surface grid: ``(nx,)`` in 1D, ``(ny, nx)`` in 2D (row = y index)."""
    return (len(xcoords),) if ycoords is None else (len(ycoords), len(xcoords))


@dataclass
class SurfaceResult:
    """A 1D or 2D loss surface per region.

    Attributes
    ----------
    xcoords, ycoords:
        Grid coordinates (``ycoords`` is ``None`` in 1D).
    loss, mae:
        Region name -> grid of the mean loss / mean absolute error, shape :func:`grid_shape`
        (``(ny, nx)`` in 2D: ``loss[r][j, i]`` is the point ``(x_i, y_j)``); NaN at points not
        computed and everywhere for a region without samples.
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
        """Array index of the grid point closest to :math:`(0, 0)` (the unperturbed model).

        ``(i,)`` in 1D, ``(j, i)`` in 2D (row = y index), so ``loss[r][origin_index()]`` works.
        """
        ix = int(np.argmin(np.abs(self.xcoords)))
        if self.ycoords is None:
            return (ix,)
        return (int(np.argmin(np.abs(self.ycoords))), ix)

    def value_at(
        self, region: str, x_index: int, y_index: int | None = None, quantity: str = "loss"
    ) -> float:
        """Value of ``quantity`` of ``region`` at grid point ``(x_index, y_index)``.

        Spelled with the x index first whatever the array layout, for code that should not care.
        """
        grid = self.grid(region, quantity)
        if self.ycoords is None:
            if y_index is not None:
                raise ValueError(f"Invalid y_index {y_index}: this surface is 1D; pass only x.")
            return float(grid[x_index])
        if y_index is None:
            raise ValueError("Invalid y_index None: this surface is 2D; pass x_index and y_index.")
        return float(grid[y_index, x_index])

    def grid(self, region: str, quantity: str = "loss") -> np.ndarray:
        """The grid of ``quantity`` (``"loss"`` or ``"mae"``) of ``region`` (shape ``(ny, nx)``).

        Raises ``ValueError`` naming the valid choices for an unknown quantity or region.
        """
        table = {"loss": self.loss, "mae": self.mae}.get(quantity)
        if table is None:
            raise ValueError(f"Invalid quantity {quantity!r}; choose 'loss' or 'mae'.")
        if not table and self.loss:
            raise ValueError(
                f"Invalid quantity {quantity!r}: this surface holds no {quantity} (a "
                "loss-landscape file holds only losses); use quantity 'loss'."
            )
        if region not in table:
            raise ValueError(f"Unknown region {region!r}; this surface has {self.region_names}.")
        return table[region]

    def at_origin(self, region: str = "all", quantity: str = "loss") -> float:
        """Value of ``quantity`` (``"loss"`` or ``"mae"``) of ``region`` at the origin."""
        return float(self.grid(region, quantity)[self.origin_index()])
