"""Two gloo processes on this machine compute the same surface file as one process."""

import h5py
import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from bsam.distributed import init_process_group, shard_batch, strided_positions
from landscape import compute_surface, random_directions
from landscape.distributed import init_from_env, shard, world
from tests.landscape.conftest import labels, make_convnet

XS = np.linspace(-1, 1, 5)
YS = np.linspace(-0.5, 0.5, 3)


def _job(out, loss="l1"):
    from bsam.regions import ShotRegions

    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(4)
    X, Y = torch.randn(40, 2, 5, 5, generator=g), labels(40, 5)
    regions = ShotRegions.fit(labels(2000, 1), many=100, few=20, lower=0.0, upper=29.0)
    model = make_convnet()
    dirs = random_directions(model, seed=0)
    return compute_surface(
        model,
        (X, Y),
        regions=regions,
        xcoords=XS,
        ycoords=YS,
        directions=dirs,
        out=out,
        quiet=True,
        chunk_size=2,
        loss=loss,
    )


def _worker(rank, init_file, out, result_dir):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        assert world() == (rank, 2)
        assert list(shard(5)) == list(range(rank, 5, 2))
        assert list(strided_positions(5)) == list(shard(5))
        ctx = init_process_group(torch.device("cpu"))  # joins the group already there
        assert (ctx.rank, ctx.world_size, ctx.owns_group) == (rank, 2, False)
        assert init_from_env(torch.device("cpu")) is True
        assert shard_batch(torch.arange(5), ctx).tolist() == [[0, 1, 2], [3, 4]][rank]
        res = _job(out)
        np.save(f"{result_dir}/rank{rank}.npy", res.loss["few"])
        # A refused file on rank 0 raises on every rank instead of hanging the others.
        expected = "'loss' is 'l1'" if rank == 0 else "rank 0 could not open the surface file"
        with pytest.raises(ValueError, match=expected):
            _job(out, loss="mse")
    finally:
        dist.destroy_process_group()


def _contents(path):
    out = {}
    with h5py.File(path) as f:
        f.visititems(
            lambda n, o: out.__setitem__(n, np.array(o)) if isinstance(o, h5py.Dataset) else None
        )
        attrs = {k: v for k, v in f.attrs.items() if k != "created"}
    return out, attrs


def test_two_processes_give_the_same_surface_as_one(tmp_path):
    single = tmp_path / "single.h5"
    _job(single)
    double = tmp_path / "double.h5"
    mp.spawn(
        _worker, args=(str(tmp_path / "init"), str(double), str(tmp_path)), nprocs=2, join=True
    )
    a, a_attrs = _contents(single)
    b, b_attrs = _contents(double)
    assert a.keys() == b.keys() and a_attrs == b_attrs
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    # Every rank returns the whole surface.
    for rank in (0, 1):
        np.testing.assert_array_equal(np.load(tmp_path / f"rank{rank}.npy"), a["loss/few"])
