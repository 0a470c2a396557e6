"""Surface files in loss-landscape's layout: its scripts read ours, we read its files and our old ones.

loss-landscape (github.com/tomgoldstein/loss-landscape) fills a surface as its ``plot_surface.py``
and ``scheduler.py`` do: ``losses = -np.ones((nx, ny))``, then value ``k`` of ``losses.ravel()``
is the loss at the ``k``-th point of ``np.meshgrid(x, y)`` (x fastest); ``plot_2D.py`` draws
``contour(*np.meshgrid(x, y), f["train_loss"])`` and ``plot_1D.py`` reads ``train_loss`` and
``train_acc``. These tests lay files out that way, independently of our reader.
"""

import h5py
import numpy as np
import pytest
from matplotlib.figure import Figure

from landscape import compute_surface, random_directions, read_surface
from landscape.store import GRID_LAYOUT, LEGACY_FORMAT, SURFACE_FORMAT, SurfaceStore
from tests.landscape.conftest import make_mlp

XS = np.linspace(-1, 1, 5)
YS = np.linspace(-0.5, 0.5, 3)


def loss_landscape_file(path, x, y, value, *, filled=None):
    """A surface file exactly as loss-landscape's plot_surface.py/scheduler.py write one."""
    with h5py.File(path, "w") as f:
        f["dir_file"] = "model.dirs.h5"
        f["xcoordinates"] = x
        if y is None:
            losses = -np.ones(x.shape)
            coords = [(a, None) for a in x]
        else:
            losses = -np.ones((len(x), len(y)))
            xm, ym = np.meshgrid(x, y)
            coords = list(zip(xm.ravel(), ym.ravel()))
            f["ycoordinates"] = y
        acc = -np.ones(losses.shape)
        for ind, (a, b) in enumerate(coords):
            if filled is None or ind in filled:
                losses.ravel()[ind] = value(a, b)
                acc.ravel()[ind] = 50.0
        f["train_loss"] = losses
        f["train_acc"] = acc


def test_genuine_loss_landscape_file_reads_the_right_way_round(tmp_path):
    x, y = np.linspace(-1, 1, 4), np.linspace(0, 2, 3)  # non-square
    loss_landscape_file(tmp_path / "ll.h5", x, y, lambda a, b: 5 + a + 10 * b, filled={0, 1, 5})
    res = read_surface(tmp_path / "ll.h5")
    assert res.attrs == {"format": "loss-landscape"} and res.dims == 2
    assert res.loss["all"].shape == (3, 4)
    expected = 5 + x[None, :] + 10 * y[:, None]
    done = np.zeros((3, 4), bool)
    done.ravel()[[0, 1, 5]] = True
    np.testing.assert_array_equal(res.done, done)
    np.testing.assert_allclose(res.loss["all"][done], expected[done])
    assert np.isnan(res.loss["all"][~done]).all()  # loss-landscape's -1 means "not computed"
    assert res.value_at("all", 1, 1) == pytest.approx(5 + x[1] + 10 * y[1])


def test_genuine_1d_file(tmp_path):
    x = np.linspace(-1, 1, 7)
    loss_landscape_file(tmp_path / "ll.h5", x, None, lambda a, b: 1 + a**2)
    res = read_surface(tmp_path / "ll.h5")
    assert res.dims == 1 and res.complete
    np.testing.assert_allclose(res.loss["all"], 1 + x**2)


@pytest.fixture()
def made(mlp_data, regions, tmp_path):
    X, Y = mlp_data
    model = make_mlp()
    dirs = random_directions(model, seed=0)
    kw = dict(regions=regions, xcoords=XS, ycoords=YS, directions=dirs, quiet=True, chunk_size=2)
    res = compute_surface(model, (X, Y), out=tmp_path / "s.h5", **kw)
    return model, (X, Y), kw, res, tmp_path / "s.h5"


