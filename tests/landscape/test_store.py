import h5py
import numpy as np
import pytest
import torch

import landscape.surface as surface_mod
from landscape import compute_surface, random_directions, read_surface, save_directions
from landscape.store import SURFACE_FORMAT, SurfaceStore
from tests.landscape.conftest import make_mlp

XS = np.linspace(-1, 1, 5)
YS = np.linspace(-0.5, 0.5, 3)


@pytest.fixture()
def setup(mlp_data, regions):
    X, Y = mlp_data
    model = make_mlp()
    dirs = random_directions(model, seed=0)
    kw = dict(regions=regions, xcoords=XS, ycoords=YS, directions=dirs, quiet=True, chunk_size=2)
    return model, (X, Y), kw


def _contents(path):
    out = {}
    with h5py.File(path) as f:
        f.visititems(
            lambda name, obj: (
                out.__setitem__(name, np.array(obj)) if isinstance(obj, h5py.Dataset) else None
            )
        )
        attrs = {k: v for k, v in f.attrs.items() if k != "created"}
    return out, attrs


def test_file_layout_and_read_back(setup, tmp_path):
    model, data, kw = setup
    res = compute_surface(model, data, out=tmp_path / "s.h5", **kw)
    back = read_surface(tmp_path / "s.h5")
    with h5py.File(tmp_path / "s.h5") as f:
        assert f.attrs["format"] == SURFACE_FORMAT
        np.testing.assert_array_equal(f["train_loss"], f["loss/all"])
        assert f["loss/few"].shape == (3, 5) and f["done"][...].all()  # (ny, nx)
        for key in ("model_hash", "directions_hash", "loss", "data_hash", "regions", "version"):
            assert key in f.attrs
    for name in ("all", "many", "medium", "few"):
        np.testing.assert_array_equal(back.loss[name], res.loss[name])
        np.testing.assert_array_equal(back.mae[name], res.mae[name])
    assert back.count == res.count and back.complete
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_resume_after_a_kill_gives_the_same_file(setup, tmp_path, monkeypatch):
    model, data, kw = setup
    full = tmp_path / "full.h5"
    compute_surface(model, data, out=full, **kw)

    part = tmp_path / "part.h5"
    real_write = SurfaceStore.write
    writes = {"n": 0}

    def write_then_die(self, points, means):
        if writes["n"] == 3:
            raise KeyboardInterrupt("simulated kill")
        writes["n"] += 1
        real_write(self, points, means)

    monkeypatch.setattr(SurfaceStore, "write", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        compute_surface(model, data, out=part, **kw)
    monkeypatch.setattr(SurfaceStore, "write", real_write)
    partial = read_surface(part)
    assert partial.done.sum() == 6 and not partial.complete  # 3 chunks of 2 points survived

    evaluated = []
    real_sums = surface_mod.Evaluator.sums_at

    def counting(self, a, b=0.0):
        evaluated.append((a, b))
        return real_sums(self, a, b)

    monkeypatch.setattr(surface_mod.Evaluator, "sums_at", counting)
    resumed = compute_surface(model, data, out=part, **kw)
    assert len(evaluated) == 15 - 6  # done points are not recomputed
    assert resumed.complete
    a, a_attrs = _contents(full)
    b, b_attrs = _contents(part)
    assert a.keys() == b.keys() and a_attrs == b_attrs
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    evaluated.clear()
    compute_surface(model, data, out=part, **kw)  # complete file: nothing to do
    assert evaluated == []


def test_mismatched_requests_are_refused(setup, tmp_path, mlp_data):
    model, data, kw = setup
    out = tmp_path / "s.h5"
    compute_surface(model, data, out=out, **kw)
    with pytest.raises(
        ValueError,
        match=r"'loss' is 'l1' in the file but 'mse' now; pass overwrite=True \(--overwrite\)",
    ):
        compute_surface(model, data, out=out, loss="mse", **kw)
    with pytest.raises(ValueError, match="'xcoordinates' is '5 points"):
        compute_surface(model, data, out=out, **{**kw, "xcoords": np.linspace(-1, 1, 7)})
    with pytest.raises(ValueError, match="'model_hash' is"):
        compute_surface(
            make_mlp(seed=9),
            data,
            out=out,
            **{**kw, "directions": random_directions(make_mlp(seed=9), seed=0)},
        )
    with pytest.raises(ValueError, match="'directions_hash' is"):
        compute_surface(
            model, data, out=out, **{**kw, "directions": random_directions(model, seed=1)}
        )
    X, Y = mlp_data
    with pytest.raises(ValueError, match="'data_hash' is"):
        compute_surface(model, (X[:-1], Y[:-1]), out=out, **kw)
    with pytest.raises(ValueError, match="'regions' is"):
        compute_surface(model, data, out=out, region_names=("all", "few"), **kw)
    with pytest.raises(ValueError, match="'split' is None in the file but 'test' now"):
        compute_surface(model, data, out=out, provenance={"split": "test"}, **kw)
    with pytest.raises(ValueError, match="'dims' is '2' in the file but '1' now"):
        compute_surface(model, data, out=out, **{**kw, "ycoords": None})
    res = compute_surface(model, data, out=out, loss="mse", overwrite=True, **kw)
    assert res.attrs["loss"] == "mse"


def test_foreign_and_corrupt_files_are_refused(setup, tmp_path):
    model, data, kw = setup
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f.create_dataset("images", data=np.zeros(4))
    with pytest.raises(ValueError, match=r"not a bsam surface file.*\['images'\].*--overwrite"):
        compute_surface(model, data, out=foreign, **kw)
    corrupt = tmp_path / "corrupt.h5"
    compute_surface(model, data, out=corrupt, **kw)
    raw = corrupt.read_bytes()
    corrupt.write_bytes(raw[: len(raw) // 3])
    with pytest.raises(ValueError, match="Cannot open .* as HDF5 .*corrupt"):
        compute_surface(model, data, out=corrupt, **kw)
    with pytest.raises(ValueError, match="Cannot open .* as HDF5"):
        read_surface(corrupt)
    with pytest.raises(FileNotFoundError, match="Surface file not found"):
        read_surface(tmp_path / "missing.h5")
    with pytest.raises(ValueError, match="is not a surface file"):
        read_surface(foreign)
    compute_surface(model, data, out=corrupt, overwrite=True, **kw)
    assert read_surface(corrupt).complete


def test_direction_file_path_and_its_hash_are_recorded(setup, tmp_path):
    model, data, kw = setup
    dpath = save_directions(tmp_path / "d.h5", kw["directions"])
    res = compute_surface(model, data, out=tmp_path / "s.h5", **{**kw, "directions": dpath})
    assert res.attrs["dir_file"] == str(dpath) and len(res.attrs["dir_file_hash"]) == 16
    again = compute_surface(model, data, out=tmp_path / "s.h5", **kw)  # same directions in memory
    np.testing.assert_array_equal(again.loss["few"], res.loss["few"])
    assert torch.is_tensor(kw["directions"].x[0])
