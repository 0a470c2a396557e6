import xml.etree.ElementTree as ET

import numpy as np
import pytest
from matplotlib.collections import QuadMesh

from analyses.plotting import (
    plot_contour,
    plot_curves,
    plot_region_panels,
    plot_surface_3d,
    region_title,
    save_figure,
    write_vtp,
)
from landscape.store import SurfaceResult

X = np.linspace(-1, 1, 5)
Y = np.linspace(-0.5, 0.5, 3)


def _surface_2d(nan_at=None):
    a, b = np.meshgrid(X, Y)  # (ny, nx): row = y index, as the files store it
    bowl = a**2 + b**2
    loss = {"all": 1 + bowl, "many": 0.5 + bowl, "few": 4 + 9 * bowl}
    if nan_at is not None:
        for v in loss.values():
            v[nan_at] = np.nan
    mae = {k: v * 2 for k, v in loss.items()}
    done = np.isfinite(loss["all"])
    return SurfaceResult(X, Y, loss, mae, {"all": 30, "many": 20, "few": 10}, done, {"loss": "l1"})


def _surface_1d():
    loss = {"all": 1 + X**2, "few": 3 + 5 * X**2}
    mae = {k: v + 0.5 for k, v in loss.items()}
    return SurfaceResult(
        X, None, loss, mae, {"all": 30, "few": 10}, np.ones(5, bool), {"loss": "l1"}
    )


def test_region_title_carries_size_and_mae_at_origin():
    s = _surface_2d()
    assert region_title(s, "few") == "few (n=10) · MAE 8.00"
    assert region_title(s, "few", mae=False) == "few (n=10)"


@pytest.mark.parametrize("kind", ["filled", "heatmap", "contour"])
def test_panels_share_one_colour_scale(kind):
    s = _surface_2d()
    fig = plot_region_panels(s, kind=kind)
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == [region_title(s, r) for r in ("all", "many", "few")]
    norms = {
        (m.norm.vmin, m.norm.vmax)
        for ax in axes
        for m in ax.collections
        if hasattr(m, "norm") and m.get_array() is not None
    }
    lo = min(float(np.nanmin(v)) for v in s.loss.values())
    hi = max(float(np.nanmax(v)) for v in s.loss.values())
    assert norms == {(lo, hi)}
    assert len(fig.axes) == 4  # three panels and one colour bar


def test_panels_without_shared_scale_have_one_colourbar_each():
    fig = plot_region_panels(_surface_2d(), region_names=["all", "few"], shared_scale=False)
    assert len(fig.axes) == 4


def test_heatmap_shows_x_horizontally():
    s = _surface_2d()
    fig = plot_contour(s, "few", kind="heatmap", colorbar=False)
    (mesh,) = [c for c in fig.axes[0].collections if isinstance(c, QuadMesh)]
    np.testing.assert_allclose(np.asarray(mesh.get_array()).reshape(len(Y), len(X)), s.loss["few"])


def test_non_square_surface_is_drawn_with_x_horizontal():
    # loss = x + 10 y on a 5 x 3 grid: along a row of the picture (fixed y) it changes slowly.
    loss = {"all": X[None, :] + 10 * Y[:, None]}
    s = SurfaceResult(X, Y, loss, {}, {"all": 5}, np.ones((3, 5), bool), {"loss": "l1"})
    fig = plot_contour(s, kind="heatmap", colorbar=False)
    (mesh,) = [c for c in fig.axes[0].collections if isinstance(c, QuadMesh)]
    centres = mesh.get_coordinates().mean(axis=(0, 1))  # sanity: the mesh spans x and y
    assert centres[0] == pytest.approx(0.0) and centres[1] == pytest.approx(0.0)
    values = np.asarray(mesh.get_array()).reshape(len(Y), len(X))
    corners = mesh.get_coordinates()  # (ny + 1, nx + 1, 2) cell edges
    for j in range(len(Y)):
        for i in range(len(X)):
            cx = corners[j : j + 2, i : i + 2, 0].mean()
            cy = corners[j : j + 2, i : i + 2, 1].mean()
            assert values[j, i] == pytest.approx(cx + 10 * cy)
    xlo, xhi = fig.axes[0].get_xlim()
    assert xhi - xlo == pytest.approx(X[-1] - X[0] + (X[1] - X[0]))  # x is horizontal


