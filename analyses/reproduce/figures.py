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

from analyses.plotting import plot_contour, plot_curves, plot_density
from analyses.plotting.rise import plot_rise_panels, plot_rise_slices
from analyses.plotting.style import method_color, method_order, seeds_note, stamp_quick
from analyses.reproduce.config import METHOD_LABELS
from bsam.regions import region_arguments
from landscape import read_surface

__all__ = [
    "figure1",
    "figure1_rise",
    "figure1_methods",
    "curves_by_method",
    "flatness_by_region",
    "density_by_method",
    "rho_figure",
]


def _ordered(by_method: Mapping[str, object]) -> dict[str, object]:
    """``by_method`` in the one method order of every figure (:func:`method_order`)."""
    return {m: by_method[m] for m in method_order(by_method)}


def _shared_range(results: Sequence, regions: Sequence[str]) -> tuple[float, float]:
    values = np.concatenate(
        [r.loss[g][np.isfinite(r.loss[g])].ravel() for r in results for g in regions]
    )
    return float(values.min()), float(values.max())


def _few_ticks(ax) -> None:
    """At most five ticks per axis, so side-by-side panels keep readable labels."""
    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.yaxis.set_major_locator(MaxNLocator(5))


def _mappable(lo: float, hi: float) -> ScalarMappable:
    return ScalarMappable(Normalize(vmin=lo, vmax=hi), cmap="viridis")


def figure1(
    path_2d: str | Path,
    *,
    region_names: Sequence[str] | None = None,
    label: str = "Vanilla",
    regions: Sequence[str] | None = None,
    quick: bool = False,
) -> Figure:
    """The paper's Figure 1: one model's 2D loss surface over all test samples next to the few-shot
    ones, filled contours on one shared colour scale, each panel titled with its MAE at the origin.

    With ``quick`` the figure carries the stamp ``quick settings: not a result``."""
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
    stamp_quick(fig, quick)
    return fig


def figure1_rise(
    path_2d: str | Path,
    *,
    region_names: Sequence[str] | None = None,
    label: str = "Vanilla",
    quick: bool = False,
) -> Figure:
    r"""Figure 1 as sharpness: each region's rise :math:`L_R(\theta + \alpha d_1 + \beta d_2) -
    L_R(\theta)` on one shared colour scale, and the regions' slices :math:`\beta = 0` of it
    overlaid in one axes (all 0 at the centre, so a steeper curve is a sharper region).

    With ``quick`` the figure carries the stamp ``quick settings: not a result``."""
    _, regions = region_arguments(None, region_names, default=("all", "few"), where="figure1_rise")
    res = read_surface(path_2d)
    n = len(regions)
    fig = Figure(figsize=(3.9 * (n + 1) + 0.8, 3.9), layout="constrained")
    axes = list(fig.subplots(1, n + 1, squeeze=False)[0])
    for ax in axes[1:n]:
        ax.sharex(axes[0])
        ax.sharey(axes[0])
    plot_rise_panels(res, region_names=regions, axes=axes[:n])
    plot_rise_slices(res, region_names=regions, ax=axes[n])
    for ax in axes[:n]:
        _few_ticks(ax)
    axes[n].set_title("slices β = 0, rise above centre", fontsize="medium")
    fig.suptitle(f"{label}: rise of the loss above its value at the centre, by test region")
    stamp_quick(fig, quick)
    return fig


def figure1_methods(
    paths_2d: Mapping[str, str | Path],
    *,
    region_names: Sequence[str] | None = None,
    regions: Sequence[str] | None = None,
    quick: bool = False,
) -> Figure:
    """Figure 1 for several methods: rows are methods (in the one method order), columns regions,
    one colour scale for all. With ``quick``: the ``quick settings: not a result`` stamp."""
    _, regions = region_arguments(
        regions, region_names, default=("all", "few"), where="figure1_methods"
    )
    results = {m: read_surface(p) for m, p in _ordered(paths_2d).items()}
    lo, hi = _shared_range(list(results.values()), regions)
    n_rows, n_cols = len(results), len(regions)
    fig = Figure(figsize=(3.9 * n_cols + 1.2, 3.3 * n_rows + 0.4), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, sharex=True, sharey=True, squeeze=False)
    for i, (method, res) in enumerate(results.items()):
        for j, region in enumerate(regions):
            ax = axes[i, j]
            plot_contour(res, region, kind="filled", vmin=lo, vmax=hi, ax=ax, colorbar=False)
            _few_ticks(ax)
            ax.set_title(
                f"{METHOD_LABELS.get(method, method)} · {ax.get_title()}",
                fontsize="medium",
                color=method_color(method),
            )
            if i < n_rows - 1:
                ax.set_xlabel("")
            if j > 0:
                ax.set_ylabel("")
    fig.colorbar(_mappable(lo, hi), ax=axes.ravel().tolist(), label="L1 loss (shared scale)")
    stamp_quick(fig, quick)
    return fig


