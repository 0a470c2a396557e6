"""Plotting functions (matplotlib, no pyplot state): loss surfaces per region, Hessian spectra,
ParaView export, and the file-level entry points behind ``bsam plot``."""

from analyses.plotting.files import plot_surface_file
from analyses.plotting.spectra import plot_curvature_bars, plot_density, plot_hessian_file
from analyses.plotting.surfaces import (
    empty_reason,
    plot_contour,
    plot_curves,
    plot_region_panels,
    plot_surface_3d,
    region_title,
    save_figure,
)
from analyses.plotting.vtp import write_vtp

__all__ = [
    "empty_reason",
    "plot_contour",
    "plot_curvature_bars",
    "plot_curves",
    "plot_density",
    "plot_hessian_file",
    "plot_region_panels",
    "plot_surface_3d",
    "plot_surface_file",
    "region_title",
    "save_figure",
    "write_vtp",
]
