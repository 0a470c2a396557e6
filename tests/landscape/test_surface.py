import copy

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from bsam.losses import get_loss
from landscape import compute_surface, random_directions
from landscape.surface import Evaluator
from tests.landscape.conftest import make_convnet, make_mlp

XS = np.array([-0.5, 0.0, 0.25])
YS = np.array([-0.2, 0.0])


def _reference(model, dirs, a, b, X, Y, loss="l1"):
    """Loss per region computed the slow way: a copy of the model moved by hand, one subset at a time."""
    ref = copy.deepcopy(model).eval()
    with torch.no_grad():
        for p, dx, dy in zip(ref.parameters(), dirs.x, dirs.y if dirs.y else [None] * len(dirs.x)):
            p.add_(a * dx)
            if dy is not None:
                p.add_(b * dy)
        pred = ref(X).reshape(Y.shape).double()
    fn = get_loss(loss)
    return fn(pred, Y.double()), (pred - Y.double()).abs()


def _snapshot(model):
    return (
        {k: v.clone() for k, v in model.state_dict().items()},
        [m.training for m in model.modules()],
        [p.requires_grad for p in model.parameters()],
    )


def _assert_same(model, snap):
    state, modes, grads = snap
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
        assert v.dtype == state[k].dtype
    assert [m.training for m in model.modules()] == modes
    assert [p.requires_grad for p in model.parameters()] == grads


@pytest.mark.parametrize("make", [make_mlp, make_convnet])
def test_origin_equals_plain_evaluation(make, mlp_data, conv_data, regions):
    X, Y = mlp_data if make is make_mlp else conv_data
    model = make().eval()
    dirs = random_directions(model, seed=0)
    res = compute_surface(
        model,
        (X, Y),
        regions=regions,
        xcoords=XS,
        ycoords=YS,
        directions=dirs,
        quiet=True,
        batch_size=16,
    )
    with torch.no_grad():
        plain = (model(X).reshape(-1) - Y).abs().double()
    assert res.origin_index() == (1, 1)
    assert res.at_origin("all") == pytest.approx(float(plain.mean()), rel=1e-6)
    assert res.at_origin("all", "mae") == pytest.approx(float(plain.mean()), rel=1e-6)
    assert res.count["all"] == len(Y)


@pytest.mark.parametrize("loss", ["l1", "mse", "huber"])
def test_region_losses_equal_separate_subset_losses(loss, conv_data, regions):
    X, Y = conv_data
    model = make_convnet()
    dirs = random_directions(model, seed=1)
    res = compute_surface(
        model,
        (X, Y),
        regions=regions,
        xcoords=XS,
        ycoords=YS,
        directions=dirs,
        loss=loss,
        quiet=True,
        batch_size=8,
    )
    masks = regions.masks(Y)
    for i, a in enumerate(XS):
        for j, b in enumerate(YS):
            ref_loss, ref_ae = _reference(model, dirs, a, b, X, Y, loss)
            for name, m in masks.items():
                assert res.loss[name][j, i] == pytest.approx(float(ref_loss[m].mean()), rel=1e-5)
                assert res.mae[name][j, i] == pytest.approx(float(ref_ae[m].mean()), rel=1e-5)
                assert res.value_at(name, i, j) == res.loss[name][j, i]
    assert {k: res.count[k] for k in masks} == {k: int(m.sum()) for k, m in masks.items()}
    assert res.complete and res.loss["all"].shape == (len(YS), len(XS))  # row = y index


def test_pooled_mean_over_uneven_batches():
    # Two batches of very different size and loss: the pooled mean differs from the mean of batch
    # means, and the surface must give the pooled one.
    X = torch.zeros(11, 6)
    Y = torch.tensor([5.0] * 10 + [25.0])
    model = make_mlp()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    dirs = random_directions(model, seed=0, dims=1)
    res = compute_surface(
        model,
        (X, Y),
        regions=None,
        region_names=("all",),
        xcoords=[0.0],
        directions=dirs,
        quiet=True,
        batch_size=10,
    )
    pooled = (10 * 5.0 + 25.0) / 11
    batch_means = (5.0 + 25.0) / 2
    assert res.loss["all"][0] == pytest.approx(pooled, rel=1e-12)
    assert abs(pooled - batch_means) > 5


def test_loaders_datasets_and_tensors_agree(mlp_data, regions):
    X, Y = mlp_data
    model = make_mlp()
    dirs = random_directions(model, seed=2, dims=1)
    kw = dict(regions=regions, xcoords=XS, directions=dirs, quiet=True, batch_size=9)
    base = compute_surface(model, (X, Y), **kw)

    class WithTensors:
        def tensors(self):
            return X, Y

    for data in (
        TensorDataset(X, Y),
        DataLoader(TensorDataset(X, Y), batch_size=7),
        WithTensors(),
        [(x, y) for x, y in zip(X, Y)],
    ):
        other = compute_surface(model, data, **kw)
        for name in base.loss:
            np.testing.assert_allclose(other.loss[name], base.loss[name], rtol=1e-6)
    with pytest.raises(ValueError, match="shuffle=False"):
        compute_surface(model, DataLoader(TensorDataset(X, Y), shuffle=True), **kw)