def curves_by_method(
    paths_1d: Mapping[str, str | Path],
    *,
    region_names: Sequence[str] | None = None,
    regions: Sequence[str] | None = None,
    quick: bool = False,
) -> Figure:
    """1D surfaces, one panel per method (in the one method order) with every region overlaid, on a
    shared y axis. With ``quick``: the ``quick settings: not a result`` stamp."""
    _, regions = region_arguments(
        regions, region_names, default=("all", "many", "medium", "few"), where="curves_by_method"
    )
    results = {m: read_surface(p) for m, p in _ordered(paths_1d).items()}
    fig = Figure(figsize=(4.3 * len(results), 4.2), layout="constrained")
    axes = fig.subplots(1, len(results), sharey=True, squeeze=False)[0]
    for ax, (method, res) in zip(axes, results.items()):
        plot_curves(
            res,
            region_names=[r for r in regions if r in res.loss],
            ax=ax,
            title=METHOD_LABELS.get(method, method),
        )
    for ax in axes[1:]:
        ax.set_ylabel("")
    stamp_quick(fig, quick)
    return fig


def _cell(row: Mapping[str, object] | None, metric: str) -> tuple[float, float, int | None]:
    """``(mean, std, n seeds)`` of a flatness row's metric; ``n`` from ``seeds`` (or a third item),
    else 1 when the std is NaN under a finite mean (``mean_std`` of one value), else unknown."""
    cell = None if row is None else row.get(metric)
    if not isinstance(cell, tuple):
        return math.nan, math.nan, None
    mean, std = float(cell[0]), math.nan if cell[1] is None else float(cell[1])
    n = cell[2] if len(cell) > 2 else row.get("seeds")
    if n is None and math.isfinite(mean) and not math.isfinite(std):
        n = 1
    return mean, std, None if n is None else int(n)


def _bars(
    ax, x: np.ndarray, cells: list[tuple[float, float, int | None]], method: str, width: float
) -> list[int | None]:
    """One method's bars: error bars where there is a spread, ``n = 1`` written over one-seed bars."""
    means = np.array([c[0] for c in cells])
    stds = np.array([c[1] for c in cells])
    ax.bar(x, means, width, label=METHOD_LABELS.get(method, method), color=method_color(method))
    spread = np.isfinite(means) & np.isfinite(stds) & np.array([c[2] != 1 for c in cells])
    if spread.any():
        ax.errorbar(
            x[spread], means[spread], yerr=stds[spread], fmt="none", ecolor="black", capsize=3
        )
    for xi, (mean, _, n) in zip(x, cells):
        if n == 1 and math.isfinite(mean):
            ax.annotate(
                "n = 1",
                (xi, mean),
                xytext=(0, 2),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize="x-small",
                rotation=90,
            )
    return [c[2] for c in cells if math.isfinite(c[0])]


