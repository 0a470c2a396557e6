import h5py
import numpy as np
import pytest
import torch
from torch import nn

from landscape.directions import (
    DIRECTIONS_FORMAT,
    load_directions,
    orthogonalize,
    random_directions,
    save_directions,
)
from tests.landscape.conftest import make_convnet, make_mlp


def _flat(tensors):
    return torch.cat([t.double().flatten() for t in tensors])


def test_random_direction_matches_a_hand_made_reference():
    model = make_mlp()
    d = random_directions(model, seed=7, dims=1)
    g = torch.Generator().manual_seed(7)
    for (_, p), got in zip(model.named_parameters(), d.x):
        raw = torch.randn(p.shape, generator=g)
        if p.dim() <= 1:
            assert torch.count_nonzero(got) == 0
            continue
        scale = p.detach().norm(dim=1, keepdim=True) / raw.norm(dim=1, keepdim=True)
        assert torch.allclose(got, raw * scale, rtol=1e-6)


def test_seeding_and_dims():
    model = make_convnet()
    a = random_directions(model, seed=3)
    b = random_directions(model, seed=3)
    c = random_directions(model, seed=4)
    one = random_directions(model, seed=3, dims=1)
    assert all(torch.equal(u, v) for u, v in zip(a.x + a.y, b.x + b.y))
    assert not torch.equal(_flat(a.x), _flat(c.x))
    assert one.y is None and all(torch.equal(u, v) for u, v in zip(one.x, a.x))
    assert not torch.equal(_flat(a.x), _flat(a.y))
    assert a.content_hash() == b.content_hash() != c.content_hash()


def test_states_mode_covers_buffers_but_not_integer_ones():
    model = make_convnet()
    d = random_directions(model, seed=0, states=True, ignore_1d=False)
    names = list(model.state_dict())
    assert d.names == names and d.states
    idx = names.index("1.running_var")
    assert torch.allclose(d.x[idx].abs(), model[1].running_var.abs(), rtol=1e-6)
    nbt = names.index("1.num_batches_tracked")
    assert d.x[nbt].dtype == torch.long and int(d.x[nbt]) == 0


def test_orthogonalize_removes_the_x_component_and_keeps_the_norm():
    d = random_directions(make_convnet(), seed=1, orthogonal=False)
    y = orthogonalize(d.x, d.y)
    assert abs(float(_flat(d.x) @ _flat(y))) < 1e-6 * float(_flat(d.x).norm() * _flat(y).norm())
    assert torch.allclose(_flat(y).norm(), _flat(d.y).norm(), rtol=1e-6)
    # y' lies in span(x, y)
    basis = torch.stack([_flat(d.x), _flat(d.y)], 1)
    coef = torch.linalg.lstsq(basis, _flat(y)).solution
    assert torch.allclose(basis @ coef, _flat(y), atol=1e-6)
    via_api = random_directions(make_convnet(), seed=1, orthogonal=True)
    assert torch.allclose(_flat(via_api.y), _flat(y))


def test_round_trip_is_exact(tmp_path):
    model = make_convnet()
    d = random_directions(model, seed=5, norm="layer", orthogonal=True)
    path = save_directions(tmp_path / "dirs.h5", d)
    back = load_directions(path, model)
    assert all(torch.equal(u, v) for u, v in zip(d.x + d.y, back.x + back.y))
    assert back.info == d.info and back.names == d.names and back.source == str(path)
    with h5py.File(path) as f:
        assert sorted(f) == ["xdirection", "ydirection"]
        assert sorted(f["xdirection"], key=int) == [str(i) for i in range(len(d.x))]
        assert f.attrs["format"] == DIRECTIONS_FORMAT
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_foreign_loss_landscape_file_loads(tmp_path):
    model = make_convnet()
    path = tmp_path / "ll.h5"
    g = torch.Generator().manual_seed(0)
    tensors = [torch.randn(t.shape, generator=g) for t in model.state_dict().values()]
    with h5py.File(path, "w") as f:  # loss-landscape's states-mode layout, no attributes
        grp = f.create_group("xdirection")
        for i, t in enumerate(tensors):
            grp.create_dataset(str(i), data=t.numpy())
    d = load_directions(path, model)
    assert d.states and d.y is None and d.info == {"method": "foreign"}
    assert all(
        np.array_equal(u.numpy(), v.float().numpy())
        for u, v in zip(tensors, d.x)
        if v.is_floating_point()
    )


def test_mismatch_names_the_first_parameter(tmp_path):
    path = save_directions(tmp_path / "d.h5", random_directions(make_mlp(width=16), seed=0))
    with pytest.raises(
        ValueError, match=r"parameter 0 '0.weight' has shape \(8, 6\) in the model but \(16, 6\)"
    ):
        load_directions(path, make_mlp(width=8))
    bigger = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 1), nn.Linear(1, 1))
    with pytest.raises(
        ValueError,
        match=r"has 4 tensors but the model has 6; first unmatched parameter 4 '3.weight'",
    ):
        load_directions(path, bigger)
    smaller = nn.Sequential(nn.Linear(6, 16), nn.Tanh())
    with pytest.raises(ValueError, match="has only 2"):
        load_directions(path, smaller)


def test_bad_files_and_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match="Direction file not found"):
        load_directions(tmp_path / "missing.h5")
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5 at all" * 10)
    with pytest.raises(ValueError, match="not an HDF5 file or corrupt"):
        load_directions(junk)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("losses", data=np.zeros(3))
    with pytest.raises(ValueError, match="no 'xdirection' group"):
        load_directions(other)
    model = make_mlp()
    with pytest.raises(ValueError, match="Invalid dims 3"):
        random_directions(model, seed=0, dims=3)
    with pytest.raises(ValueError, match="Invalid seed 'a'"):
        random_directions(model, seed="a")
    with pytest.raises(ValueError, match="orthogonal=True needs dims=2"):
        random_directions(model, seed=0, dims=1, orthogonal=True)
    with pytest.raises(ValueError, match="Invalid norm"):
        random_directions(model, seed=0, norm="unit")