def test_empty_region_is_said_to_be_empty_and_the_others_are_drawn():
    s = _surface_2d()
    s.loss["few"][...] = np.nan
    s.mae["few"][...] = np.nan
    s.count["few"] = 0
    fig = plot_region_panels(s, kind="heatmap")
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert panels[2].get_title() == "few (n=0) · no sample"
    assert [t.get_text() for t in panels[2].texts] == ["holds no sample (n=0)"]
    assert sum(isinstance(c, QuadMesh) for ax in panels for c in ax.collections) == 2
    with pytest.raises(ValueError, match=r"region 'few' holds no sample \(n=0\); plot another"):
        plot_contour(s, "few")


def test_curves_and_1d_panels():
    s = _surface_1d()
    fig = plot_curves(s, log=True)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and len(ax.lines) == 2
    np.testing.assert_allclose(ax.lines[1].get_ydata(), s.loss["few"])
    panels = plot_region_panels(s)
    assert len(panels.axes) == 2 and panels.axes[0].get_ylim() == panels.axes[1].get_ylim()


def test_surface_3d_and_nan_points(tmp_path):
    s = _surface_2d(nan_at=(2, 4))
    fig = plot_surface_3d(s, "few", zmax=5.0)
    assert fig.axes[0].name == "3d"
    written = save_figure(plot_region_panels(s), tmp_path / "panels")
    assert [p.name for p in written] == ["panels.png", "panels.pdf"]
    assert written[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert written[1].read_bytes()[:5] == b"%PDF-"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["panels.pdf", "panels.png"]


def test_plot_errors():
    s2, s1 = _surface_2d(), _surface_1d()
    with pytest.raises(ValueError, match="plot_curves needs a 1D surface; this one is 2D"):
        plot_curves(s2)
    with pytest.raises(ValueError, match="plot_contour needs a 2D surface"):
        plot_contour(s1)
    with pytest.raises(ValueError, match=r"Unknown region\(s\) \['medium'\]"):
        plot_region_panels(s2, region_names=["medium"])
    with pytest.raises(ValueError, match="Invalid kind 'wire'"):
        plot_contour(s2, kind="wire")
    with pytest.raises(ValueError, match="Invalid quantity 'acc'"):
        plot_contour(s2, quantity="acc")
    empty = _surface_2d()
    for v in empty.loss.values():
        v[...] = np.nan
    empty.done[...] = False
    with pytest.raises(ValueError, match=r"no computed point yet \(0 of 15\); run `bsam surface`"):
        plot_contour(empty)


def _parse(path):
    piece = ET.parse(path).getroot().find("PolyData/Piece")
    arrays = {}
    for da in piece.iter("DataArray"):
        arrays[da.get("Name") or "points"] = np.array(da.text.split(), dtype=float)
    return piece, arrays


def test_vtp_height_field(tmp_path):
    s = _surface_2d(nan_at=(0, 0))
    path = write_vtp(s, tmp_path / "few", region="few")
    assert path.name == "few.vtp"
    piece, arrays = _parse(path)
    assert piece.get("NumberOfPoints") == str(5 * 3 - 1)
    assert piece.get("NumberOfPolys") == str(4 * 2 - 1)  # the cell at the NaN corner is dropped
    pts = arrays["points"].reshape(-1, 3)
    a, b = np.meshgrid(X, Y)
    expected = 4 + 9 * (a**2 + b**2)
    for x, y, z in pts:
        i, j = np.argmin(abs(X - x)), np.argmin(abs(Y - y))
        assert z == pytest.approx(expected[j, i])
    np.testing.assert_allclose(arrays["loss_few"], pts[:, 2])
    conn, offsets = arrays["connectivity"].astype(int), arrays["offsets"].astype(int)
    assert offsets[-1] == len(conn) and conn.max() < len(pts) and np.all(np.diff(offsets) == 4)


def test_vtp_polyline_and_errors(tmp_path):
    s = _surface_1d()
    piece, arrays = _parse(write_vtp(s, tmp_path / "c.vtp", log=True))
    assert piece.get("NumberOfLines") == "4"
    np.testing.assert_allclose(arrays["loss_all_log10"], np.log10(1 + X**2), rtol=1e-8)
    with pytest.raises(ValueError, match="Unknown region 'many'"):
        write_vtp(s, tmp_path / "x", region="many")
