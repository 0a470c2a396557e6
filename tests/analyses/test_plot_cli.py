"""``bsam plot`` on every input kind its --help advertises, checking what the figures hold."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from matplotlib.collections import QuadMesh
from matplotlib.figure import Figure

import analyses.plotting.files as files_mod
import analyses.plotting.surfaces as surfaces_mod
from analyses.cli import plot as plot_cli
from analyses.curvature import region_curvature, save_curvature
from analyses.plotting import spectra
from bsam.cli import main
from bsam.regions import ShotRegions
from landscape import compute_surface, random_directions, read_surface
from tests.landscape.conftest import labels, make_mlp
from tests.landscape.test_layout import loss_landscape_file

XS, YS = np.linspace(-1, 1, 4), np.linspace(0, 2, 3)


@pytest.fixture()
def figures(monkeypatch):
    """Every figure saved by bsam plot, by file stem."""
    seen: dict[str, Figure] = {}
    real = surfaces_mod.save_figure

    def keep(fig, path, **kw):
        seen[str(path).rsplit("/", 1)[-1]] = fig
        return real(fig, path, **kw)

    monkeypatch.setattr(surfaces_mod, "save_figure", keep)
    return seen


def _surface(tmp_path, dims):
    g = torch.Generator().manual_seed(2)
    X, Y = torch.randn(40, 6, generator=g), labels(40, 3)
    regions = ShotRegions.fit(labels(2000, 1), many=100, few=20, lower=0.0, upper=29.0)
    model = make_mlp()
    path = tmp_path / f"s{dims}.h5"
    compute_surface(
        model,
        (X, Y),
        regions=regions,
        xcoords=XS,
        ycoords=YS if dims == 2 else None,
        directions=random_directions(model, seed=0, dims=dims),
        quiet=True,
        out=path,
    )
    return path


def _hessian(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    net = net.double()
    train = torch.cat([torch.full((150,), 1.5), torch.full((50,), 2.5), torch.full((5,), 0.5)])
    regions = ShotRegions.fit(train, bin_width=1.0, lower=0.0, upper=3.0)
    y = torch.tensor([1.2, 1.7, 2.2, 0.3, 1.4, 2.9, 0.8, 1.1], dtype=torch.float64)
    X = torch.randn(8, 3, dtype=torch.float64)
    options = dict(tol=1e-6, sketch_size=2, density_probes=1, density_steps=4)
    metrics = ("lambda_max", "trace", "density")
    res = region_curvature(net, (X, y), regions, metrics=metrics, trace_max_matvecs=20, **options)
    return save_curvature(res, tmp_path / "h.json")[0]


def test_every_advertised_input_kind_is_tested():
    assert len(plot_cli.INPUT_KINDS) == 4  # 1D, 2D, loss-landscape, Hessian: one test each below
    assert plot_cli.SURFACE_KINDS == files_mod.FILE_KINDS
    assert plot_cli.HESSIAN_KINDS == spectra.HESSIAN_KINDS


def test_1d_surface(tmp_path, figures, capsys):
    path = _surface(tmp_path, 1)
    assert main(["plot", str(path), "--out", str(tmp_path / "f")]) == 0
    res = read_surface(path)
    ax = figures["s1_curves"].axes[0]
    np.testing.assert_allclose(ax.lines[0].get_xdata(), XS)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), res.loss["all"])
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == [
        "s1_curves.pdf",
        "s1_curves.png",
        "s1_panels.pdf",
        "s1_panels.png",
    ]


def test_2d_surface(tmp_path, figures):
    path = _surface(tmp_path, 2)
    assert main(["plot", str(path), "--out", str(tmp_path / "f"), "--kind", "heatmap"]) == 0
    res = read_surface(path)
    (mesh,) = [c for c in figures["s2_heatmap_few"].axes[0].collections if isinstance(c, QuadMesh)]
    np.testing.assert_allclose(np.asarray(mesh.get_array()).reshape(3, 4), res.loss["few"])


def test_genuine_loss_landscape_file_is_drawn_the_right_way_round(tmp_path, figures):
    path = tmp_path / "ll.h5"
    loss_landscape_file(path, XS, YS, lambda a, b: 20 + a + 10 * b)
    assert main(["plot", str(path), "--out", str(tmp_path / "f"), "--kind", "heatmap"]) == 0
    (mesh,) = [c for c in figures["ll_heatmap_all"].axes[0].collections if isinstance(c, QuadMesh)]
    values = np.asarray(mesh.get_array()).reshape(len(YS), len(XS))
    edges = mesh.get_coordinates()
    centre_x = (edges[:-1, :-1, 0] + edges[1:, 1:, 0]) / 2
    centre_y = (edges[:-1, :-1, 1] + edges[1:, 1:, 1]) / 2
    np.testing.assert_allclose(values, 20 + centre_x + 10 * centre_y)
    np.testing.assert_allclose(centre_x[0], XS) and np.testing.assert_allclose(centre_y[:, 0], YS)
    # --quantity mae: loss-landscape files hold no MAE; said so, with the flag to use.
    assert main(["plot", str(path), "--out", str(tmp_path / "g"), "--quantity", "mae"]) == 2


def test_hessian_json(tmp_path, figures):
    path = _hessian(tmp_path)
    result = json.loads(path.read_text())
    assert main(["plot", str(path), "--out", str(tmp_path / "f")]) == 0
    assert set(figures) == {"h_density", "h_lambda_max", "h_lambda_min", "h_lambda_abs", "h_trace"}
    bars = figures["h_lambda_max"].axes[0].patches
    expected = [result["regions"][n]["lambda_max"] for n in result["regions"]]
    got = [b.get_height() for b in bars]
    np.testing.assert_allclose(got, expected)
    lines = figures["h_density"].axes[0].get_lines()
    with_density = [n for n, e in result["regions"].items() if e.get("density")]
    assert [ln.get_label() for ln in lines] == with_density
    np.testing.assert_allclose(
        lines[0].get_xdata(), result["regions"][with_density[0]]["density"]["grid"]
    )
    # Only the trace, then a kind the file does not hold.
    assert main(["plot", str(path), "--out", str(tmp_path / "t"), "--kind", "trace"]) == 0
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == ["h_trace.pdf", "h_trace.png"]
