"""One style across figures: method colours and order, direction names, quick stamp, error bars,
and Figure 1's rise above the centre, checked on the artists against known values."""

import json
import math

import numpy as np
import pytest
from matplotlib.collections import LineCollection, QuadMesh
from matplotlib.contour import QuadContourSet
from matplotlib.patches import Rectangle

from analyses.plotting import (
    DIRECTION_LABELS,
    METHOD_ORDER,
    QUICK_STAMP,
    loss_rise,
    method_color,
    method_order,
    plot_contour,
    plot_curvature_bars,
    plot_rise_panels,
    plot_rise_slices,
    seeds_note,
)
from analyses.reproduce import figures
from landscape.store import SurfaceResult, SurfaceStore

X = np.linspace(-1.0, 1.0, 5)
Y = np.linspace(-0.5, 0.5, 3)
#: Analytic surfaces L_R(a, b) = C_R + K_R (a^2 + 4 b^2): the rise is K_R (a^2 + 4 b^2).
LEVEL = {"all": 6.7, "many": 6.0, "few": 10.7}
CURVE = {"all": 1.0, "many": 0.5, "few": 9.0}


def bowl(region: str, a, b=0.0):
    """The analytic loss of ``region`` at (a, b)."""
    return LEVEL[region] + CURVE[region] * (np.asarray(a) ** 2 + 4 * np.asarray(b) ** 2)


def surface_2d(x=X, y=Y) -> SurfaceResult:
    """A 2D surface of the analytic bowls, stored ``(ny, nx)``."""
    a, b = np.meshgrid(x, y)
    loss = {r: bowl(r, a, b) for r in LEVEL}
    mae = {r: v + 1.0 for r, v in loss.items()}
    counts = {"all": 300, "many": 250, "few": 50}
    return SurfaceResult(x, y, loss, mae, counts, np.ones(a.shape, bool), {"loss": "l1"})


