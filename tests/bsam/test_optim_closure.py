"""The closure protocol: BSAM refuses a closure that cannot tell the passes apart; the closure
form of SAM and BSAM equals the one-call ``sam_step``; old ``StepResult`` names still read."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from torch import nn

from bsam.optim import BSAM, SAM, Phase, StepResult, sam_step

DTYPE = torch.float64


def _problem(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(16, 3, generator=gen, dtype=DTYPE)
    y = torch.randn(16, generator=gen, dtype=DTYPE)
    w = torch.rand(16, generator=gen, dtype=DTYPE) * 3 + 0.1
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1)).to(DTYPE)
    return model, x, y, w


def _flat(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def test_bsam_refuses_a_closure_without_the_pass_argument():
    model, x, y, _ = _problem()
    opt = BSAM(model.parameters(), torch.optim.SGD, rho=0.1, lr=0.1)
    before = _flat(model)

    def closure():
        opt.zero_grad()
        loss = (model(x).squeeze(1) - y).abs().mean()
        loss.backward()
        return loss

    with pytest.raises(TypeError, match=r"BSAM.step got a closure without arguments.*closure\(phase\)"):
        opt.step(closure)
    assert torch.equal(_flat(model), before)  # refused before any pass
    with pytest.raises(ValueError, match="BSAM.step needs a closure"):
        opt.step()


def test_bsam_phase_closure_equals_sam_step_and_differs_from_plain_sam():
    model, x, y, w = _problem(seed=1)
    twin, plain = copy.deepcopy(model), copy.deepcopy(model)
    hp = dict(rho=0.2, lr=0.05, momentum=0.9)
    opt = BSAM(model.parameters(), torch.optim.SGD, **hp)
    twin_opt = BSAM(twin.parameters(), torch.optim.SGD, **hp)
    plain_opt = SAM(plain.parameters(), torch.optim.SGD, **hp)
    phases = []

    def closure(phase):
        phases.append(phase)
        twin_opt.zero_grad()
        err = (twin(x).squeeze(1) - y).abs()
        loss = (w * err).mean() if phase == Phase.PERTURB else err.mean()
        loss.backward()
        return loss

    def plain_closure():
        plain_opt.zero_grad()
        loss = (plain(x).squeeze(1) - y).abs().mean()
        loss.backward()
        return loss

    for _ in range(4):
        result = sam_step(model, opt, x, y, "l1", perturb_weights=w)
        returned = twin_opt.step(closure)
        plain_opt.step(plain_closure)
        torch.testing.assert_close(_flat(twin), _flat(model), rtol=0, atol=1e-6)
        assert float(returned) == pytest.approx(result.perturbation_loss, rel=1e-9)
    assert phases[:2] == ["perturb", "descent"]
    assert float((_flat(plain) - _flat(model)).abs().max()) > 1e-4  # the weights mattered


def test_sam_zero_argument_closure_equals_sam_step():
    model, x, y, _ = _problem(seed=2)
    twin = copy.deepcopy(model)
    opt = SAM(model.parameters(), torch.optim.SGD, rho=0.1, lr=0.1)
    twin_opt = SAM(twin.parameters(), torch.optim.SGD, rho=0.1, lr=0.1)

    def closure():
        twin_opt.zero_grad()
        loss = ((twin(x).squeeze(1) - y) ** 2).mean()
        loss.backward()
        return loss

    for _ in range(3):
        result = sam_step(model, opt, x, y, "mse")
        assert float(twin_opt.step(closure)) == pytest.approx(result.loss, rel=1e-9)
        torch.testing.assert_close(_flat(twin), _flat(model), rtol=0, atol=1e-6)


def test_phase_is_a_string():
    assert [str(p.value) for p in Phase] == ["head", "perturb", "descent"]
    assert Phase.PERTURB == "perturb" and Phase.DESCENT == "descent"


def test_old_step_result_names_are_deprecated_aliases():
    result = StepResult(1.0, 2.0, 3.0, 4.0)
    assert (result.perturbation_loss, result.loss_at_perturbed) == (2.0, 4.0)
    with pytest.warns(DeprecationWarning, match="use perturbation_loss"):
        assert result.perturb_loss == 2.0
    with pytest.warns(DeprecationWarning, match="use loss_at_perturbed"):
        assert result.perturbed_loss == 4.0
    with pytest.warns(DeprecationWarning, match=r"StepResult\(perturb_loss=... \(use perturbation_loss=\)"):
        old = StepResult(loss=1.0, perturb_loss=2.0, grad_norm=3.0, perturbed_loss=4.0)
    assert old == result
    with pytest.raises(TypeError, match=r"unexpected fields \['perturbd'\]"):
        StepResult(1.0, perturbd=2.0)
    with pytest.raises(AttributeError):
        result.loss = 5.0  # frozen
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert StepResult(1.0).loss_at_perturbed == 1.0  # a plain step: all equal to loss