def test_loader_streams_when_the_data_is_too_big_to_cache(mlp_data, regions, monkeypatch):
    import bsam.batches as batches_mod
    import landscape._data as data_mod

    X, Y = mlp_data
    model = make_mlp()
    dirs = random_directions(model, seed=2, dims=1)
    kw = dict(regions=regions, xcoords=XS, directions=dirs, quiet=True)
    cached = compute_surface(model, DataLoader(TensorDataset(X, Y), batch_size=10), **kw)
    monkeypatch.setattr(batches_mod, "CACHE_BYTES", 100)
    source = data_mod.make_source(
        DataLoader(TensorDataset(X, Y), batch_size=10), batch_size=10, device=torch.device("cpu")
    )
    assert not source.in_memory
    streamed = compute_surface(model, DataLoader(TensorDataset(X, Y), batch_size=10), **kw)
    np.testing.assert_allclose(streamed.loss["few"], cached.loss["few"], rtol=1e-12)


def test_masks_and_per_bin(conv_data, regions):
    X, Y = conv_data
    model = make_convnet()
    dirs = random_directions(model, seed=3, dims=1)
    g = torch.Generator().manual_seed(0)
    user = {"odd": torch.arange(len(Y)) % 2 == 1, "rand": torch.rand(len(Y), generator=g) < 0.3}
    res = compute_surface(
        model,
        (X, Y),
        regions=regions,
        xcoords=XS,
        directions=dirs,
        quiet=True,
        masks=user,
        per_bin=True,
        region_names=("few",),
    )
    assert res.region_names == ["all", "few", "odd", "rand"]
    bins = regions.bin_index(Y)
    for i, a in enumerate(XS):
        ref_loss, _ = _reference(model, dirs, a, 0.0, X, Y)
        for name, m in user.items():
            assert res.loss[name][i] == pytest.approx(float(ref_loss[m].mean()), rel=1e-6)
        for k in range(regions.num_bins):
            sel = bins == k
            if sel.any():
                assert res.per_bin["loss"][i, k] == pytest.approx(
                    float(ref_loss[sel].mean()), rel=1e-6
                )
            else:
                assert np.isnan(res.per_bin["loss"][i, k])
    assert res.per_bin["count"].sum() == len(Y)
    np.testing.assert_allclose(res.per_bin["edges"], regions.binning.edges)


def test_dense_targets_reduce_per_pixel(regions):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3, padding=1))
    X = torch.randn(7, 1, 4, 4)
    Y = labels_map = torch.randint(0, 30, (7, 4, 4)).float()
    dirs = random_directions(model, seed=0, dims=1)
    res = compute_surface(
        model, (X, Y), regions=regions, xcoords=XS, directions=dirs, quiet=True, batch_size=3
    )
    masks = regions.masks(labels_map)
    for i, a in enumerate(XS):
        ref = copy.deepcopy(model)
        with torch.no_grad():
            ref[0].weight.add_(a * dirs.x[0])
            err = (ref(X)[:, 0] - Y).abs().double()
        for name, m in masks.items():
            assert res.loss[name][i] == pytest.approx(float(err[m].mean()), rel=1e-6)
    assert res.count["all"] == Y.numel()


def test_model_restored_bitwise_after_success_and_after_an_exception(conv_data, regions):
    X, Y = conv_data
    model = make_convnet()
    model.train()
    model[0].bias.requires_grad_(False)
    snap = _snapshot(model)
    dirs = random_directions(model, seed=0, states=True, ignore_1d=False)
    compute_surface(
        model, (X, Y), regions=regions, xcoords=XS, ycoords=YS, directions=dirs, quiet=True
    )
    _assert_same(model, snap)

    calls = {"n": 0}

    def failing_l1(pred, target, reduction="none"):
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("boom mid-grid")
        return (pred - target).abs()

    with pytest.raises(RuntimeError, match="boom mid-grid"):
        compute_surface(
            model,
            (X, Y),
            regions=regions,
            xcoords=XS,
            ycoords=YS,
            directions=dirs,
            loss=failing_l1,
            quiet=True,
            batch_size=8,
        )
    assert calls["n"] == 5
    _assert_same(model, snap)


