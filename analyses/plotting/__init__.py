"""Plotting functions (matplotlib, no pyplot state): loss surfaces per region, the rise above the
centre, Hessian spectra, ParaView export, one shared style, and the file-level entry points behind
``bsam plot``.

Every figure function draws into axes you pass (``ax=``, or ``axes=`` for the multi-panel ones)
and returns their figure, so it composes into your own subplot grid; without them it makes its
own :class:`~matplotlib.figure.Figure`. Legends stay inside their own axes.
"""

from analyses.plotting.files import FILE_KINDS, plan_surface_files, plot_surface_file
from analyses.plotting.panels import plot_region_panels
from analyses.plotting.rise import loss_rise, plot_rise_panels, plot_rise_slices
from analyses.plotting.spectra import (
    BAR_QUANTITIES,
    ERROR_NOTES,
    HESSIAN_KINDS,
    hessian_kinds,
    plot_curvature_bars,
    plot_density,
    plot_hessian_file,
)
from analyses.plotting.style import (
    DIRECTION_LABELS,
    METHOD_COLORS,
    METHOD_ORDER,
    QUICK_STAMP,
    REGION_COLORS,
    REGION_ORDER,
    legend_inside,
    method_color,
    method_key,
    method_order,
    region_color,
    seeds_note,
    stamp_quick,
)
from analyses.plotting.surfaces import (
    KINDS_2D,
    empty_reason,
    plot_contour,
    plot_curves,
    plot_surface_3d,
    region_title,
    save_figure,
)
from analyses.plotting.vtp import write_vtp

__all__ = [
    "BAR_QUANTITIES",
    "DIRECTION_LABELS",
    "ERROR_NOTES",
    "FILE_KINDS",
    "HESSIAN_KINDS",
    "KINDS_2D",
    "METHOD_COLORS",
    "METHOD_ORDER",
    "QUICK_STAMP",
    "REGION_COLORS",
    "REGION_ORDER",
    "empty_reason",
    "hessian_kinds",
    "legend_inside",
    "loss_rise",
    "method_color",
    "method_key",
    "method_order",
    "plan_surface_files",
    "plot_contour",
    "plot_curvature_bars",
    "plot_curves",
    "plot_density",
    "plot_hessian_file",
    "plot_region_panels",
    "plot_rise_panels",
    "plot_rise_slices",
    "plot_surface_3d",
    "plot_surface_file",
    "region_color",
    "region_title",
    "save_figure",
    "seeds_note",
    "stamp_quick",
    "write_vtp",
]
