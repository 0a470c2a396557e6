"""Side-by-side panels of a surface, one per region, on one shared scale (the paper's Figure 1).

:func:`plot_region_panels` draws into axes of its own figure, or into ``axes`` the caller made
(a row of a larger grid); its colour bar takes its room from those axes only.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from analyses.plotting import surfaces as sf
from analyses.plotting.style import DIRECTION_LABELS, region_color
from landscape.store import SurfaceResult

__all__ = ["plot_region_panels", "panel_axes", "say_empty"]


def panel_axes(
    axes: Sequence[Axes] | None, n: int, *, height: float = 3.3, sharey: bool = True
) -> tuple[Figure, list[Axes]]:
    """``n`` axes in a row: ``axes`` when given (checked to be ``n`` of one figure), else new ones.

    Returns
    -------
    (Figure, list of Axes)
        The figure holding them and the axes, in order.
    """
    if axes is None:
        fig = Figure(figsize=(3.4 * n + 0.9, height), layout="constrained")
        row = fig.subplots(1, n, sharex=True, sharey=sharey, squeeze=False)[0]
        return fig, list(row)
    axes = list(np.ravel(np.asarray(axes, dtype=object)))
    if len(axes) != n:
        raise ValueError(f"Invalid axes: {len(axes)} given for {n} regions; pass one per region.")
    figures = {id(ax.figure) for ax in axes}
    if len(figures) != 1:
        raise ValueError("Invalid axes: they belong to different figures; pass axes of one figure.")
    return axes[0].figure, axes


def say_empty(ax: Axes, why: str) -> None:
    """Write ``why`` (an empty region's reason) in the middle of ``ax``, wrapped to fit it."""
    ax.text(
        0.5,
        0.5,
        textwrap.fill(why, 24),
        ha="center",
        va="center",
        transform=ax.transAxes,
        fontsize="small",
    )


def _panels_1d(result, names, axes, quantity, log, mae_in_title):
    for ax, name in zip(axes, names):
        ax.plot(result.xcoords, sf._values(result, name, quantity), color=region_color(name))
        ax.set_title(sf.region_title(result, name, mae=mae_in_title), fontsize="medium")
        ax.set_xlabel(DIRECTION_LABELS[0])
        ax.grid(alpha=0.3)
        if log:
            ax.set_yscale("log")
    axes[0].set_ylabel(sf._label(quantity, result, False))


def plot_region_panels(
    result: SurfaceResult,
    *,
    region_names: Sequence[str] | None = None,
    kind: str = "filled",
    quantity: str = "loss",
    log: bool = False,
    levels: int = 20,
    mae_in_title: bool = True,
    shared_scale: bool = True,
    axes: Sequence[Axes] | None = None,
    regions: Sequence[str] | None = None,
) -> Figure:
    """Side-by-side panels, one per region, on one shared colour scale (or shared y axis in 1D).

    With a shared scale the same colour means the same loss :math:`L_R(\\theta + \\alpha d_1 +
    \\beta d_2)` in every panel, so a sharp few-shot surface is visibly steeper than the flat
    all-sample one (the BSAM paper's Figure 1). Titles carry each region's size and, with
    ``mae_in_title``, its MAE at the origin. A region without anything to draw says why in its
    panel.

    Parameters
    ----------
    result:
        A 1D or 2D surface.
    region_names:
        Regions to draw, one panel each (default: all; ``regions=`` is the old spelling).
    kind, quantity, log, levels:
        As for :func:`analyses.plotting.plot_contour` (``kind`` is ignored in 1D).
    mae_in_title:
        Put each region's MAE at the origin in its title.
    shared_scale:
        One colour scale (2D) or y axis (1D) for all panels; else one colour bar per panel.
    axes:
        One axes per region, of your own figure (e.g. a row of ``fig.subplots(2, 2)``); the
        colour bar takes its room from them. Default: a new figure.

    Returns
    -------
    Figure
        The figure holding the panels.
    """
    names = sf._check_regions(result, region_names, regions, "plot_region_panels")
    if result.dims == 1:
        fig, axs = panel_axes(axes, len(names), height=3.2, sharey=shared_scale)
        _panels_1d(result, names, axs, quantity, log, mae_in_title)
        return fig
    sf._check_kind(kind)
    zs = [sf._transform(sf._values(result, name, quantity), log) for name in names]
    reasons = [sf.empty_reason(result, name, z) for name, z in zip(names, zs)]
    if all(reasons):
        raise ValueError(f"Nothing to plot: {'; '.join(dict.fromkeys(reasons))}.")
    fig, axs = panel_axes(axes, len(names))
    drawn = [z for z, why in zip(zs, reasons) if why is None]
    shared = sf._norm(drawn, None, None) if shared_scale else None
    art = None
    for ax, name, z, why in zip(axs, names, zs, reasons):
        ax.set_title(sf.region_title(result, name, mae=mae_in_title), fontsize="medium")
        if why is not None:  # an empty region: say so, draw the others
            say_empty(ax, why.replace(f"region {name!r} ", ""))
            continue
        art = sf._draw_2d(ax, result, z, kind, shared or sf._norm([z], None, None), levels)
        if not shared_scale:
            fig.colorbar(art, ax=ax)
    for ax in axs[1:]:
        ax.set_ylabel("")
    if shared_scale:
        fig.colorbar(art, ax=axs, label=sf._label(quantity, result, log))
    return fig
