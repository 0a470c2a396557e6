"""ImbSAM against its closed form on a linear model and against a hand-written two-pass reference
of the official code (github cool-xuan/Imbalanced_SAM, utils/trainval.py: tail loss x2 at theta and
theta + eps, BatchNorm in train mode for both forward passes); edge cases (empty / full tail);
errors."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from bsam.optim import SAM, ImbSAM, imbsam_step, plain_step, sam_step

DTYPE = torch.float64


def _problem(n: int = 12, d: int = 3, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen, dtype=DTYPE)
    y = torch.randn(n, generator=gen, dtype=DTYPE)
    w = torch.rand(n, generator=gen, dtype=DTYPE) + 0.5
    torch.manual_seed(seed)
    return nn.Linear(d, 1).to(DTYPE), x, y, w


def _theta(model: nn.Linear) -> torch.Tensor:
    return torch.cat([model.weight.detach().reshape(-1), model.bias.detach()])


def _part_grad(theta, x, y, v, mask):
    """d/dtheta (1/N) sum_{i in mask} v_i r_i^2 = (2/N) sum_{i in mask} v_i r_i [x_i, 1]."""
    r = x @ theta[:-1] + theta[-1] - y
    design = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], dim=1)
    return 2 * (mask * v * r) @ design / len(y)


@pytest.mark.parametrize("tail_scale", [2.0, 1.0])
@pytest.mark.parametrize("weighted", [False, True])
def test_imbsam_equals_closed_form(weighted, tail_scale):
    model, x, y, w = _problem()
    v = w if weighted else torch.ones_like(y)
    tail = torch.tensor([i % 4 == 0 for i in range(len(y))])
    head_m, tail_m = (~tail).to(DTYPE), tail.to(DTYPE)
    rho, lr, mu, s = 0.25, 0.1, 0.9, tail_scale
    opt = ImbSAM(model.parameters(), torch.optim.SGD, rho=rho, lr=lr, momentum=mu, tail_scale=s)
    theta, buf = _theta(model), None
    for _ in range(3):
        g_head = _part_grad(theta, x, y, v, head_m)
        g_tail = s * _part_grad(theta, x, y, v, tail_m)
        perturbed = theta + rho * g_tail / g_tail.norm()
        g = g_head + s * _part_grad(perturbed, x, y, v, tail_m)
        buf = g if buf is None else mu * buf + g
        expected = theta - lr * buf

        result = imbsam_step(
            model, opt, x, y, "mse", tail_mask=tail, weights=w if weighted else None
        )

        torch.testing.assert_close(_theta(model), expected, rtol=0, atol=1e-12)
        r2 = (x @ theta[:-1] + theta[-1] - y) ** 2
        r2_perturbed = (x @ perturbed[:-1] + perturbed[-1] - y) ** 2
        assert result.loss == pytest.approx(float((v * r2).mean()), rel=1e-12)
        assert result.perturbation_loss == pytest.approx(
            float(s * (tail_m * v * r2).sum() / len(y)), rel=1e-12
        )
        assert result.grad_norm == pytest.approx(float(g_tail.norm()), rel=1e-12)
        expected_perturbed = float(((head_m * r2 + s * tail_m * r2_perturbed) * v).sum() / len(y))
        assert result.loss_at_perturbed == pytest.approx(expected_perturbed, rel=1e-12)
        theta = expected


def test_empty_tail_is_a_plain_step_on_the_head():
    model, x, y, w = _problem(seed=1)
    twin = copy.deepcopy(model)
    opt = ImbSAM(model.parameters(), torch.optim.SGD, rho=0.1, lr=0.1, momentum=0.9)
    twin_opt = torch.optim.SGD(twin.parameters(), lr=0.1, momentum=0.9)
    no_tail = torch.zeros(len(y), dtype=torch.bool)
    for _ in range(3):
        a = imbsam_step(model, opt, x, y, "l1", tail_mask=no_tail, weights=w)
        b = plain_step(twin, twin_opt, x, y, "l1", weights=w)
        torch.testing.assert_close(_theta(model), _theta(twin), rtol=0, atol=1e-12)
        assert a.loss == pytest.approx(b.loss, rel=1e-12)
        assert a.grad_norm == 0.0 and a.perturbation_loss == 0.0


@pytest.mark.parametrize("tail_scale", [1.0, 2.0])
def test_all_tail_is_sam_on_the_scaled_loss(tail_scale):
    # eps does not depend on the scale; plain SGD on s * L is SGD with learning rate s * lr
    model, x, y, _ = _problem(seed=2)
    twin = copy.deepcopy(model)
    opt = ImbSAM(model.parameters(), torch.optim.SGD, rho=0.2, lr=0.1, tail_scale=tail_scale)
    twin_opt = SAM(twin.parameters(), torch.optim.SGD, rho=0.2, lr=0.1 * tail_scale)
    all_tail = torch.ones(len(y), dtype=torch.bool)
    for _ in range(3):
        a = imbsam_step(model, opt, x, y, "mse", tail_mask=all_tail)
        b = sam_step(twin, twin_opt, x, y, "mse")
        torch.testing.assert_close(_theta(model), _theta(twin), rtol=0, atol=1e-12)
        assert a.grad_norm == pytest.approx(tail_scale * b.grad_norm, rel=1e-12)
        assert a.loss == pytest.approx(b.loss, rel=1e-12)


@pytest.mark.parametrize("tail_every", [3, 0])  # 0: a batch without tail samples
def test_step_with_phase_closure_equals_imbsam_step(tail_every):
    model, x, y, w = _problem(seed=3)
    twin = copy.deepcopy(model)
    tail = torch.arange(len(y)) % tail_every == 1 if tail_every else torch.zeros(len(y)) > 0
    opt = ImbSAM(model.parameters(), torch.optim.SGD, rho=0.2, lr=0.1, momentum=0.9)
    twin_opt = ImbSAM(twin.parameters(), torch.optim.SGD, rho=0.2, lr=0.1, momentum=0.9)
    seen = []

    def closure(phase):
        seen.append(phase)
        twin_opt.zero_grad()
        err = w * (twin(x).squeeze(1) - y) ** 2
        part = err[~tail] if phase == "head" else err[tail]
        loss = part.sum() / len(y)
        loss.backward()
        return loss

    for _ in range(4):
        result = imbsam_step(model, opt, x, y, "mse", tail_mask=tail, weights=w)
        returned = twin_opt.step(closure)
        torch.testing.assert_close(_theta(twin), _theta(model), rtol=0, atol=1e-6)
        assert float(returned) == pytest.approx(result.loss, rel=1e-9)
    passes = ["head", "perturb", "descent"] if tail_every else ["head", "perturb"]
    assert seen[: len(passes) + 1] == [*passes, "head"]  # no descent pass without tail samples
    assert not torch.allclose(_theta(model), _theta(_problem(seed=3)[0]))  # it moved


def test_old_tuple_closure_still_works_with_a_deprecation_warning():
    model, x, y, _ = _problem(seed=3)
    twin = copy.deepcopy(model)
    tail = torch.arange(len(y)) % 3 == 1
    opt = ImbSAM(model.parameters(), torch.optim.SGD, rho=0.2, lr=0.1)
    twin_opt = ImbSAM(twin.parameters(), torch.optim.SGD, rho=0.2, lr=0.1)

    def closure():
        err = (twin(x).squeeze(1) - y) ** 2
        return err[~tail].sum() / len(y), err[tail].sum() / len(y)

    for _ in range(2):
        imbsam_step(model, opt, x, y, "mse", tail_mask=tail)
        with pytest.warns(DeprecationWarning, match="closure returning \\(head_loss, tail_loss\\)"):
            twin_opt.step(closure)
        torch.testing.assert_close(_theta(model), _theta(twin), rtol=0, atol=1e-12)


def test_zero_argument_closure_with_one_loss_is_refused():
    model, x, y, _ = _problem()
    opt = ImbSAM(model.parameters(), torch.optim.SGD, rho=0.2, lr=0.1)

    def closure():
        loss = ((model(x).squeeze(1) - y) ** 2).mean()
        loss.backward()
        return loss

    with pytest.raises(TypeError, match="ImbSAM.step got a closure without arguments that does"):
        opt.step(closure)
    with pytest.raises(ValueError, match="ImbSAM.step needs a closure"):
        opt.step()


def test_dense_targets_per_sample_mask_broadcasts():
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(4, 1, 3, 3, generator=gen, dtype=DTYPE)
    y = torch.randn(4, 3, 3, generator=gen, dtype=DTYPE)
    torch.manual_seed(0)
    model = nn.Conv2d(1, 1, 3, padding=1).to(DTYPE)
    twin = copy.deepcopy(model)
    with torch.no_grad():
        err = (model(x).squeeze(1) - y).abs()
    per_sample = torch.tensor([True, False, False, True])
    opt = ImbSAM(model.parameters(), torch.optim.SGD, rho=0.1, lr=0.1)
    twin_opt = ImbSAM(twin.parameters(), torch.optim.SGD, rho=0.1, lr=0.1)
    a = imbsam_step(model, opt, x, y, "l1", tail_mask=per_sample)
    b = imbsam_step(twin, twin_opt, x, y, "l1", tail_mask=per_sample[:, None, None].expand(4, 3, 3))
    assert a == b
    for p, q in zip(model.parameters(), twin.parameters()):
        assert torch.equal(p, q)
    assert a.loss == pytest.approx(float(err.mean()), rel=1e-12)  # mean over all 36 pixels
    # the official tail part: sum / N * 2
    assert a.perturbation_loss == pytest.approx(float(2 * err[per_sample].sum() / 36), rel=1e-12)


def test_invalid_tail_mask_and_optimizer_raise():
    model, x, y, _ = _problem()
    opt = ImbSAM(model.parameters(), torch.optim.SGD, rho=0.1, lr=0.1)
    with pytest.raises(
        ValueError, match="tail_mask must be a boolean tensor, got dtype torch.float32"
    ):
        imbsam_step(model, opt, x, y, "l1", tail_mask=torch.zeros(len(y)))
    with pytest.raises(
        ValueError, match=r"tail_mask has shape \(5,\) but the targets have shape \(12,\)"
    ):
        imbsam_step(model, opt, x, y, "l1", tail_mask=torch.zeros(5, dtype=torch.bool))
    with pytest.raises(TypeError, match="imbsam_step needs an ImbSAM optimizer, got SAM"):
        imbsam_step(
            model, SAM(model.parameters(), torch.optim.SGD, lr=0.1), x, y, "l1", tail_mask=y > 0
        )
    with pytest.raises(TypeError, match="got ImbSAM; .* imbsam_step for ImbSAM"):
        sam_step(model, opt, x, y, "l1")
    with pytest.raises(ValueError, match="Invalid rho value: 0"):
        ImbSAM(model.parameters(), torch.optim.SGD, rho=0, lr=0.1)
    for bad in (0.0, -1.0, float("inf")):
        with pytest.raises(ValueError, match=f"Invalid tail_scale value: {bad}; must be finite"):
            ImbSAM(model.parameters(), torch.optim.SGD, lr=0.1, tail_scale=bad)


# ------------------------------------------------------------- the official code, by hand
def _bn_net() -> nn.Sequential:
    torch.manual_seed(7)
    net = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5, momentum=0.25), nn.Tanh(), nn.Linear(5, 1))
    net = net.to(DTYPE).train()
    with torch.no_grad():
        net[1].running_mean.copy_(torch.tensor([0.3, -0.1, 0.0, 0.2, -0.4]))
        net[1].running_var.copy_(torch.tensor([1.5, 0.7, 1.0, 2.0, 0.9]))
    return net


def _official_step(net: nn.Sequential, x, y, tail, rho: float, lr: float) -> None:
    """One step as utils/trainval.py (``optim_mode == 'imbsam'``) with plain SGD, by autograd.

    Both forward passes run in train mode on the whole batch, so each one moves the BatchNorm
    running statistics; head = sum_{~T} l / N, tail = sum_T l / N * 2 at theta and theta + eps.
    """
    params = list(net.parameters())
    n = len(y)
    loss = (net(x).squeeze(1) - y).abs()  # pass 1 at theta
    g_head = torch.autograd.grad(loss[~tail].sum() / n, params, retain_graph=True)
    g_tail = torch.autograd.grad(loss[tail].sum() / n * 2, params)
    norm = torch.sqrt(sum((g**2).sum() for g in g_tail))
    eps = [rho * g / norm for g in g_tail]
    with torch.no_grad():
        for p, e in zip(params, eps):
            p.add_(e)
    loss = (net(x).squeeze(1) - y).abs()  # pass 2 at theta + eps
    g_perturbed = torch.autograd.grad(loss[tail].sum() / n * 2, params)
    with torch.no_grad():
        for p, e, gh, gt in zip(params, eps, g_head, g_perturbed):
            p.sub_(e)
            p.sub_(lr * (gh + gt))


def test_imbsam_step_equals_the_official_two_pass_computation():
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(10, 3, generator=gen, dtype=DTYPE)
    y = torch.randn(10, generator=gen, dtype=DTYPE)
    tail = torch.tensor([1, 0, 0, 1, 0, 0, 0, 1, 0, 0], dtype=torch.bool)
    net, reference = _bn_net(), _bn_net()
    opt = ImbSAM(net.parameters(), torch.optim.SGD, rho=0.3, lr=0.1)  # defaults: official
    for _ in range(3):
        imbsam_step(net, opt, x, y, "l1", tail_mask=tail)  # default bn_mode: both passes
        _official_step(reference, x, y, tail, rho=0.3, lr=0.1)
        for p, q in zip(net.parameters(), reference.parameters()):
            torch.testing.assert_close(p, q, rtol=0, atol=1e-12)
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            torch.testing.assert_close(getattr(net[1], name), getattr(reference[1], name))
    assert int(net[1].num_batches_tracked) == 6  # two updates per step


def test_bn_mode_second_moves_the_running_stats_only_with_the_second_pass():
    gen = torch.Generator().manual_seed(12)
    x = torch.randn(10, 3, generator=gen, dtype=DTYPE)
    y = torch.randn(10, generator=gen, dtype=DTYPE)
    tail = torch.arange(10) % 3 == 0
    net, reference = _bn_net(), _bn_net()
    opt = ImbSAM(net.parameters(), torch.optim.SGD, rho=0.3, lr=0.1)
    before = {k: v.clone() for k, v in reference[1].state_dict().items()}
    _official_step(reference, x, y, tail, rho=0.3, lr=0.1)
    imbsam_step(net, opt, x, y, "l1", tail_mask=tail, bn_mode="second")
    for p, q in zip(net.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-12)  # the update does not depend on it
    # the reference's second pass saw the batch at theta + eps: redo it from the saved stats
    m = reference[1].momentum
    z = _pre_bn_at_perturbed(x, y, tail, rho=0.3)
    expected_mean = (1 - m) * before["running_mean"] + m * z.mean(0)
    expected_var = (1 - m) * before["running_var"] + m * z.var(0, unbiased=True)
    torch.testing.assert_close(net[1].running_mean, expected_mean, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(net[1].running_var, expected_var, rtol=1e-12, atol=1e-14)
    assert int(net[1].num_batches_tracked) == 1


def _pre_bn_at_perturbed(x, y, tail, rho: float) -> torch.Tensor:
    """The BatchNorm input of the official second pass (at theta + eps), by autograd."""
    net = _bn_net()
    params = list(net.parameters())
    loss = (net(x).squeeze(1) - y).abs()
    g_tail = torch.autograd.grad(loss[tail].sum() / len(y) * 2, params)
    norm = torch.sqrt(sum((g**2).sum() for g in g_tail))
    with torch.no_grad():
        for p, g in zip(params, g_tail):
            p.add_(rho * g / norm)
        return net[0](x)


@pytest.mark.parametrize("bn_mode,updates", [("both", 2), ("second", 1), ("first", 1), ("none", 0)])
def test_a_batch_without_tail_still_runs_the_second_pass_for_batchnorm(bn_mode, updates):
    # the official code runs its second forward at theta + 0 (eps = 0) on such a batch
    gen = torch.Generator().manual_seed(13)
    x = torch.randn(10, 3, generator=gen, dtype=DTYPE)
    y = torch.randn(10, generator=gen, dtype=DTYPE)
    net = _bn_net()
    stats = net[1].running_mean.clone(), net[1].running_var.clone()
    opt = ImbSAM(net.parameters(), torch.optim.SGD, rho=0.3, lr=0.1)
    with torch.no_grad():
        z = net[0](x)
    imbsam_step(net, opt, x, y, "l1", tail_mask=torch.zeros(10, dtype=torch.bool), bn_mode=bn_mode)
    m = net[1].momentum
    mean, var = stats
    for _ in range(updates):  # both passes see the batch at theta
        mean = (1 - m) * mean + m * z.mean(0)
        var = (1 - m) * var + m * z.var(0, unbiased=True)
    torch.testing.assert_close(net[1].running_mean, mean, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(net[1].running_var, var, rtol=1e-12, atol=1e-14)
    assert int(net[1].num_batches_tracked) == updates
