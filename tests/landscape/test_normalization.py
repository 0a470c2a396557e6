import pytest
import torch
from torch import nn

from landscape.normalization import normalize_direction


def _random_net(seed: int) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    c1, c2, h = (int(v) for v in torch.randint(1, 7, (3,), generator=g))
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(3, c1, 3),
        nn.BatchNorm2d(c1),
        nn.Conv2d(c1, c2, 1, bias=False),
        nn.Flatten(),
        nn.Linear(c2, h),
        nn.Linear(h, 2),
    )
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(torch.rand((), generator=g) * 3)
    return net


def _weights_and_raw(seed: int):
    net = _random_net(seed)
    weights = [p.detach() for p in net.parameters()]
    g = torch.Generator().manual_seed(100 + seed)
    raw = [torch.randn(w.shape, generator=g) for w in weights]
    return weights, raw


@pytest.mark.parametrize("seed", range(8))
def test_filter_norm_gives_each_slice_the_weight_slice_norm(seed):
    weights, raw = _weights_and_raw(seed)
    out = normalize_direction(raw, weights, norm="filter")
    for d, w in zip(out, weights):
        if w.dim() <= 1:
            assert torch.count_nonzero(d) == 0  # biases and BN zeroed by default
            continue
        for i in range(w.shape[0]):
            assert torch.allclose(d[i].norm(), w[i].norm(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("seed", range(4))
def test_filter_norm_rescales_each_raw_slice(seed):
    weights, raw = _weights_and_raw(seed)
    out = normalize_direction(raw, weights, norm="filter")
    for d, r, w in zip(out, raw, weights):
        if w.dim() <= 1:
            continue
        for i in range(w.shape[0]):
            expected = r[i] * (w[i].norm() / r[i].norm())
            assert torch.allclose(d[i], expected, rtol=1e-5, atol=1e-7)


def test_filter_norm_with_1d_included_matches_magnitudes():
    weights, raw = _weights_and_raw(3)
    out = normalize_direction(raw, weights, norm="filter", ignore_1d=False)
    for d, r, w in zip(out, raw, weights):
        if w.dim() == 1:
            assert torch.allclose(d.abs(), w.abs(), rtol=1e-6)
            assert torch.equal(torch.sign(d)[w != 0], torch.sign(r)[w != 0])


def test_layer_and_model_norms():
    weights, raw = _weights_and_raw(5)
    layer = normalize_direction(raw, weights, norm="layer")
    for d, w in zip(layer, weights):
        if w.dim() > 1:
            assert torch.allclose(d.norm(), w.norm(), rtol=1e-5)
    model = normalize_direction(raw, weights, norm="model")
    kept = [i for i, w in enumerate(weights) if w.dim() > 1]
    dn = torch.stack([model[i].double().norm() for i in kept]).norm()
    wn = torch.stack([weights[i].double().norm() for i in kept]).norm()
    assert torch.allclose(dn, wn, rtol=1e-6)
    # model normalization is one global factor
    factors = {round(float(model[i].flatten()[0] / raw[i].flatten()[0]), 5) for i in kept}
    assert len(factors) == 1
    none = normalize_direction(raw, weights, norm="none")
    assert all(torch.equal(d, r) for d, r, w in zip(none, raw, weights) if w.dim() > 1)


def test_zero_weight_slice_gives_zero_direction_slice():
    w = torch.zeros(3, 4)
    w[1] = 2.0
    (d,) = normalize_direction([torch.ones(3, 4)], [w], norm="filter")
    assert torch.equal(d[0], torch.zeros(4)) and torch.allclose(d[1].norm(), w[1].norm())


def test_errors():
    w = [torch.ones(2, 2)]
    with pytest.raises(ValueError, match="Invalid norm 'bogus'"):
        normalize_direction(w, w, norm="bogus")
    with pytest.raises(ValueError, match="direction has 2 tensors but weights has 1"):
        normalize_direction(w * 2, w)
    with pytest.raises(ValueError, match=r"shape \(3, 2\) but the weight has \(2, 2\)"):
        normalize_direction([torch.ones(3, 2)], w)
