"""Figures of the reproduction: Figure 1 (surfaces per region), Figure 2 (rho), flatness per region.

Each function takes already computed results (surface files, Hessian tables, MAE rows) and returns a
matplotlib :class:`~matplotlib.figure.Figure`; nothing here trains or evaluates a model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from analyses.plotting import plot_contour, plot_curves
from analyses.plotting.spectra import plot_density
from analyses.reproduce.config import METHOD_LABELS
from bsam.regions import region_arguments
from landscape import read_surface

__all__ = [
    "figure1",
    "figure1_methods",
    "curves_by_method",
    "flatness_by_region",
    "density_by_method",
    "rho_figure",
]

_METHOD_COLORS = {"vanilla": "#7f7f7f", "sqinv": "#1f77b4", "sam": "#2ca02c", "imbsam": "#9467bd", "bsam": "#d62728"}


def _shared_range(results: Sequence, regions: Sequence[str]) -> tuple[float, float]:
    values = np.concatenate([r.loss[g][np.isfinite(r.loss[g])].ravel() for r in results for g in regions])
    return float(values.min()), float(values.max())


def _few_ticks(ax) -> None:
    """At most five ticks per axis, so side-by-side panels keep readable labels."""
    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.yaxis.set_major_locator(MaxNLocator(5))


def _mappable(lo: float, hi: float) -> ScalarMappable:
    return ScalarMappable(Normalize(vmin=lo, vmax=hi), cmap="viridis")


def figure1(path_2d: str | Path, *, region_names: Sequence[str] | None = None, label: str = "Vanilla",
            regions: Sequence[str] | None = None) -> Figure:
    """The paper's Figure 1: one model's 2D loss surface over all test samples next to the few-shot
    ones, filled contours on one shared colour scale, each panel titled with its MAE at the origin."""
    _, regions = region_arguments(regions, region_names, default=("all", "few"), where="figure1")
    res = read_surface(path_2d)
    lo, hi = _shared_range([res], regions)
    fig = Figure(figsize=(4.2 * len(regions) + 1.0, 3.9), layout="constrained")
    axes = fig.subplots(1, len(regions), sharex=True, sharey=True, squeeze=False)[0]
    for ax, region in zip(axes, regions):
        plot_contour(res, region, kind="filled", vmin=lo, vmax=hi, ax=ax, colorbar=False)
        _few_ticks(ax)
    fig.colorbar(_mappable(lo, hi), ax=list(axes), label="L1 loss (shared scale)")
    fig.suptitle(f"{label}: loss landscape by test region (filter-normalized directions)")
    return fig


def figure1_methods(paths_2d: Mapping[str, str | Path], *, region_names: Sequence[str] | None = None,
                    regions: Sequence[str] | None = None) -> Figure:
    """Figure 1 for several methods: rows are methods, columns regions, one colour scale for all."""
    _, regions = region_arguments(regions, region_names, default=("all", "few"), where="figure1_methods")
    results = {m: read_surface(p) for m, p in paths_2d.items()}
    lo, hi = _shared_range(list(results.values()), regions)
    n_rows, n_cols = len(results), len(regions)
    fig = Figure(figsize=(3.9 * n_cols + 1.2, 3.3 * n_rows + 0.4), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, sharex=True, sharey=True, squeeze=False)
    for i, (method, res) in enumerate(results.items()):
        for j, region in enumerate(regions):
            ax = axes[i, j]
            plot_contour(res, region, kind="filled", vmin=lo, vmax=hi, ax=ax, colorbar=False)
            _few_ticks(ax)
            ax.set_title(f"{METHOD_LABELS.get(method, method)} · {ax.get_title()}", fontsize="medium")
            if i < n_rows - 1:
                ax.set_xlabel("")
            if j > 0:
                ax.set_ylabel("")
    fig.colorbar(_mappable(lo, hi), ax=axes.ravel().tolist(), label="L1 loss (shared scale)")
    return fig


def curves_by_method(paths_1d: Mapping[str, str | Path], *, region_names: Sequence[str] | None = None,
                     regions: Sequence[str] | None = None) -> Figure:
    """1D surfaces, one panel per method with every region overlaid, on a shared y axis."""
    _, regions = region_arguments(regions, region_names, default=("all", "many", "medium", "few"), where="curves_by_method")
    results = {m: read_surface(p) for m, p in paths_1d.items()}
    fig = Figure(figsize=(4.3 * len(results), 4.2), layout="constrained")
    axes = fig.subplots(1, len(results), sharey=True, squeeze=False)[0]
    for ax, (method, res) in zip(axes, results.items()):
        plot_curves(res, region_names=[r for r in regions if r in res.loss], ax=ax, title=METHOD_LABELS.get(method, method))
    for ax in axes[1:]:
        ax.set_ylabel("")
    return fig


def flatness_by_region(
    rows: Sequence[Mapping[str, object]],
    *,
    metrics: Sequence[str] = ("lambda_max", "trace"),
    region_names: Sequence[str] | None = None,
    regions: Sequence[str] | None = None,
) -> Figure:
    """Bar chart of Hessian metrics per region and method (mean ± std over seeds, test split).

    ``rows`` have keys ``method``, ``region`` and ``<metric>`` as ``(mean, std)``; a log axis keeps
    regions of very different curvature readable.
    """
    _, regions = region_arguments(regions, region_names, where="flatness_by_region")
    methods = list(dict.fromkeys(str(r["method"]) for r in rows))
    fig = Figure(figsize=(4.6 * len(metrics), 3.8), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    width = 0.8 / max(len(methods), 1)
    x = np.arange(len(regions))
    for ax, metric in zip(axes, metrics):
        for k, method in enumerate(methods):
            means, stds = [], []
            for region in regions:
                cell = next((r.get(metric) for r in rows if r["method"] == method and r["region"] == region), None)
                mean, std = cell if isinstance(cell, tuple) else (math.nan, math.nan)
                means.append(mean)
                stds.append(0.0 if std is None or not math.isfinite(std) else std)
            ax.bar(x + (k - (len(methods) - 1) / 2) * width, means, width, yerr=stds, capsize=3,
                   label=METHOD_LABELS.get(method, method), color=_METHOD_COLORS.get(method))
        ax.set_xticks(x, list(regions))
        ax.set_xlabel("test region")
        ax.set_ylabel({"lambda_max": "λ_max (largest eigenvalue)", "trace": "Tr(H)"}.get(metric, metric))
        positive = [b.get_height() for b in ax.patches if np.isfinite(b.get_height())]
        if positive and min(positive) > 0:
            ax.set_yscale("log")
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize="small", frameon=False)
    return fig


def density_by_method(results: Mapping[str, Mapping], *, region_names: Sequence[str] | None = None,
                      regions: Sequence[str] | None = None) -> Figure:
    """Spectral densities (SLQ) per region, one panel per method, on a shared eigenvalue axis.

    ``results`` maps a method to the output of :func:`analyses.curvature.region_curvature` with
    the density metric.
    """
    _, regions = region_arguments(regions, region_names, default=None, where="density_by_method")
    fig = Figure(figsize=(4.6 * len(results), 3.8), layout="constrained")
    axes = fig.subplots(1, len(results), sharex=True, sharey=True, squeeze=False)[0]
    for ax, (method, result) in zip(axes, results.items()):
        plot_density(result, region_names=regions, ax=ax, title=METHOD_LABELS.get(method, method))
    for ax in axes[1:]:
        ax.set_ylabel("")
    return fig


def rho_figure(rows: Sequence[Mapping[str, float]]) -> Figure:
    """The paper's Figure 2: test MAE (all and few-shot) against rho; SQINV as a dashed baseline."""
    fig = Figure(figsize=(9.0, 3.6), layout="constrained")
    axes = fig.subplots(1, 2, squeeze=False)[0]
    rhos = [r["rho"] for r in rows]
    for ax, region in zip(axes, ("all", "few")):
        for method in ("sam", "imbsam", "bsam"):
            ax.plot(rhos, [r[f"{method}_{region}"] for r in rows], marker="o",
                    label=METHOD_LABELS[method], color=_METHOD_COLORS[method])
        ax.axhline(rows[0][f"sqinv_{region}"], ls="--", color=_METHOD_COLORS["sqinv"], label="SQINV")
        ax.set_xticks(rhos)
        ax.set_xlabel("ρ (perturbation radius)")
        ax.set_ylabel(f"test MAE ({region})")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize="small", frameon=False)
    return fig
