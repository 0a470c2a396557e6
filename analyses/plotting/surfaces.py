"""Loss-surface figures per shot region (Li et al., NeurIPS 2018; the BSAM paper's Figure 1).

Every function takes a :class:`landscape.SurfaceResult` (``landscape.read_surface(path)``) and
returns a :class:`matplotlib.figure.Figure` built without pyplot (no global state, any backend;
notebooks display it). Grids are laid out as loss-landscape lays them out, ``(ny, nx)`` with row = y
index (:mod:`landscape.result`), and the plots put x horizontally. Points not computed yet (NaN)
are left blank; a region without samples (all NaN, ``n=0``) is said to be empty, not "not
computed".
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from analyses.plotting.style import DIRECTION_LABELS, legend_inside, region_color
from bsam._io import atomic_path
from bsam.regions import region_arguments
from landscape.store import SurfaceResult

__all__ = [
    "FILE_KINDS",
    "empty_reason",
    "KINDS_2D",
    "plot_surface_file",
    "plot_curves",
    "plot_contour",
    "plot_surface_3d",
    "plot_region_panels",  # noqa: F822 (module __getattr__, from analyses.plotting.panels)
    "region_title",
    "save_figure",
]

#: The 2D renderings of :func:`plot_contour` and :func:`plot_region_panels`.
KINDS_2D: tuple[str, ...] = ("contour", "filled", "heatmap")


def _values(result: SurfaceResult, region: str, quantity: str) -> np.ndarray:
    return np.asarray(result.grid(region, quantity), dtype=np.float64)


def empty_reason(result: SurfaceResult, region: str, z: np.ndarray | None = None) -> str | None:
    """Why ``region`` has nothing to draw (``z``: its values), or ``None`` when it has.

    The reasons, checked in this order: the region holds no sample (``n=0``); no grid point is
    computed yet; the computed points hold no finite value (or none positive, under a log scale).
    """
    z = _values(result, region, "loss") if z is None else z
    if np.isfinite(z).any():
        return None
    if result.count.get(region, None) == 0:
        return f"region {region!r} holds no sample (n=0)"
    done = int(np.count_nonzero(result.done))
    if done == 0:
        return (
            f"the surface has no computed point yet (0 of {result.done.size}); run "
            "`bsam surface` again to resume it"
        )
    return f"region {region!r} has no finite value at its {done} computed points"


def _check_regions(
    result: SurfaceResult, region_names: Sequence[str] | None, regions: Any, where: str
) -> list[str]:
    _, region_names = region_arguments(regions, region_names, default=None, where=where)
    names = list(result.loss) if region_names is None else list(region_names)
    unknown = [r for r in names if r not in result.loss]
    if unknown:
        raise ValueError(f"Unknown region(s) {unknown}; this surface has {list(result.loss)}.")
    if not names:
        raise ValueError("region_names is empty; name at least one region to plot.")
    return names


def _need_dims(result: SurfaceResult, dims: int, what: str) -> None:
    if result.dims != dims:
        raise ValueError(f"{what} needs a {dims}D surface; this one is {result.dims}D.")


def _label(quantity: str, result: SurfaceResult, log: bool) -> str:
    name = "MAE" if quantity == "mae" else f"{result.attrs.get('loss', '')} loss".strip()
    return f"log10 {name}" if log else name


def _transform(z: np.ndarray, log: bool) -> np.ndarray:
    if not log:
        return z
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(z > 0, np.log10(np.where(z > 0, z, 1.0)), np.nan)


def region_title(result: SurfaceResult, region: str, *, mae: bool = True) -> str:
    """Panel title: the region, its size, and (``mae=True``) its MAE at the origin.

    For example ``"few (n=162) · MAE 10.68"``, as in the BSAM paper's Figure 1.
    """
    parts = [region]
    if region in result.count:
        parts[0] += f" (n={result.count[region]:,})"
        if result.count[region] == 0:
            return parts[0] + " · no sample"
    if mae and region in result.mae:
        value = result.at_origin(region, "mae")
        if np.isfinite(value):
            parts.append(f"MAE {value:.2f}")
    return " · ".join(parts)


def plot_curves(
    result: SurfaceResult,
    *,
    region_names: Sequence[str] | None = None,
    quantity: str = "loss",
    log: bool = False,
    ax: Axes | None = None,
    title: str | None = None,
    regions: Sequence[str] | None = None,
) -> Figure:
    """1D surface: one curve per region, overlaid, :math:`L_R(a)` against :math:`a`.

    Parameters
    ----------
    result:
        A 1D surface.
    region_names:
        Regions to draw (default: all of them; ``regions=`` is the old, deprecated spelling).
    quantity:
        ``"loss"`` or ``"mae"``.
    log:
        Logarithmic y axis.
    ax:
        Axes to draw into (default: a new figure).
    title:
        Axes title.
    """
    _need_dims(result, 1, "plot_curves")
    names = _check_regions(result, region_names, regions, "plot_curves")
    fig, ax = _fig_ax(ax, (5.0, 3.6))
    for name in names:
        ax.plot(
            result.xcoords,
            _values(result, name, quantity),
            label=region_title(result, name),
            color=region_color(name),
            lw=1.8,
        )
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(DIRECTION_LABELS[0])
    ax.set_ylabel(_label(quantity, result, False))
    ax.grid(alpha=0.3)
    legend_inside(ax)
    if title:
        ax.set_title(title)
    return fig


def _fig_ax(ax: Axes | None, size: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.add_subplot()


def _draw_2d(ax: Axes, result: SurfaceResult, z: np.ndarray, kind: str, norm, levels: int):
    x, y = result.xcoords, result.ycoords
    zt = np.ma.masked_invalid(z)  # (ny, nx): rows along y, columns along x
    if kind == "heatmap":
        art = ax.pcolormesh(x, y, zt, norm=norm, shading="nearest", cmap="viridis")
    else:
        lv = np.linspace(norm.vmin, norm.vmax, levels) if norm.vmax > norm.vmin else levels
        if kind == "filled":
            art = ax.contourf(x, y, zt, levels=lv, norm=norm, cmap="viridis", extend="both")
        else:
            art = ax.contour(x, y, zt, levels=lv, norm=norm, cmap="viridis", linewidths=1.0)
            ax.clabel(art, fontsize=6, fmt="%.3g")
    ax.plot([0], [0], marker="+", color="white" if kind != "contour" else "black", ms=8)
    ax.set_xlabel(DIRECTION_LABELS[0])
    ax.set_ylabel(DIRECTION_LABELS[1])
    ax.set_aspect("auto")
    return art


def _norm(values: list[np.ndarray], vmin, vmax) -> Normalize:
    finite = np.concatenate([v[np.isfinite(v)].ravel() for v in values])
    lo = float(finite.min()) if vmin is None and finite.size else vmin
    hi = float(finite.max()) if vmax is None and finite.size else vmax
    if lo is None or hi is None:
        raise ValueError("Nothing to plot: no finite value to set the colour scale.")
    return Normalize(vmin=lo, vmax=hi)


def _drawable(result: SurfaceResult, region: str, z: np.ndarray) -> np.ndarray:
    reason = empty_reason(result, region, z)
    if reason is not None:
        raise ValueError(f"Nothing to plot: {reason}; plot another region.")
    return z


def _check_kind(kind: str) -> None:
    if kind not in KINDS_2D:
        raise ValueError(f"Invalid kind {kind!r}; choose one of {list(KINDS_2D)}.")


def plot_contour(
    result: SurfaceResult,
    region: str = "all",
    *,
    kind: str = "contour",
    quantity: str = "loss",
    log: bool = False,
    levels: int = 20,
    vmin: float | None = None,
    vmax: float | None = None,
    ax: Axes | None = None,
    colorbar: bool = True,
) -> Figure:
    """2D surface of one region as contour lines, filled contours or a heatmap.

    Parameters
    ----------
    result:
        A 2D surface.
    region:
        The region to draw.
    kind:
        ``"contour"``, ``"filled"`` or ``"heatmap"``.
    quantity:
        ``"loss"`` or ``"mae"``.
    log:
        Plot :math:`\\log_{10}` of the values.
    levels:
        Number of contour levels.
    vmin, vmax:
        Colour range (default: the surface's finite range).
    ax:
        Axes to draw into.
    colorbar:
        Add a colour bar.
    """
    _need_dims(result, 2, "plot_contour")
    _check_kind(kind)
    z = _drawable(result, region, _transform(_values(result, region, quantity), log))
    norm = _norm([z], vmin, vmax)
    fig, ax = _fig_ax(ax, (4.6, 3.8))
    art = _draw_2d(ax, result, z, kind, norm, levels)
    ax.set_title(region_title(result, region))
    if colorbar:
        fig.colorbar(art, ax=ax, label=_label(quantity, result, log))
    return fig


def plot_surface_3d(
    result: SurfaceResult,
    region: str = "all",
    *,
    quantity: str = "loss",
    log: bool = False,
    zmax: float | None = None,
    elev: float = 30.0,
    azim: float = -60.0,
    ax: Axes | None = None,
    colorbar: bool = True,
) -> Figure:
    """2D surface of one region as a 3D surface plot :math:`(\\alpha, \\beta, L_R(\\alpha, \\beta))`.

    Values above ``zmax`` are clipped to it (as loss-landscape's ``--vmax``). ``ax``: a 3D axes
    of your own figure (``fig.add_subplot(2, 2, 1, projection="3d")``); default: a new figure.
    ``colorbar``: add a colour bar beside the axes.
    """
    _need_dims(result, 2, "plot_surface_3d")
    if ax is not None and getattr(ax, "name", "") != "3d":
        raise ValueError(
            f"Invalid ax: a {getattr(ax, 'name', type(ax).__name__)!r} axes; pass one made with "
            "projection='3d'."
        )
    z = _drawable(result, region, _transform(_values(result, region, quantity), log))
    if zmax is not None:
        z = np.minimum(z, zmax)
    xg, yg = np.meshgrid(result.xcoords, result.ycoords)
    if ax is None:
        fig = Figure(figsize=(5.2, 4.4), layout="constrained")
        ax = fig.add_subplot(projection="3d")
    fig = ax.figure
    norm = _norm([z], None, None)
    surf = ax.plot_surface(xg, yg, z, cmap="viridis", norm=norm, linewidth=0, antialiased=True)
    ax.view_init(elev=elev, azim=azim)
    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.yaxis.set_major_locator(MaxNLocator(5))
    ax.set_xlabel(DIRECTION_LABELS[0])
    ax.set_ylabel(DIRECTION_LABELS[1])
    ax.set_zlabel(_label(quantity, result, log))
    ax.set_title(region_title(result, region))
    if colorbar:
        fig.colorbar(surf, ax=ax, shrink=0.6, pad=0.1)
    return fig


def save_figure(
    fig: Figure, path: str | os.PathLike, *, formats: Sequence[str] = ("png", "pdf"), dpi: int = 150
) -> list[Path]:
    """Write ``fig`` to ``path`` + ``.png`` and ``.pdf`` (by default), each atomically.

    ``path`` is given without extension; labels are kept inside the image (tight bounding box).
    """
    base = Path(path)
    if base.suffix.lower() in (".png", ".pdf", ".svg"):
        base = base.with_suffix("")
    written = []
    for fmt in formats:
        target = base.with_name(f"{base.name}.{fmt}")
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight")
        written.append(target)
    return written


# The file-level entry point and the panels live in their own modules (imported for old names).
from analyses.plotting.files import FILE_KINDS, plot_surface_file  # noqa: E402


def __getattr__(name: str) -> Any:
    # ``plot_region_panels`` moved to analyses.plotting.panels, which imports this module.
    if name == "plot_region_panels":
        from analyses.plotting.panels import plot_region_panels

        return plot_region_panels
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
