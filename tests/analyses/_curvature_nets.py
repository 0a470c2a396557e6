"""Tiny float64 networks and independent dense references for the curvature tests."""

from __future__ import annotations

import hashlib

import pytest
import torch
from torch import nn
from torch.func import functional_call, jacrev


def mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1)).double()


def small_cnn(seed: int = 0) -> nn.Module:
    """Conv -> BatchNorm (eval, nontrivial running statistics) -> Tanh -> Linear."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(2, 3, 3),
        nn.BatchNorm2d(3),
        nn.Tanh(),
        nn.Flatten(),
        nn.Linear(3 * 3 * 3, 3),
        nn.Tanh(),
        nn.Linear(3, 1),
    ).double()
    with torch.no_grad():
        net[1].running_mean.normal_()
        net[1].running_var.uniform_(0.5, 2.0)
        net[1].weight.uniform_(0.5, 1.5)
        net[1].bias.normal_()
    net.train()  # the operator must switch to eval mode itself
    return net


def mlp_data(n: int = 11, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, generator=g, dtype=torch.float64), torch.randn(
        n, generator=g, dtype=torch.float64
    )


def cnn_data(n: int = 9, seed: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 2, 5, 5, generator=g, dtype=torch.float64)
    return X, torch.randn(n, generator=g, dtype=torch.float64)


def _flat_fn(net: nn.Module, names: list[str] | None = None):
    named = dict(net.named_parameters())
    names = list(named) if names is None else names
    shapes = [named[n].shape for n in names]
    sizes = [s.numel() for s in shapes]
    w0 = torch.cat([named[n].detach().reshape(-1) for n in names])

    def predict(w: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
        parts = dict(zip(names, (t.view(s) for t, s in zip(torch.split(w, sizes), shapes))))
        was = net.training
        net.eval()
        try:
            out = functional_call(net, parts, (X,))
        finally:
            net.train(was)
        return out.reshape(X.shape[0], -1).squeeze(1)

    return w0, predict


def _elementwise(loss: str, r: torch.Tensor) -> torch.Tensor:
    if loss == "mse":
        return r.square()
    if loss == "l1":
        return r.abs()
    if loss == "huber":
        a = r.abs()
        return torch.where(a <= 1.0, 0.5 * a.square(), a - 0.5)
    raise AssertionError(loss)


_CACHE: dict[str, torch.Tensor] = {}


def _key(*parts) -> str:
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, torch.Tensor):
            h.update(part.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
        else:
            h.update(repr(part).encode())
    return h.hexdigest()


def dense_hessian(net, X, y, loss: str, names=None, weight=None) -> torch.Tensor:
    """Hessian of mean(loss) (optionally sum(weight * loss)/sum(weight)) by torch.func.jacrev(jacrev).

    Memoised on the exact bytes of the parameters, buffers and data (the tests rebuild the same
    seeded networks many times).
    """
    key = _key(repr(net), *net.state_dict().values(), X, y, loss, names, weight)
    if key not in _CACHE:
        _CACHE[key] = _dense_hessian(net, X, y, loss, names, weight)
    return _CACHE[key].clone()


def _dense_hessian(net, X, y, loss: str, names=None, weight=None) -> torch.Tensor:
    w0, predict = _flat_fn(net, names)

    def L(w):
        el = _elementwise(loss, predict(w, X) - y)
        if weight is None:
            return el.mean()
        return (el * weight).sum() / weight.sum()

    return jacrev(jacrev(L))(w0)


def dense_ggn(net, X, y, loss: str) -> torch.Tensor:
    """J^T diag(h) J / N with h the second derivative of the loss in the prediction."""
    w0, predict = _flat_fn(net)
    J = jacrev(lambda w: predict(w, X))(w0)
    r = predict(w0, X) - y
    if loss == "mse":
        h = torch.full_like(r, 2.0)
    elif loss == "l1":
        h = torch.ones_like(r)  # the documented L1 Gauss-Newton rule
    else:
        h = (r.abs() <= 1.0).to(r.dtype)
    return J.T @ (h[:, None] * J) / X.shape[0]


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny problems: one intra-op thread (no OpenMP spin-waiting on a shared, loaded machine)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