def test_our_2d_file_is_what_plot_2d_reads(made):
    model, (X, Y), kw, res, path = made
    with h5py.File(path) as f:
        x, y = f["xcoordinates"][:], f["ycoordinates"][:]
        assert x.dtype == y.dtype == np.float64
        assert f.attrs["format"] == SURFACE_FORMAT and f.attrs["grid_layout"] == GRID_LAYOUT
        xm, ym = np.meshgrid(x, y)
        z = np.array(f["train_loss"][:])
        assert z.shape == xm.shape == (len(YS), len(XS)) and z.dtype == np.float64
        for name in ("all", "many", "medium", "few"):
            np.testing.assert_array_equal(f[f"loss_{name}"][:], res.loss[name])
            assert f[f"loss_{name}"].shape == xm.shape
        # plot_2D.py's contour call on the non-square grid
        Figure().add_subplot().contour(xm, ym, z)
    # Point (x_1, y_2) is evaluated independently: theta + x_1 dx + y_2 dy.
    import torch

    i, j = 1, 2
    dirs = kw["directions"]
    with torch.no_grad():
        params = [p.detach().clone() for p in model.parameters()]
        for p, dx, dy in zip(model.parameters(), dirs.x, dirs.y):
            p.add_(dx, alpha=float(XS[i])).add_(dy, alpha=float(YS[j]))
        expected = float((model(X).reshape(-1) - Y).abs().double().mean())
        for p, q in zip(model.parameters(), params):
            p.copy_(q)
    assert z[j, i] == pytest.approx(expected, rel=1e-6)
    assert z.ravel()[j * len(XS) + i] == pytest.approx(expected, rel=1e-6)  # scheduler order


def test_our_1d_file_has_what_plot_1d_reads(made, tmp_path):
    model, data, kw, _, _ = made
    out = tmp_path / "one.h5"
    compute_surface(model, data, out=out, **{**kw, "ycoords": None})
    with h5py.File(out) as f:
        assert "train_loss" in f.keys() and "train_acc" in f.keys()
        assert f["train_loss"].shape == f["train_acc"].shape == f["xcoordinates"].shape
        assert np.isnan(f["train_acc"][:]).all()  # accuracy is undefined for regression
        assert "undefined" in f["train_acc"].attrs["meaning"]
        assert "test_loss" not in f.keys()  # plot_1D.py would then need test_acc too


def _to_legacy(path):
    """Rewrite a file as the code before the layout fix wrote it: grids (nx, ny), format /1."""
    with h5py.File(path, "r+") as f:
        grids = [
            k for k in ("done",) + tuple(f"{q}/{n}" for q in ("loss", "mae") for n in f["loss"])
        ]
        for key in [k for k in f.keys() if k.startswith(("loss_", "mae_"))] + [
            "train_acc",
            "train_loss",
        ]:
            del f[key]
        for key in grids:
            data = f[key][...]
            del f[key]
            f[key] = data.T
        f["train_loss"] = f["loss/all"]
        f.attrs["format"] = LEGACY_FORMAT
        del f.attrs["grid_layout"]


def test_legacy_files_read_transposed_and_resume(made, monkeypatch):
    model, data, kw, res, path = made
    with h5py.File(path) as f:
        assert f["loss/few"].shape == (3, 5)
    full = read_surface(path)
    _to_legacy(path)
    with h5py.File(path) as f:
        assert f["loss/few"].shape == (5, 3)
    old = read_surface(path)
    for name in full.region_names:
        np.testing.assert_array_equal(old.loss[name], full.loss[name])
        np.testing.assert_array_equal(old.mae[name], full.mae[name])

    # A legacy file killed half way resumes in its own layout and ends equal to a fresh run.
    with h5py.File(path, "r+") as f:
        done = f["done"][...]
        done[:, 1:] = False  # keep only y_0: 5 of 15 points
        f["done"][...] = done
        for n in f["loss"]:
            for q in ("loss", "mae"):
                grid = f[f"{q}/{n}"][...]
                grid[~done] = np.nan
                f[f"{q}/{n}"][...] = grid
    written = []
    real = SurfaceStore.write
    monkeypatch.setattr(
        SurfaceStore, "write", lambda self, p, m: (written.extend(p), real(self, p, m))[1]
    )
    resumed = compute_surface(model, data, out=path, **kw)
    assert len(written) == 10
    with h5py.File(path) as f:
        assert f.attrs["format"] == LEGACY_FORMAT and f["loss/few"].shape == (5, 3)
    for name in full.region_names:
        np.testing.assert_allclose(resumed.loss[name], full.loss[name], rtol=1e-12)