def flatness_by_region(
    rows: Sequence[Mapping[str, object]],
    *,
    metrics: Sequence[str] = ("lambda_max", "trace"),
    region_names: Sequence[str] | None = None,
    regions: Sequence[str] | None = None,
    quick: bool = False,
    curvature: str = "hessian",
) -> Figure:
    """Bar chart of curvature metrics per region and method (mean ± std over seeds, test split).

    ``rows`` have keys ``method``, ``region`` and ``<metric>`` as ``(mean, std)`` (or ``(mean, std,
    n)``), optionally ``seeds`` (their number). Bars stand on a linear axis from 0, methods in the
    one method order and colour of every figure; the legend says what an error bar is ("mean ±
    std over n seeds"); a one-seed bar carries ``n = 1`` instead of a zero-length bar. With
    ``quick``: the ``quick settings: not a result`` stamp. ``curvature`` (``"hessian"`` or
    ``"ggn"``) names the trace's matrix on its axis: Tr(H), or Tr(G) for the Gauss-Newton
    matrix ``G = J^T J / M``.
    """
    from analyses.tables import curvature_headers

    _, regions = region_arguments(regions, region_names, where="flatness_by_region")
    trace_name = curvature_headers(curvature)["trace"]
    methods = method_order(str(r["method"]) for r in rows)
    fig = Figure(figsize=(4.6 * len(metrics), 3.8), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    width = 0.8 / max(len(methods), 1)
    x = np.arange(len(regions))
    counts: list[int | None] = []
    for ax, metric in zip(axes, metrics):
        tops = [0.0]
        for k, method in enumerate(methods):
            found = {r["region"]: r for r in rows if r["method"] == method}
            cells = [_cell(found.get(region), metric) for region in regions]
            counts += _bars(ax, x + (k - (len(methods) - 1) / 2) * width, cells, method, width)
            tops += [m + (s if math.isfinite(s) else 0.0) for m, s, _ in cells if math.isfinite(m)]
        ax.set_xticks(x, list(regions))
        ax.set_xlabel("test region")
        ax.set_ylabel(
            {"lambda_max": "λ_max (largest eigenvalue)", "trace": trace_name}.get(metric, metric)
        )
        # Headroom above the highest bar for the n = 1 marks and the legend.
        ax.set_ylim(min(0.0, min(tops)), max(max(tops), 1e-12) * 1.35)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(
        fontsize="small",
        frameon=False,
        loc="upper left",
        title=seeds_note(counts),
        title_fontsize="x-small",
        ncols=2,
    )
    stamp_quick(fig, quick)
    return fig


def density_by_method(
    results: Mapping[str, Mapping],
    *,
    region_names: Sequence[str] | None = None,
    regions: Sequence[str] | None = None,
    quick: bool = False,
) -> Figure:
    """Spectral densities (SLQ) per region, one panel per method, on a shared eigenvalue axis.

    ``results`` maps a method to the output of :func:`analyses.curvature.region_curvature` with
    the density metric; panels follow the one method order. With ``quick``: the ``quick
    settings: not a result`` stamp.
    """
    _, regions = region_arguments(regions, region_names, default=None, where="density_by_method")
    fig = Figure(figsize=(4.6 * len(results), 3.8), layout="constrained")
    axes = fig.subplots(1, len(results), sharex=True, sharey=True, squeeze=False)[0]
    for ax, (method, result) in zip(axes, _ordered(results).items()):
        plot_density(result, region_names=regions, ax=ax, title=METHOD_LABELS.get(method, method))
    for ax in axes[1:]:
        ax.set_ylabel("")
    stamp_quick(fig, quick)
    return fig


def rho_figure(rows: Sequence[Mapping[str, float]], *, quick: bool = False) -> Figure:
    """The paper's Figure 2: test MAE (all and few-shot) against rho; SQINV as a dashed baseline.

    Each method keeps its colour of every figure (:func:`method_color`). With ``quick``: the
    ``quick settings: not a result`` stamp."""
    fig = Figure(figsize=(9.0, 3.6), layout="constrained")
    axes = fig.subplots(1, 2, squeeze=False)[0]
    rhos = [r["rho"] for r in rows]
    for ax, region in zip(axes, ("all", "few")):
        for method in ("sam", "imbsam", "bsam"):
            ax.plot(
                rhos,
                [r[f"{method}_{region}"] for r in rows],
                marker="o",
                label=METHOD_LABELS[method],
                color=method_color(method),
            )
        ax.axhline(rows[0][f"sqinv_{region}"], ls="--", color=method_color("sqinv"), label="SQINV")
        ax.set_xticks(rhos)
        ax.set_xlabel("ρ (perturbation radius)")
        ax.set_ylabel(f"test MAE ({region})")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize="small", frameon=False)
    stamp_quick(fig, quick)
    return fig