def surface_file(path, *, scale: float = 1.0, dims: int = 2) -> str:
    """The analytic surface (losses times ``scale``; 1D: the slice b = 0) written by the store."""
    names = list(LEVEL)
    store = SurfaceStore(
        path,
        identity={"loss": "l1", "regions": json.dumps({"names": names})},
        info={},
        xcoords=X,
        ycoords=Y if dims == 2 else None,
        names=names,
        counts=np.array([300, 250, 50]),
    )
    flat = np.arange(len(X) * (len(Y) if dims == 2 else 1))
    a = X[flat % len(X)]  # row-major over (ny, nx): x fastest
    b = Y[flat // len(X)] if dims == 2 else 0.0
    loss = np.stack([scale * bowl(r, a, b) for r in names], axis=1)
    store.write(flat, np.stack([loss, loss + 1.0], axis=2))
    return str(path)


def _rows(counts=None):
    counts = counts or {"sqinv": 3, "bsam": 1, "vanilla": 2}
    rows = []
    for k, (method, n) in enumerate(counts.items()):
        for j, region in enumerate(("all", "few")):
            std = math.nan if n == 1 else 0.5 + j
            value = (10.0 * (k + 1) + j, std)
            row = {"method": method, "region": region, "lambda_max": value, "trace": value}
            rows.append(row if n == 1 else {**row, "seeds": n})  # n = 1 inferred from the NaN std
    return rows


def _bar_colors(fig) -> dict[str, tuple]:
    ax = fig.axes[0]
    handles, labels = ax.get_legend_handles_labels()
    return {lab: tuple(h.patches[0].get_facecolor()) for h, lab in zip(handles, labels)}


def test_a_method_has_one_colour_in_two_figures():
    from matplotlib.colors import to_rgba

    bars = _bar_colors(figures.flatness_by_region(_rows(), region_names=["all", "few"]))
    rho = figures.rho_figure(
        [
            {
                "rho": r,
                **{
                    f"{m}_{g}": 6.0 + r
                    for m in ("sam", "imbsam", "bsam", "sqinv")
                    for g in ("all", "few")
                },
            }
            for r in (0.05, 0.1)
        ]
    )
    lines = {ln.get_label(): to_rgba(ln.get_color()) for ln in rho.axes[0].get_lines()}
    assert bars["SQINV + BSAM"] == lines["SQINV + BSAM"] == to_rgba(method_color("bsam"))
    assert bars["SQINV"] == lines["SQINV"] == to_rgba(method_color("SQINV"))
    assert len({to_rgba(method_color(m)) for m in METHOD_ORDER}) == len(METHOD_ORDER)


def test_methods_follow_one_order():
    assert method_order(["bsam", "mine", "vanilla", "SQINV + SAM", "bsam"]) == [
        "vanilla",
        "SQINV + SAM",
        "bsam",
        "mine",
    ]
    fig = figures.flatness_by_region(_rows(), region_names=["all", "few"])
    assert fig.axes[0].get_legend_handles_labels()[1] == ["Vanilla", "SQINV", "SQINV + BSAM"]
    assert method_color("mine") == method_color("MINE")  # an unknown method keeps its colour


def test_flatness_bars_are_linear_and_say_what_an_error_bar_is():
    rows = _rows()
    fig = figures.flatness_by_region(rows, region_names=["all", "few"])
    for ax in fig.axes:
        assert ax.get_yscale() == "linear"
        assert ax.get_ylim()[0] == 0.0
    legend = fig.axes[0].get_legend()
    assert legend.get_title().get_text() == seeds_note([3, 3, 1, 1, 2, 2])
    assert "mean ± std over 2–3 seeds" in legend.get_title().get_text()
    ax = fig.axes[0]
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    # error bars: one vertical segment of length 2 std per multi-seed bar, none for bsam (n = 1)
    segments = [
        s for c in ax.collections if isinstance(c, LineCollection) for s in c.get_segments()
    ]
    lengths = sorted(round(float(s[1, 1] - s[0, 1]), 9) for s in segments)
    assert lengths == [1.0, 1.0, 3.0, 3.0]
    marks = [t for t in ax.texts if t.get_text() == "n = 1"]
    bsam_x = sorted(b.get_x() + b.get_width() / 2 for b in bars if b.get_height() in (20.0, 21.0))
    assert sorted(t.xy[0] for t in marks) == pytest.approx(bsam_x)
    assert all(s[0, 0] not in bsam_x for s in segments)


def test_seeds_note_without_counts():
    assert seeds_note([None, 1]) == "error bar: mean ± std over seeds; n = 1: no error bar"
    assert seeds_note([3, None]) == "error bar: mean ± std over 3 seeds"


def test_one_seed_everywhere_says_so():
    fig = figures.flatness_by_region(_rows({"bsam": 1}), region_names=["all", "few"])
    assert (
        fig.axes[0].get_legend().get_title().get_text() == "one seed per bar (n = 1): no error bar"
    )
    assert not any(isinstance(c, LineCollection) for c in fig.axes[0].collections)


@pytest.mark.parametrize(
    ("quantity", "note"),
    [("trace", "± SE of the trace estimator"), ("lambda_max", "± certified residual ‖Hu − θu‖")],
)
def test_curvature_bars_name_their_error_bar(quantity, note):
    eig = {"LA": {"residuals": [0.25]}}
    result = {
        "regions": {
            "all": {"lambda_max": 4.0, "trace": 9.0, "trace_se": 0.5, "eigen": eig},
            "few": {"lambda_max": 8.0, "trace": 20.0, "trace_se": math.nan, "eigen": None},
        }
    }
    fig = plot_curvature_bars(result, quantity)
    ax = fig.axes[0]
    assert ax.get_yscale() == "linear"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [note]
    (segment,) = [
        s for c in ax.collections if isinstance(c, LineCollection) for s in c.get_segments()
    ]
    half = 0.5 if quantity == "trace" else 0.25
    np.testing.assert_allclose(
        segment[:, 1], [9.0 - half, 9.0 + half] if quantity == "trace" else [4 - half, 4 + half]
    )


def test_surface_axes_are_named_after_the_directions():
    ax = plot_contour(surface_2d(), "few", colorbar=False).axes[0]
    assert (
        (ax.get_xlabel(), ax.get_ylabel())
        == DIRECTION_LABELS
        == ("α (direction 1)", "β (direction 2)")
    )


def test_rise_is_zero_at_the_centre_and_the_analytic_rise_elsewhere():
    s = surface_2d()
    a, b = np.meshgrid(X, Y)
    for region in LEVEL:
        rise = loss_rise(s, region)
        assert rise[s.origin_index()] == 0.0
        np.testing.assert_allclose(rise, CURVE[region] * (a**2 + 4 * b**2), rtol=1e-12, atol=1e-12)


def test_rise_panels_share_one_scale_and_hold_the_rise():
    s = surface_2d()
    fig = plot_rise_panels(s, region_names=["all", "few"], kind="heatmap")
    meshes = [c for ax in fig.axes[:2] for c in ax.collections if isinstance(c, QuadMesh)]
    assert len(meshes) == 2
    a, b = np.meshgrid(X, Y)
    for mesh, region in zip(meshes, ("all", "few")):
        np.testing.assert_allclose(
            mesh.get_array().reshape(a.shape), CURVE[region] * (a**2 + 4 * b**2)
        )
        assert (mesh.norm.vmin, mesh.norm.vmax) == (0.0, CURVE["few"] * 2.0)


def test_rise_slices_overlay_every_region_in_one_axes():
    fig = plot_rise_slices(surface_2d())
    (ax,) = fig.axes
    curves = {ln.get_label(): ln for ln in ax.get_lines() if ln.get_label() in LEVEL}
    assert set(curves) == set(LEVEL)
    for region, line in curves.items():
        np.testing.assert_allclose(line.get_ydata(), CURVE[region] * X**2, atol=1e-12)


def test_rise_needs_a_grid_through_the_origin():
    with pytest.raises(ValueError, match=r"no point at the origin \(closest: \[-0\.25, 0\.0\]\)"):
        loss_rise(surface_2d(x=np.array([-0.75, -0.25, 0.5])), "all")


def test_figure1_rise_from_a_file(tmp_path):
    fig = figures.figure1_rise(surface_file(tmp_path / "s.h5"), region_names=["all", "few"])
    contours = [c for ax in fig.axes for c in ax.collections if isinstance(c, QuadContourSet)]
    assert {(c.norm.vmin, c.norm.vmax) for c in contours} == {(0.0, CURVE["few"] * 2.0)}
    slices = fig.axes[2]
    ys = {ln.get_label(): ln.get_ydata() for ln in slices.get_lines() if ln.get_label() in LEVEL}
    np.testing.assert_allclose(ys["few"], CURVE["few"] * X**2, atol=1e-9)
    assert not [t for t in fig.texts if t.get_text() == QUICK_STAMP]


def _stamped(fig) -> bool:
    return any(t.get_text() == QUICK_STAMP and t.get_visible() for t in fig.texts)


def test_quick_figures_carry_the_stamp(tmp_path):
    path = surface_file(tmp_path / "s.h5")
    path_1d = surface_file(tmp_path / "c.h5", dims=1)
    paths = {"bsam": path, "sqinv": surface_file(tmp_path / "t.h5", scale=2.0)}
    density = {
        "regions": {"all": {"density": {"grid": [0.0, 1.0, 2.0], "density": [0.1, 0.5, 0.1]}}}
    }
    rho = [
        {
            "rho": 0.1,
            **{f"{m}_{g}": 6.0 for m in ("sam", "imbsam", "bsam", "sqinv") for g in ("all", "few")},
        }
    ]
    builders = {
        "figure1": lambda q: figures.figure1(path, quick=q),
        "figure1_rise": lambda q: figures.figure1_rise(path, quick=q),
        "figure1_methods": lambda q: figures.figure1_methods(paths, quick=q),
        "curves_by_method": lambda q: figures.curves_by_method({"bsam": path_1d}, quick=q),
        "flatness_by_region": lambda q: figures.flatness_by_region(
            _rows(), region_names=["all"], quick=q
        ),
        "density_by_method": lambda q: figures.density_by_method({"bsam": density}, quick=q),
        "rho_figure": lambda q: figures.rho_figure(rho, quick=q),
    }
    for name, build in builders.items():
        assert _stamped(build(True)), name
        assert not _stamped(build(False)), name
