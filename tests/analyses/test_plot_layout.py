"""Every figure function composes into a user's 2x2 grid: its artists stay in its own cell, its
legends inside its own axes, and no pyplot figure is created."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from analyses.plotting import (
    plot_contour,
    plot_curvature_bars,
    plot_curves,
    plot_density,
    plot_region_panels,
    plot_rise_panels,
    plot_rise_slices,
    plot_surface_3d,
)
from landscape.store import SurfaceResult
from tests.analyses.test_figure_style import X, surface_2d

CURVATURE = {
    "regions": {
        name: {
            "lambda_max": 4.0 * (k + 1),
            "trace": 9.0 * (k + 1),
            "trace_se": 0.5,
            "eigen": {"LA": {"residuals": [0.2]}},
            "density": {"grid": [0.0, 1.0, 2.0, 3.0], "density": [0.05, 0.4, 0.3 / (k + 1), 0.01]},
        }
        for k, name in enumerate(("all", "many", "medium", "few"))
    }
}


def _surface_1d() -> SurfaceResult:
    loss = {r: c + k * X**2 for r, c, k in (("all", 6.7, 1), ("many", 6.0, 0.5), ("few", 10.7, 9))}
    counts = {"all": 12208, "many": 9000, "few": 300}
    return SurfaceResult(X, None, loss, loss, counts, np.ones(len(X), bool), {"loss": "l1"})


def _cells(fig: Figure, gs) -> dict[tuple[int, int], Bbox]:
    """Display boxes of the grid's cells: each axes' slot plus half the gaps around it."""
    bottoms, tops, lefts, rights = gs.get_grid_positions(fig)
    xs = [0.0, (rights[0] + lefts[1]) / 2, 1.0]
    ys = [1.0, (bottoms[0] + tops[1]) / 2, 0.0]
    to_px = fig.transFigure
    return {
        (i, j): Bbox([to_px.transform((xs[j], ys[i + 1])), to_px.transform((xs[j + 1], ys[i]))])
        for i in range(2)
        for j in range(2)
    }


def _inside(inner: Bbox, outer: Bbox, tol: float = 1.0) -> bool:
    return (
        inner.x0 >= outer.x0 - tol
        and inner.x1 <= outer.x1 + tol
        and inner.y0 >= outer.y0 - tol
        and inner.y1 <= outer.y1 + tol
    )


def _union(boxes) -> Bbox:
    return Bbox.union(list(boxes))


def _draw(fig: Figure):
    """Draw ``fig`` on an Agg canvas (no pyplot); return its renderer."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def _check(fig: Figure, cells: dict, owner: dict) -> None:
    """Everything each axes draws lies in the cell(s) of the function that drew it."""
    renderer = _draw(fig)
    for ax in fig.axes:
        centre = ax.get_position().frozen().transformed(fig.transFigure)
        home = [key for key, box in cells.items() if box.contains(*centre.get_points().mean(0))]
        (key,) = home
        region = _union(cells[k] for k in owner[key])
        drawn = ax.get_tightbbox(renderer)  # every artist drawn: ticks, labels, title, legend
        assert _inside(drawn, region), (owner[key], ax.get_title(), drawn, region)
        for text in ax.texts:
            box = text.get_window_extent(renderer)
            assert _inside(box, region), (owner[key], text.get_text(), box, region)
        legend = ax.get_legend()
        if legend is not None:
            assert _inside(legend.get_window_extent(renderer), ax.get_window_extent(renderer))


@pytest.fixture(autouse=True)
def _no_pyplot():
    plt.close("all")
    yield
    assert plt.get_fignums() == []


def test_single_axes_functions_stay_in_their_cell():
    fig = Figure(figsize=(11, 8))
    axes = fig.subplots(2, 2)
    fig.subplots_adjust(wspace=0.6, hspace=0.6)
    surface = surface_2d()
    assert plot_curves(_surface_1d(), ax=axes[0, 0]) is fig
    assert plot_contour(surface, "few", kind="filled", ax=axes[0, 1]) is fig
    assert plot_density(CURVATURE, ax=axes[1, 0]) is fig
    assert plot_curvature_bars(CURVATURE, "trace", ax=axes[1, 1]) is fig
    cells = _cells(fig, axes[0, 0].get_subplotspec().get_gridspec())
    _check(fig, cells, {k: [k] for k in cells})
    assert [t.get_text() for t in axes[0, 0].get_legend().get_texts()][0].startswith(
        "all (n=12,208)"
    )


def test_rise_slices_and_3d_surface_stay_in_their_cell():
    fig = Figure(figsize=(11, 8))
    axes = fig.subplots(2, 2)
    fig.subplots_adjust(wspace=0.6, hspace=0.6)
    spec = axes[1, 1].get_subplotspec()
    axes[1, 1].remove()
    ax3d = fig.add_subplot(spec, projection="3d")
    surface = surface_2d()
    assert plot_rise_slices(surface, ax=axes[0, 0]) is fig
    assert plot_curvature_bars(CURVATURE, "lambda_max", ax=axes[0, 1]) is fig
    assert plot_curves(_surface_1d(), region_names=["few"], ax=axes[1, 0], title="few") is fig
    assert plot_surface_3d(surface, "few", ax=ax3d, colorbar=False) is fig
    cells = _cells(fig, axes[0, 0].get_subplotspec().get_gridspec())
    _check(fig, cells, {k: [k] for k in cells})


def test_3d_surface_refuses_a_flat_axes():
    ax = Figure().subplots()
    with pytest.raises(ValueError, match="Invalid ax: a 'rectilinear' axes; pass one made with"):
        plot_surface_3d(surface_2d(), "few", ax=ax)


@pytest.mark.parametrize("draw", [plot_region_panels, plot_rise_panels])
def test_panels_fill_the_row_they_are_given(draw):
    fig = Figure(figsize=(11, 8))
    axes = fig.subplots(2, 2)
    fig.subplots_adjust(wspace=0.6, hspace=0.6)
    surface = surface_2d()
    assert draw(surface, region_names=["all", "few"], axes=axes[1]) is fig
    plot_curves(_surface_1d(), ax=axes[0, 0])
    plot_density(CURVATURE, ax=axes[0, 1])
    cells = _cells(fig, axes[0, 0].get_subplotspec().get_gridspec())
    row = [(1, 0), (1, 1)]
    _check(fig, cells, {(0, 0): [(0, 0)], (0, 1): [(0, 1)], (1, 0): row, (1, 1): row})
    colorbars = [ax for ax in fig.axes if ax not in axes.ravel()]
    assert len(colorbars) == 1
    assert colorbars[0].get_position().y1 <= axes[0, 0].get_position().y0


def test_panels_refuse_the_wrong_number_of_axes():
    axes = Figure().subplots(1, 3)
    with pytest.raises(
        ValueError, match="Invalid axes: 3 given for 2 regions; pass one per region"
    ):
        plot_region_panels(surface_2d(), region_names=["all", "few"], axes=axes)


def test_empty_region_text_stays_in_its_panel():
    surface = surface_2d()
    surface.loss["few"] = np.full_like(surface.loss["few"], math.nan)
    surface.count["few"] = 0
    fig = Figure(figsize=(11, 8))
    axes = fig.subplots(2, 2)
    fig.subplots_adjust(wspace=0.6, hspace=0.6)
    plot_region_panels(surface, region_names=["all", "few"], axes=axes[0])
    renderer = _draw(fig)
    (text,) = [t for t in axes[0, 1].texts if "no sample" in t.get_text()]
    assert _inside(text.get_window_extent(renderer), axes[0, 1].get_window_extent(renderer))
