"""Plotting functions (matplotlib, no pyplot state): loss surfaces per region, ParaView export."""

from analyses.plotting.surfaces import (
    plot_contour,
    plot_curves,
    plot_region_panels,
    plot_surface_3d,
    plot_surface_file,
    region_title,
    save_figure,
)
from analyses.plotting.vtp import write_vtp

__all__ = [
    "plot_contour",
    "plot_curves",
    "plot_region_panels",
    "plot_surface_3d",
    "plot_surface_file",
    "region_title",
    "save_figure",
    "write_vtp",
]