def test_states_mode_moves_running_statistics(conv_data, regions):
    X, Y = conv_data
    model = make_convnet()
    weights_only = random_directions(model, seed=0, dims=1, ignore_1d=False)
    with_states = random_directions(model, seed=0, dims=1, ignore_1d=False, states=True)
    kw = dict(regions=regions, xcoords=[0.5], quiet=True)
    a = compute_surface(model, (X, Y), directions=weights_only, **kw)
    b = compute_surface(model, (X, Y), directions=with_states, **kw)
    assert a.loss["all"][0] != pytest.approx(b.loss["all"][0], rel=1e-4)
    # Reference: move parameters and running statistics by hand.
    ref = copy.deepcopy(model).eval()
    with torch.no_grad():
        for t, d in zip(ref.state_dict(keep_vars=True).values(), with_states.x):
            if t.is_floating_point():
                t.add_(0.5 * d)
        expected = (ref(X).reshape(-1) - Y).abs().double().mean()
    assert b.loss["all"][0] == pytest.approx(float(expected), rel=1e-6)


def test_evaluator_leaves_unperturbed_tensors_untouched(mlp_data, regions):
    X, Y = mlp_data
    model = make_mlp()
    dirs = random_directions(model, seed=0, dims=1)  # biases zeroed
    from landscape._data import make_source
    from landscape.reduce import build_groups

    source = make_source((X, Y), batch_size=20, device=torch.device("cpu"))
    groups = build_groups(Y, regions=regions)
    ev = Evaluator(model, dirs, source, groups, get_loss("l1"))
    assert len(ev.active) == 2  # the two weight matrices


def test_argument_errors(mlp_data, regions):
    X, Y = mlp_data
    model = make_mlp()
    d1 = random_directions(model, seed=0, dims=1)
    kw = dict(regions=regions, directions=d1, quiet=True)
    with pytest.raises(ValueError, match="Invalid xcoords"):
        compute_surface(model, (X, Y), xcoords=[0.5, 0.1], **kw)
    with pytest.raises(ValueError, match="Invalid xcoords"):
        compute_surface(model, (X, Y), xcoords=[0.0, np.nan], **kw)
    with pytest.raises(ValueError, match="needs 2 directions"):
        compute_surface(model, (X, Y), xcoords=XS, ycoords=YS, **kw)
    with pytest.raises(ValueError, match="Invalid chunk_size 0"):
        compute_surface(model, (X, Y), xcoords=XS, chunk_size=0, **kw)
    with pytest.raises(ValueError, match="Invalid batch_size 0"):
        compute_surface(model, (X, Y), xcoords=XS, batch_size=0, **kw)
    with pytest.raises(ValueError, match=r"Invalid region name\(s\) \['rare'\]"):
        compute_surface(model, (X, Y), xcoords=XS, region_names=("all", "rare"), **kw)
    with pytest.raises(ValueError, match="need regions=ShotRegions"):
        compute_surface(model, (X, Y), xcoords=XS, **{**kw, "regions": None})
    with pytest.raises(ValueError, match="Invalid mask 'm'"):
        compute_surface(
            model, (X, Y), xcoords=XS, masks={"m": torch.ones(3, dtype=torch.bool)}, **kw
        )
    with pytest.raises(ValueError, match="Invalid mask name 'few'"):
        compute_surface(
            model, (X, Y), xcoords=XS, masks={"few": torch.ones(len(Y), dtype=torch.bool)}, **kw
        )
    with pytest.raises(ValueError, match="Unknown loss 'l3'"):
        compute_surface(model, (X, Y), xcoords=XS, loss="l3", **kw)
    with pytest.raises(ValueError, match="Invalid directions of type dict"):
        compute_surface(model, (X, Y), xcoords=XS, **{**kw, "directions": {}})
    with pytest.raises(ValueError, match="Invalid data of type int"):
        compute_surface(model, 5, xcoords=XS, **kw)
    many = regions.masks(Y)["many"]
    with pytest.warns(RuntimeWarning, match=r"\['medium', 'few'\] hold no sample"):
        res = compute_surface(model, (X[many], Y[many]), xcoords=[0.0], **kw)
    assert (
        np.isnan(res.loss["few"][0]) and res.count["few"] == 0 and np.isfinite(res.loss["many"][0])
    )


def test_regions_none_reports_all_and_masks(mlp_data):
    X, Y = mlp_data
    model = make_mlp()
    d1 = random_directions(model, seed=0, dims=1)
    res = compute_surface(
        model,
        (X, Y),
        regions=None,
        region_names=("all",),
        xcoords=[0.0],
        directions=d1,
        quiet=True,
        masks={"big": Y > 10},
    )
    with torch.no_grad():
        err = (model(X).reshape(-1) - Y).abs().double()
    assert res.region_names == ["all", "big"]
    assert res.loss["big"][0] == pytest.approx(float(err[Y > 10].mean()), rel=1e-6)
