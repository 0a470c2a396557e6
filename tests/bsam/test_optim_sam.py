"""SAM / BSAM optimizer classes against plain-tensor references and closed forms (float64)."""

from __future__ import annotations

import io
import math

import pytest
import torch
from torch import nn

from bsam.optim import BSAM, SAM, sam_step

DTYPE = torch.float64


def _data(n: int = 12, d: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen, dtype=DTYPE)
    y = torch.randn(n, generator=gen, dtype=DTYPE)
    return x, y


def _mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1)).to(DTYPE)


def _mlp_loss(params: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """MSE of the MLP above written with plain tensor operations."""
    w1, b1, w2, b2 = params
    pred = torch.tanh(x @ w1.T + b1) @ w2.T + b2
    return ((pred.squeeze(1) - y) ** 2).mean()


def _reference_sam_sgd(
    params: list[torch.Tensor], x, y, *, rho, lr, momentum, weight_decay, steps
) -> list[torch.Tensor]:
    """SAM with SGD + momentum (PyTorch convention: buf = mu buf + g, first buf = g)."""
    params = [p.detach().clone() for p in params]
    bufs: list[torch.Tensor | None] = [None] * len(params)
    for _ in range(steps):
        ps = [p.clone().requires_grad_(True) for p in params]
        grads = torch.autograd.grad(_mlp_loss(ps, x, y), ps)
        norm = math.sqrt(sum(float((g**2).sum()) for g in grads))
        perturbed = [(p + rho * g / norm).requires_grad_(True) for p, g in zip(params, grads)]
        grads2 = torch.autograd.grad(_mlp_loss(perturbed, x, y), perturbed)
        new = []
        for i, (p, g) in enumerate(zip(params, grads2)):
            d = g + weight_decay * p
            bufs[i] = d.clone() if bufs[i] is None else momentum * bufs[i] + d
            new.append(p - lr * bufs[i])
        params = new
    return params


def _reference_sam_adam(
    params: list[torch.Tensor], x, y, *, rho, lr, betas, eps, steps
) -> list[torch.Tensor]:
    """SAM with Adam (Kingma & Ba, bias-corrected moments), plain tensors."""
    b1, b2 = betas
    params = [p.detach().clone() for p in params]
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    for t in range(1, steps + 1):
        ps = [p.clone().requires_grad_(True) for p in params]
        grads = torch.autograd.grad(_mlp_loss(ps, x, y), ps)
        norm = math.sqrt(sum(float((g**2).sum()) for g in grads))
        perturbed = [(p + rho * g / norm).requires_grad_(True) for p, g in zip(params, grads)]
        grads2 = torch.autograd.grad(_mlp_loss(perturbed, x, y), perturbed)
        new = []
        for i, (p, g) in enumerate(zip(params, grads2)):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            m_hat = m[i] / (1 - b1**t)
            v_hat = v[i] / (1 - b2**t)
            new.append(p - lr * m_hat / (v_hat.sqrt() + eps))
        params = new
    return params


def _closure(model, opt, x, y):
    def closure(phase="descent"):  # uniform weights: the same loss in both passes
        opt.zero_grad()
        loss = ((model(x).squeeze(1) - y) ** 2).mean()
        loss.backward()
        return loss

    return closure


@pytest.mark.parametrize("cls", [SAM, BSAM])
def test_sam_and_bsam_equal_plain_tensor_reference_with_sgd_momentum(cls):
    x, y = _data()
    model = _mlp()
    start = [p.detach().clone() for p in model.parameters()]
    hp = dict(rho=0.1, lr=0.05, momentum=0.9, weight_decay=1e-3)
    opt = cls(model.parameters(), torch.optim.SGD, **hp)
    for _ in range(5):
        opt.step(_closure(model, opt, x, y))
    expected = _reference_sam_sgd(start, x, y, steps=5, **hp)
    for p, e in zip(model.parameters(), expected):
        torch.testing.assert_close(p.detach(), e, rtol=0, atol=1e-6)
    moved = sum(float((p.detach() - s).abs().sum()) for p, s in zip(model.parameters(), start))
    assert moved > 1e-3  # the comparison is not between two unchanged models


def test_bsam_with_unit_weights_equals_sam_and_reference_via_sam_step():
    x, y = _data()
    hp = dict(rho=0.1, lr=0.05, momentum=0.9, weight_decay=1e-3)
    runs = {}
    for name, cls, weights in [("sam", SAM, None), ("bsam", BSAM, torch.ones_like(y))]:
        model = _mlp()
        opt = cls(model.parameters(), torch.optim.SGD, **hp)
        for _ in range(4):
            sam_step(model, opt, x, y, "mse", perturb_weights=weights, descent_weights=weights)
        runs[name] = [p.detach().clone() for p in model.parameters()]
    expected = _reference_sam_sgd(list(_mlp().parameters()), x, y, steps=4, **hp)
    for a, b, e in zip(runs["sam"], runs["bsam"], expected):
        assert torch.equal(a, b)  # uniform weights: BSAM is SAM step for step, bit for bit
        torch.testing.assert_close(a, e, rtol=0, atol=1e-6)


def test_adam_base_equals_plain_tensor_reference():
    x, y = _data(seed=3)
    model = _mlp(seed=3)
    start = [p.detach().clone() for p in model.parameters()]
    opt = BSAM(model.parameters(), torch.optim.Adam, rho=0.05, lr=1e-2, betas=(0.9, 0.99), eps=1e-8)
    for _ in range(4):
        opt.step(_closure(model, opt, x, y))
    expected = _reference_sam_adam(
        start, x, y, rho=0.05, lr=1e-2, betas=(0.9, 0.99), eps=1e-8, steps=4
    )
    for p, e in zip(model.parameters(), expected):
        torch.testing.assert_close(p.detach(), e, rtol=0, atol=1e-6)


def test_perturbation_norm_is_rho_and_second_step_restores_exactly():
    x, y = _data()
    model = _mlp()
    before = [p.detach().clone() for p in model.parameters()]
    opt = BSAM(model.parameters(), torch.optim.SGD, rho=0.3, lr=0.0)
    _closure(model, opt, x, y)()
    grads = [p.grad.clone() for p in model.parameters()]
    norm = opt.first_step()
    eps = [p.detach() - b for p, b in zip(model.parameters(), before)]
    eps_norm = math.sqrt(sum(float((e**2).sum()) for e in eps))
    assert eps_norm == pytest.approx(0.3, rel=1e-12)
    g_norm = math.sqrt(sum(float((g**2).sum()) for g in grads))
    assert float(norm) == pytest.approx(g_norm, rel=1e-12)
    for e, g in zip(eps, grads):  # eps is parallel to g
        torch.testing.assert_close(e, 0.3 * g / g_norm, rtol=1e-10, atol=1e-14)
    opt.second_step()  # lr = 0: the base step changes nothing, theta must come back bit for bit
    for p, b in zip(model.parameters(), before):
        assert torch.equal(p.detach(), b)


def test_adaptive_perturbation_is_asam_closed_form():
    x, y = _data()
    model = _mlp()
    theta = [p.detach().clone() for p in model.parameters()]
    opt = SAM(model.parameters(), torch.optim.SGD, rho=0.2, adaptive=True, lr=0.1)
    _closure(model, opt, x, y)()
    grads = [p.grad.clone() for p in model.parameters()]
    opt.first_step()
    scaled_norm = math.sqrt(sum(float(((t.abs() * g) ** 2).sum()) for t, g in zip(theta, grads)))
    for p, t, g in zip(model.parameters(), theta, grads):
        torch.testing.assert_close(
            p.detach() - t, 0.2 * t**2 * g / scaled_norm, rtol=1e-9, atol=1e-14
        )
    # the perturbation has norm rho in the |theta|^-1 metric
    weighted = math.sqrt(
        sum(
            float((((p.detach() - t) / t.abs()) ** 2).sum())
            for p, t in zip(model.parameters(), theta)
        )
    )
    assert weighted == pytest.approx(0.2, rel=1e-9)


def test_quadratic_update_equals_closed_form():
    gen = torch.Generator().manual_seed(1)
    m = torch.randn(4, 4, generator=gen, dtype=DTYPE)
    a = m @ m.T + torch.eye(4, dtype=DTYPE)
    b = torch.randn(4, generator=gen, dtype=DTYPE)
    theta = nn.Parameter(torch.randn(4, generator=gen, dtype=DTYPE))
    rho, lr = 0.1, 0.05
    opt = BSAM([theta], torch.optim.SGD, rho=rho, lr=lr)

    def closure(phase):
        opt.zero_grad()
        loss = 0.5 * theta @ a @ theta - b @ theta
        loss.backward()
        return loss

    expected = theta.detach().clone()
    for _ in range(3):
        g = a @ expected - b
        perturbed = expected + rho * g / torch.linalg.vector_norm(g)
        expected = expected - lr * (a @ perturbed - b)
        opt.step(closure)
        torch.testing.assert_close(theta.detach(), expected, rtol=0, atol=1e-12)


def test_per_group_rho_uses_one_global_norm():
    w1 = nn.Parameter(torch.tensor([3.0, 0.0], dtype=DTYPE))
    w2 = nn.Parameter(torch.tensor([0.0, 4.0], dtype=DTYPE))
    opt = SAM([{"params": [w1], "rho": 0.5}, {"params": [w2]}], torch.optim.SGD, rho=0.1, lr=0.1)
    w1.grad = torch.tensor([3.0, 0.0], dtype=DTYPE)
    w2.grad = torch.tensor([0.0, 4.0], dtype=DTYPE)  # global ||g|| = 5
    opt.first_step()
    torch.testing.assert_close(w1.detach(), torch.tensor([3.0 + 0.5 * 3 / 5, 0.0], dtype=DTYPE))
    torch.testing.assert_close(w2.detach(), torch.tensor([0.0, 4.0 + 0.1 * 4 / 5], dtype=DTYPE))


def test_params_without_grad_are_skipped():
    x, y = _data()
    torch.manual_seed(0)
    used = nn.Linear(3, 1).to(DTYPE)
    unused = nn.Linear(3, 2).to(DTYPE)
    unused_before = [p.detach().clone() for p in unused.parameters()]
    reference = nn.Linear(3, 1).to(DTYPE)
    reference.load_state_dict(used.state_dict())
    opt = BSAM(
        [*used.parameters(), *unused.parameters()], torch.optim.SGD, rho=0.1, lr=0.1, momentum=0.9
    )
    ref_opt = BSAM(reference.parameters(), torch.optim.SGD, rho=0.1, lr=0.1, momentum=0.9)
    for _ in range(3):
        opt.step(_closure(used, opt, x, y))
        ref_opt.step(_closure(reference, ref_opt, x, y))
    for p, b in zip(unused.parameters(), unused_before):
        assert torch.equal(p.detach(), b)
    for p, r in zip(used.parameters(), reference.parameters()):
        assert torch.equal(p.detach(), r.detach())


def test_zero_gradient_gives_zero_perturbation():
    w = nn.Parameter(torch.tensor([1.0, -2.0], dtype=DTYPE))
    opt = SAM([w], torch.optim.SGD, rho=0.1, lr=0.1)
    w.grad = torch.zeros_like(w)
    norm = opt.first_step()
    assert float(norm) == 0.0
    assert torch.equal(w.detach(), torch.tensor([1.0, -2.0], dtype=DTYPE))
    opt.second_step()
    assert torch.isfinite(w).all()


@pytest.mark.parametrize("bad", [0.0, -0.1, float("nan"), float("inf")])
def test_invalid_rho_raises(bad):
    with pytest.raises(ValueError, match="Invalid rho value"):
        BSAM(nn.Linear(2, 1).parameters(), torch.optim.SGD, rho=bad, lr=0.1)


def test_invalid_group_rho_raises():
    lin = nn.Linear(2, 1)
    with pytest.raises(ValueError, match="Invalid rho value in a parameter group: -1"):
        SAM([{"params": lin.parameters(), "rho": -1.0}], torch.optim.SGD, lr=0.1)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_gradient_raises_and_leaves_params(bad):
    w = nn.Parameter(torch.tensor([1.0, 2.0]))
    opt = BSAM([w], torch.optim.SGD, rho=0.1, lr=0.1)
    w.grad = torch.tensor([bad, 0.0])
    with pytest.raises(FloatingPointError, match="Non-finite gradient norm"):
        opt.first_step()
    assert torch.equal(w.detach(), torch.tensor([1.0, 2.0]))


def test_step_without_closure_raises():
    opt = SAM(nn.Linear(2, 1).parameters(), torch.optim.SGD, lr=0.1)
    with pytest.raises(ValueError, match="needs a closure"):
        opt.step()


def test_param_groups_are_shared_with_the_base_optimizer():
    model = _mlp()
    opt = BSAM(model.parameters(), torch.optim.SGD, rho=0.1, lr=0.1, momentum=0.9)
    assert opt.param_groups is opt.base_optimizer.param_groups
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    x, y = _data()
    opt.step(_closure(model, opt, x, y))
    sched.step()
    assert opt.base_optimizer.param_groups[0]["lr"] == pytest.approx(0.05)
    assert opt.param_groups[0]["rho"] == 0.1


@pytest.mark.parametrize(
    "base,kwargs",
    [(torch.optim.SGD, dict(lr=0.05, momentum=0.9)), (torch.optim.Adam, dict(lr=1e-2))],
)
def test_state_dict_round_trip_continues_bit_identically(base, kwargs):
    x, y = _data(seed=5)
    weights = torch.rand(len(y), generator=torch.Generator().manual_seed(2), dtype=DTYPE) + 0.5

    def run(model, opt, steps):
        for _ in range(steps):
            sam_step(model, opt, x, y, "l1", perturb_weights=weights)

    model = _mlp(seed=7)
    opt = BSAM(model.parameters(), base, rho=0.1, **kwargs)
    run(model, opt, 6)
    uninterrupted = [p.detach().clone() for p in model.parameters()]

    model = _mlp(seed=7)
    opt = BSAM(model.parameters(), base, rho=0.1, **kwargs)
    run(model, opt, 3)
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    fresh = _mlp(seed=11)
    fresh.load_state_dict(saved["model"])
    fresh_opt = BSAM(fresh.parameters(), base, rho=0.7, **kwargs)
    fresh_opt.load_state_dict(saved["opt"])
    assert fresh_opt.param_groups is fresh_opt.base_optimizer.param_groups
    assert fresh_opt.param_groups[0]["rho"] == 0.1  # rho travels with the state dict
    assert fresh_opt.base_optimizer.state  # momentum / moments were restored
    run(fresh, fresh_opt, 3)
    for p, u in zip(fresh.parameters(), uninterrupted):
        assert torch.equal(p.detach(), u)


def test_plain_base_optimizer_state_loads_with_default_rho():
    x, y = _data()
    model = _mlp()
    sgd = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sgd.zero_grad()
    ((model(x).squeeze(1) - y) ** 2).mean().backward()
    sgd.step()
    opt = BSAM(model.parameters(), torch.optim.SGD, rho=0.3, lr=0.05, momentum=0.9)
    opt.load_state_dict(sgd.state_dict())
    assert opt.param_groups[0]["rho"] == 0.3 and opt.param_groups[0]["adaptive"] is False
    p0 = next(model.parameters())
    torch.testing.assert_close(
        opt.base_optimizer.state[p0]["momentum_buffer"], sgd.state[p0]["momentum_buffer"]
    )
    opt.step(_closure(model, opt, x, y))  # runs: the groups have everything first_step needs
