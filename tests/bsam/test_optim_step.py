"""One-call steps (plain_step, sam_step) against hand-computed gradients; BN modes; errors."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from bsam.distributed import StepSync
from bsam.optim import BSAM, SAM, ImbSAM, StepResult, imbsam_step, plain_step, sam_step

DTYPE = torch.float64


def _linear_problem(n: int = 10, d: int = 3, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen, dtype=DTYPE)
    y = torch.randn(n, generator=gen, dtype=DTYPE)
    w = torch.rand(n, generator=gen, dtype=DTYPE) * 3 + 0.1
    torch.manual_seed(seed)
    model = nn.Linear(d, 1).to(DTYPE)
    return model, x, y, w


def _theta(model: nn.Linear) -> torch.Tensor:
    return torch.cat([model.weight.detach().reshape(-1), model.bias.detach()])


def _residual(theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return x @ theta[:-1] + theta[-1] - y


def _design(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], dim=1)


def _grad_l1(theta, x, y, v):
    """d/dtheta (1/N) sum_i v_i |r_i| = (1/N) sum_i v_i sign(r_i) [x_i, 1]."""
    return (v * torch.sign(_residual(theta, x, y))) @ _design(x) / len(y)


def _grad_mse(theta, x, y, v):
    """d/dtheta (1/N) sum_i v_i r_i^2 = (2/N) sum_i v_i r_i [x_i, 1]."""
    return 2 * (v * _residual(theta, x, y)) @ _design(x) / len(y)


def test_bsam_perturbs_along_weighted_gradient_and_descends_on_descent_loss():
    model, x, y, w = _linear_problem()
    ones = torch.ones_like(y)
    rho, lr = 0.3, 0.1
    opt = BSAM(model.parameters(), torch.optim.SGD, rho=rho, lr=lr)
    theta = _theta(model)
    for _ in range(3):
        g_w = _grad_l1(theta, x, y, w)
        # the weighted perturbation is not the plain one: the test can tell them apart
        g_plain = _grad_l1(theta, x, y, ones)
        cosine = float(g_w @ g_plain / (g_w.norm() * g_plain.norm()))
        assert cosine < 0.999
        perturbed = theta + rho * g_w / g_w.norm()
        expected = theta - lr * _grad_l1(perturbed, x, y, ones)

        result = sam_step(model, opt, x, y, "l1", perturb_weights=w)

        torch.testing.assert_close(_theta(model), expected, rtol=0, atol=1e-12)
        assert isinstance(result, StepResult)
        assert result.loss == pytest.approx(float(_residual(theta, x, y).abs().mean()), rel=1e-12)
        assert result.perturbation_loss == pytest.approx(
            float((w * _residual(theta, x, y).abs()).mean()), rel=1e-12
        )
        assert result.grad_norm == pytest.approx(float(g_w.norm()), rel=1e-12)
        assert result.loss_at_perturbed == pytest.approx(
            float(_residual(perturbed, x, y).abs().mean()), rel=1e-12
        )
        theta = expected


def test_separate_perturbation_loss_and_descent_weights():
    model, x, y, w = _linear_problem(seed=1)
    v = torch.linspace(0.5, 2.0, len(y), dtype=DTYPE)
    rho, lr, mu = 0.2, 0.05, 0.9
    opt = BSAM(model.parameters(), torch.optim.SGD, rho=rho, lr=lr, momentum=mu)
    theta, buf = _theta(model), None
    for _ in range(3):
        g_w = _grad_mse(theta, x, y, w)
        perturbed = theta + rho * g_w / g_w.norm()
        g = _grad_l1(perturbed, x, y, v)
        buf = g if buf is None else mu * buf + g
        expected = theta - lr * buf
        result = sam_step(
            model, opt, x, y, "l1", perturb_weights=w, perturb_loss="mse", descent_weights=v
        )
        torch.testing.assert_close(_theta(model), expected, rtol=0, atol=1e-12)
        r = _residual(theta, x, y)
        assert result.loss == pytest.approx(float((v * r.abs()).mean()), rel=1e-12)
        assert result.perturbation_loss == pytest.approx(float((w * r**2).mean()), rel=1e-12)
        theta = expected


def test_callable_loss_is_accepted():
    model, x, y, w = _linear_problem(seed=2)
    twin = copy.deepcopy(model)
    opt = SAM(model.parameters(), torch.optim.SGD, rho=0.1, lr=0.1)
    twin_opt = SAM(twin.parameters(), torch.optim.SGD, rho=0.1, lr=0.1)
    a = sam_step(model, opt, x, y, lambda p, t: (p - t) ** 2)
    b = sam_step(twin, twin_opt, x, y, "mse")
    assert a == b
    assert torch.equal(_theta(model), _theta(twin))


def test_plain_step_equals_hand_computed_weighted_sgd():
    model, x, y, w = _linear_problem(seed=3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    theta = _theta(model)
    g = _grad_mse(theta, x, y, w)
    result = plain_step(model, opt, x, y, "mse", weights=w)
    torch.testing.assert_close(_theta(model), theta - 0.1 * g, rtol=0, atol=1e-12)
    expected_loss = float((w * _residual(theta, x, y) ** 2).mean())
    assert result.loss == pytest.approx(expected_loss, rel=1e-12)
    assert result.perturbation_loss == result.loss == result.loss_at_perturbed
    assert result.grad_norm == pytest.approx(float(g.norm()), rel=1e-12)


def test_dense_targets_weights_per_element():
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(3, 1, 4, 5, generator=gen, dtype=DTYPE)
    y = torch.randn(3, 4, 5, generator=gen, dtype=DTYPE)
    w = torch.rand(3, 4, 5, generator=gen, dtype=DTYPE) + 0.5
    torch.manual_seed(0)
    model = nn.Conv2d(1, 1, 3, padding=1).to(DTYPE)
    with torch.no_grad():
        err = (model(x).squeeze(1) - y).abs()
    opt = BSAM(model.parameters(), torch.optim.SGD, rho=0.05, lr=0.1)
    result = sam_step(model, opt, x, y, "l1", perturb_weights=w)
    assert result.loss == pytest.approx(float(err.sum() / err.numel()), rel=1e-12)
    assert result.perturbation_loss == pytest.approx(float((w * err).sum() / 60), rel=1e-12)
    with pytest.raises(ValueError, match=r"perturb_weights has shape \(3,\) but the targets"):
        sam_step(model, opt, x, y, "l1", perturb_weights=w[:, 0, 0])


# ----------------------------------------------------------------------------- BatchNorm
def _bn_model() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(3, 4), nn.BatchNorm1d(4, momentum=0.3), nn.Tanh(), nn.Linear(4, 1)
    )
    model = model.to(DTYPE)
    with torch.no_grad():
        model[1].running_mean.copy_(torch.tensor([0.5, -0.2, 0.1, 0.0]))
        model[1].running_var.copy_(torch.tensor([2.0, 0.5, 1.0, 1.5]))
    return model.train()


@pytest.mark.parametrize(
    "mode,updates", [("first", (0,)), ("second", (1,)), ("both", (0, 1)), ("none", ())]
)
@pytest.mark.parametrize("method", ["bsam", "imbsam"])
def test_bn_mode_updates_running_stats_from_the_chosen_passes(mode, updates, method):
    model = _bn_model()
    bn = model[1]
    r_mean, r_var = bn.running_mean.clone(), bn.running_var.clone()
    inputs: list[torch.Tensor] = []
    bn.register_forward_hook(lambda mod, args, out: inputs.append(args[0].detach().clone()))
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(16, 3, generator=gen, dtype=DTYPE)
    y = torch.randn(16, generator=gen, dtype=DTYPE)
    if method == "bsam":
        opt = BSAM(model.parameters(), torch.optim.SGD, rho=0.5, lr=0.1)
        sam_step(model, opt, x, y, "l1", perturb_weights=torch.rand(16, dtype=DTYPE), bn_mode=mode)
    else:
        opt = ImbSAM(model.parameters(), torch.optim.SGD, rho=0.5, lr=0.1)
        imbsam_step(model, opt, x, y, "l1", tail_mask=torch.arange(16) % 3 == 0, bn_mode=mode)
    assert len(inputs) == 2  # one forward at theta, one at theta + eps
    assert not torch.equal(inputs[0], inputs[1])  # the two passes saw different statistics
    m = bn.momentum
    for i in updates:  # running <- (1 - m) running + m * batch statistic (unbiased variance)
        r_mean = (1 - m) * r_mean + m * inputs[i].mean(0)
        r_var = (1 - m) * r_var + m * inputs[i].var(0, unbiased=True)
    torch.testing.assert_close(bn.running_mean, r_mean, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(bn.running_var, r_var, rtol=1e-12, atol=1e-14)
    assert int(bn.num_batches_tracked) == len(updates)


# ----------------------------------------------------------------------------- errors
def test_mismatched_weight_shapes_raise():
    model, x, y, w = _linear_problem()
    opt = BSAM(model.parameters(), torch.optim.SGD, rho=0.1, lr=0.1)
    with pytest.raises(
        ValueError, match=r"perturb_weights has shape \(5,\) but the targets have shape \(10,\)"
    ):
        sam_step(model, opt, x, y, "l1", perturb_weights=w[:5])
    with pytest.raises(ValueError, match=r"descent_weights has shape \(10, 1\)"):
        sam_step(model, opt, x, y, "l1", descent_weights=w[:, None])
    plain = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"weights has shape \(9,\)"):
        plain_step(model, plain, x, y, "l1", weights=w[:9])


def test_non_elementwise_loss_raises():
    model, x, y, _ = _linear_problem()
    opt = SAM(model.parameters(), torch.optim.SGD, rho=0.1, lr=0.1)
    with pytest.raises(
        ValueError, match=r"descent_loss returned shape \(\) .* must be element-wise"
    ):
        sam_step(model, opt, x, y, lambda p, t: ((p - t) ** 2).mean())


def test_bad_arguments_raise():
    model, x, y, _ = _linear_problem()
    opt = SAM(model.parameters(), torch.optim.SGD, rho=0.1, lr=0.1)
    with pytest.raises(ValueError, match="Invalid bn_mode: 'once'"):
        sam_step(model, opt, x, y, "l1", bn_mode="once")
    with pytest.raises(ValueError, match="Empty batch"):
        sam_step(model, opt, x[:0], y[:0], "l1")
    with pytest.raises(ValueError, match="Unknown loss 'l3'"):
        sam_step(model, opt, x, y, "l3")
    with pytest.raises(TypeError, match="Invalid descent_loss: 3"):
        sam_step(model, opt, x, y, 3)
    with pytest.raises(TypeError, match="sam_step needs a SAM or BSAM optimizer, got SGD"):
        sam_step(model, torch.optim.SGD(model.parameters(), lr=0.1), x, y, "l1")
    with pytest.raises(TypeError, match="plain_step got a SAM optimizer"):
        plain_step(model, opt, x, y, "l1")


def test_nan_input_raises_before_perturbing():
    model, x, y, _ = _linear_problem()
    before = _theta(model)
    opt = BSAM(model.parameters(), torch.optim.SGD, rho=0.1, lr=0.1)
    x = x.clone()
    x[0, 0] = float("nan")
    with pytest.raises(FloatingPointError, match="Non-finite loss at theta: nan; the parameters"):
        sam_step(model, opt, x, y, "l1")
    assert torch.equal(_theta(model), before)


def test_lr_scheduler_sees_the_update_made_by_sam_step(recwarn):
    model, x, y, _ = _linear_problem()
    opt = BSAM(model.parameters(), torch.optim.SGD, rho=0.1, lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    sam_step(model, opt, x, y, "l1")
    sched.step()
    assert not [w for w in recwarn if "lr_scheduler.step()" in str(w.message)]
    assert opt.base_optimizer.param_groups[0]["lr"] == pytest.approx(0.05)


# ----------------------------------------------------------------------------- the sync hook
class _TwinRanks(StepSync):
    """Two ranks holding the same shard: every all-reduce sum doubles (records the calls)."""

    distributed = True

    def __init__(self) -> None:
        self.calls: list[str] = []

    def grads_(self, params):
        self.calls.append("grads")
        for p in params:
            if p.grad is not None:
                p.grad.mul_(2)

    def sum(self, values):
        self.calls.append("sum")
        return [2 * v for v in values]


@pytest.mark.parametrize("kind", ["plain", "bsam", "imbsam"])
def test_a_step_with_the_sync_hook_equals_one_process_on_the_global_batch(kind):
    model, x, y, w = _linear_problem(seed=5)
    twin = copy.deepcopy(model)
    tail = torch.arange(len(y)) % 3 == 0
    xx, yy, ww, tt = (torch.cat([t, t]) for t in (x, y, w, tail))
    make = {
        "plain": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
        "bsam": lambda p: BSAM(p, torch.optim.SGD, rho=0.2, lr=0.1, momentum=0.9),
        "imbsam": lambda p: ImbSAM(p, torch.optim.SGD, rho=0.2, lr=0.1, momentum=0.9),
    }[kind]
    opt, twin_opt = make(model.parameters()), make(twin.parameters())

    def run(m, o, inputs, targets, weights, mask, **sync):
        if kind == "plain":
            return plain_step(m, o, inputs, targets, "l1", weights=weights, **sync)
        if kind == "bsam":
            return sam_step(m, o, inputs, targets, "l1", perturb_weights=weights, **sync)
        return imbsam_step(m, o, inputs, targets, "l1", tail_mask=mask, weights=weights, **sync)

    for _ in range(3):
        hook = _TwinRanks()
        a = run(model, opt, x, y, w, tail, sync=hook, count=2 * len(y))
        b = run(twin, twin_opt, xx, yy, ww, tt)
        torch.testing.assert_close(_theta(model), _theta(twin), rtol=0, atol=1e-12)
        for name in ("loss", "perturbation_loss", "grad_norm", "loss_at_perturbed"):
            assert getattr(a, name) == pytest.approx(getattr(b, name), rel=1e-12), name
    # one gradient all-reduce per backward pass: plain 1, SAM 2, ImbSAM 3 (head, tail, tail')
    assert hook.calls.count("grads") == {"plain": 1, "bsam": 2, "imbsam": 3}[kind]


def test_local_perturbation_skips_only_the_first_all_reduce():
    model, x, y, w = _linear_problem(seed=6)
    opt = BSAM(model.parameters(), torch.optim.SGD, rho=0.2, lr=0.1)
    hook = _TwinRanks()
    sam_step(model, opt, x, y, "l1", perturb_weights=w, sync=hook, perturb_sync="local")
    assert hook.calls == ["sum", "grads", "sum"]  # the descent gradient is still all-reduced


def test_bad_sync_arguments_raise():
    model, x, y, _ = _linear_problem()
    opt = SAM(model.parameters(), torch.optim.SGD, rho=0.1, lr=0.1)
    with pytest.raises(ValueError, match="Invalid perturb_sync: 'mixed'; choose from"):
        sam_step(model, opt, x, y, "l1", perturb_sync="mixed")
    with pytest.raises(ValueError, match=r"Invalid count: 5; .* \(at least this rank's 10\)"):
        sam_step(model, opt, x, y, "l1", count=5)
