"""Worst-case rho-sharpness by ascent against the exact trust-region maximum of a quadratic."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from analyses.sharpness import worst_case_sharpness
from tests.analyses._curvature_nets import one_thread  # noqa: F401 (autouse fixture)
from tests.analyses._sharpness_refs import (
    circle_max,
    linear_problem,
    mse_grad_hessian,
    trust_region_max,
)


def test_reference_solver_agrees_with_enumeration_in_2d():
    g, H = np.array([1.0, -0.3]), np.array([[3.0, 1.0], [1.0, 0.5]])
    for rho in (0.1, 0.7, 3.0):
        assert trust_region_max(g, H, rho) == pytest.approx(circle_max(g, H, rho), rel=1e-8)


@pytest.mark.parametrize("rho", [0.05, 0.5, 2.0])
def test_ascent_is_close_to_the_exact_maximum_and_never_above(rho):
    # For f(x) = w.x + b with the squared error, L(theta + e) - L(theta) = g.e + e^T H e / 2.
    net, X, y = linear_problem()
    g, H = mse_grad_hessian(net, X, y)
    exact = trust_region_max(g.numpy(), H.numpy(), rho)
    r = worst_case_sharpness(net, (X, y), loss="mse", rho=rho, steps=20)
    assert r.value <= exact * (1 + 1e-12)
    assert r.value == pytest.approx(exact, rel=1e-5)
    assert r.value >= r.first_order and r.last_gain >= 0


@pytest.mark.parametrize("eta", [0.0, 0.1])
def test_adaptive_variant_is_the_trust_region_problem_in_scaled_coordinates(eta):
    net, X, y = linear_problem(seed=1)
    g, H = mse_grad_hessian(net, X, y)
    theta = torch.cat([net.weight.detach().reshape(-1), net.bias.detach()])
    T = theta.abs() + eta  # eps = T u with ||u|| <= rho
    exact = trust_region_max((T * g).numpy(), (T[:, None] * H * T[None, :]).numpy(), 0.5)
    r = worst_case_sharpness(net, (X, y), loss="mse", rho=0.5, steps=20, adaptive=True, eta=eta)
    assert r.value <= exact * (1 + 1e-12)
    assert r.value == pytest.approx(exact, rel=1e-5)


def test_zero_steps_is_the_sam_perturbation_and_the_model_is_untouched():
    net, X, y = linear_problem()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    g, H = mse_grad_hessian(net, X, y)
    e = 0.3 * g / g.norm()
    r = worst_case_sharpness(net, (X, y), loss="mse", rho=0.3, steps=0)
    assert r.value == pytest.approx(float(g @ e + 0.5 * e @ H @ e), rel=1e-10)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_region_mask_restricts_the_loss():
    net, X, y = linear_problem()
    mask = y < 5
    g, H = mse_grad_hessian(net, X[mask], y[mask])
    exact = trust_region_max(g.numpy(), H.numpy(), 0.5)
    r = worst_case_sharpness(net, (X, y), mask=mask, loss="mse", rho=0.5, steps=20)
    assert r.value == pytest.approx(exact, rel=1e-5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"rho": 0.0}, r"Invalid rho value: 0.0; it must be a number > 0"),
        ({"steps": -1}, r"Invalid steps value: -1; it must be an int >= 0"),
        ({"eta": -0.5}, r"Invalid eta value: -0.5; it must be a number >= 0"),
        ({"mask": torch.zeros(40, dtype=torch.bool)}, r"Invalid mask: it selects no sample"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, match):
    net, X, y = linear_problem()
    with pytest.raises(ValueError, match=match):
        worst_case_sharpness(net, (X, y), **kwargs)
