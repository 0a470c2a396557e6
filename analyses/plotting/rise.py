r"""Sharpness, not loss level: the rise of a region's loss above its value at the centre.

On one colour scale a few-shot surface is brighter everywhere because its loss is higher, which
says nothing about its shape. The rise

.. math:: \Delta L_R(\alpha, \beta) = L_R(\theta + \alpha d_1 + \beta d_2) - L_R(\theta)

is zero at the centre of every region, so one shared colour scale (or one y axis) compares how
fast each region's loss grows away from the trained weights: its sharpness.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from analyses.plotting import surfaces as sf
from analyses.plotting.panels import panel_axes, say_empty
from analyses.plotting.style import DIRECTION_LABELS, legend_inside, region_color
from landscape.store import SurfaceResult

__all__ = ["loss_rise", "plot_rise_panels", "plot_rise_slices"]


def loss_rise(result: SurfaceResult, region: str, quantity: str = "loss") -> np.ndarray:
    r"""The rise :math:`L_R(\theta + \alpha d_1 + \beta d_2) - L_R(\theta)` over the grid.

    Parameters
    ----------
    result:
        A 1D or 2D surface whose grid holds the origin (``0`` in every coordinate).
    region:
        The region :math:`R`.
    quantity:
        ``"loss"`` or ``"mae"``.

    Returns
    -------
    numpy.ndarray
        The grid's values minus the value at the origin (shape of the grid; 0 at the origin).
    """
    idx = result.origin_index()
    coords = [result.xcoords[idx[-1]]] + (
        [] if result.ycoords is None else [result.ycoords[idx[0]]]
    )
    span = max(float(np.ptp(result.xcoords)), 1e-300)
    if any(abs(float(c)) > 1e-9 * span for c in coords):
        raise ValueError(
            f"Invalid grid: no point at the origin (closest: {[float(c) for c in coords]}); "
            "compute the surface on a grid through 0 (an odd number of points over a symmetric "
            "range)."
        )
    z = np.asarray(result.grid(region, quantity), dtype=np.float64)
    return z - z[idx]


def plot_rise_panels(
    result: SurfaceResult,
    *,
    region_names: Sequence[str] | None = None,
    kind: str = "filled",
    quantity: str = "loss",
    levels: int = 20,
    axes: Sequence[Axes] | None = None,
) -> Figure:
    """One panel per region of the 2D rise :func:`loss_rise`, all on one shared colour scale.

    Parameters
    ----------
    result:
        A 2D surface.
    region_names:
        Regions to draw, one panel each (default: all).
    kind, quantity, levels:
        As for :func:`analyses.plotting.plot_contour`.
    axes:
        One axes per region, of your own figure; default: a new figure.

    Returns
    -------
    Figure
        The figure holding the panels and one colour bar (``rise of the loss above the centre``).
    """
    sf._need_dims(result, 2, "plot_rise_panels")
    sf._check_kind(kind)
    names = sf._check_regions(result, region_names, None, "plot_rise_panels")
    rises = [loss_rise(result, name, quantity) for name in names]
    reasons = [sf.empty_reason(result, name, z) for name, z in zip(names, rises)]
    if all(reasons):
        raise ValueError(f"Nothing to plot: {'; '.join(dict.fromkeys(reasons))}.")
    fig, axs = panel_axes(axes, len(names))
    norm = sf._norm([z for z, why in zip(rises, reasons) if why is None], None, None)
    art = None
    for ax, name, z, why in zip(axs, names, rises, reasons):
        ax.set_title(sf.region_title(result, name), fontsize="medium")
        if why is not None:
            say_empty(ax, why.replace(f"region {name!r} ", ""))
            continue
        art = sf._draw_2d(ax, result, z, kind, norm, levels)
    for ax in axs[1:]:
        ax.set_ylabel("")
    label = f"{sf._label(quantity, result, False)} − value at centre"
    fig.colorbar(art, ax=axs, label=label)
    return fig


def plot_rise_slices(
    result: SurfaceResult,
    *,
    region_names: Sequence[str] | None = None,
    quantity: str = "loss",
    ax: Axes | None = None,
) -> Figure:
    """Every region's rise along direction 1 overlaid in one axes (the slice β = 0 of a 2D surface).

    Parameters
    ----------
    result:
        A 1D surface, or a 2D one (its row through the origin is drawn).
    region_names:
        Regions to draw (default: all); empty regions are left out.
    quantity:
        ``"loss"`` or ``"mae"``.
    ax:
        Axes to draw into (default: a new figure).

    Returns
    -------
    Figure
        The figure holding the axes: one curve per region, 0 at α = 0, legend inside the axes.
    """
    names = sf._check_regions(result, region_names, None, "plot_rise_slices")
    fig, ax = sf._fig_ax(ax, (4.6, 3.6))
    row = None if result.ycoords is None else result.origin_index()[0]
    for name in names:
        z = loss_rise(result, name, quantity)
        z = z if row is None else z[row]
        if np.isfinite(z).any():
            ax.plot(result.xcoords, z, color=region_color(name), lw=1.8, label=name)
    ax.axhline(0.0, color="0.6", lw=0.6)
    ax.set_xlabel(DIRECTION_LABELS[0] + ("" if row is None else ", β = 0"))
    ax.set_ylabel(f"{sf._label(quantity, result, False)} − value at centre")
    ax.grid(alpha=0.3)
    legend_inside(ax, loc="upper center")
    return fig
