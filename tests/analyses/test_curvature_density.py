"""Stochastic Lanczos quadrature density: normalisation, moments, resolution."""

from __future__ import annotations

import pytest
import torch

from analyses.curvature import CurvatureOperator, gaussian_density, slq_density
from tests.analyses._curvature_nets import cnn_data, dense_hessian, one_thread, small_cnn  # noqa: F401


def _matrix(eigs: torch.Tensor) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    Q, _ = torch.linalg.qr(
        torch.randn(eigs.numel(), eigs.numel(), generator=g, dtype=torch.float64)
    )
    return Q @ torch.diag(eigs) @ Q.T


def test_density_integrates_to_one_and_moments_match_quadrature():
    g = torch.Generator().manual_seed(3)
    eigs = torch.cat(
        [
            torch.tensor([30.0, 12.0, -8.0], dtype=torch.float64),
            torch.randn(197, generator=g, dtype=torch.float64),
        ]
    )
    A = _matrix(eigs)
    r = slq_density(A, num_probes=6, num_steps=40, seed=1)
    assert torch.trapezoid(r.density, r.grid).item() == pytest.approx(1.0, abs=1e-6)
    assert float(r.weights.sum()) == pytest.approx(1.0, abs=1e-12)
    mean_grid = torch.trapezoid(r.grid * r.density, r.grid).item()
    assert mean_grid == pytest.approx(r.moment(1), rel=1e-6, abs=1e-9)
    # Gauss quadrature with m steps integrates polynomials of degree <= 2m-1 exactly per probe:
    # the first two moments are the Hutchinson estimates of tr(A)/n and tr(A^2)/n of the same probes
    n = A.shape[0]
    gen = torch.Generator().manual_seed(1)
    m1 = m2 = 0.0
    for _ in range(6):
        v = torch.randint(0, 2, (n,), generator=gen).to(torch.float64) * 2 - 1
        # the Lanczos restart vector of each probe is drawn after it: re-draw nothing else
        v = v / v.norm()
        m1 += float(v @ A @ v) / 6
        m2 += float(v @ A @ A @ v) / 6
    assert r.moment(1) == pytest.approx(m1, rel=1e-9)
    assert r.moment(2) == pytest.approx(m2, rel=1e-9)
    # and they estimate tr(A)/n, tr(A^2)/n
    assert r.moment(1) == pytest.approx(float(eigs.mean()), abs=0.3)
    assert r.moment(2) == pytest.approx(float((eigs**2).mean()), rel=0.25)
    # the extreme nodes resolve the outliers
    assert float(r.nodes.max()) == pytest.approx(30.0, rel=1e-6)
    assert float(r.nodes.min()) == pytest.approx(-8.0, rel=1e-6)
    assert r.num_matvecs == 6 * 40


def test_density_exact_for_small_operator():
    eigs = torch.tensor([-1.0, 0.0, 2.0, 5.0], dtype=torch.float64)
    r = slq_density(_matrix(eigs), num_probes=3, num_steps=10, sigma=0.05)
    ref = gaussian_density(eigs, torch.full((4,), 0.25, dtype=torch.float64), r.grid, 0.05)
    # each probe sees every eigenvalue with weight (q_i^T v)^2; averaged they approach 1/4
    assert torch.allclose(torch.unique(r.nodes.round(decimals=8)) + 0.0, eigs)
    assert r.num_matvecs <= 12
    assert torch.trapezoid(r.density, r.grid).item() == pytest.approx(1.0, abs=1e-6)
    assert (r.density - ref).abs().max() < ref.max()


def test_density_of_network_hessian_first_moment_is_trace_over_n():
    net, (X, y) = small_cnn(), cnn_data()
    H = dense_hessian(net, X, y, "l1")
    op = CurvatureOperator(net, (X, y), loss="l1")
    r = slq_density(op, num_probes=12, num_steps=10, seed=0)
    n = op.shape[0]
    # moment(1) is a Hutchinson mean of 12 normalised probes: compare within 4 standard errors
    terms = []
    gen = torch.Generator().manual_seed(0)
    for _ in range(200):
        v = torch.randint(0, 2, (n,), generator=gen).to(torch.float64) * 2 - 1
        terms.append(float(v @ H @ v) / n)
    sd = torch.tensor(terms).std().item()
    assert abs(r.moment(1) - float(H.trace()) / n) <= 4 * sd / 12**0.5
    evals = torch.linalg.eigvalsh(H)
    assert float(r.nodes.max()) <= float(evals.max()) + 1e-9
    assert float(r.nodes.min()) >= float(evals.min()) - 1e-9


def test_density_errors():
    A = torch.eye(5, dtype=torch.float64)
    with pytest.raises(ValueError, match="Invalid num_probes value: 0"):
        slq_density(A, num_probes=0)
    with pytest.raises(ValueError, match="Invalid num_steps value: -2"):
        slq_density(A, num_steps=-2)
    with pytest.raises(ValueError, match="Invalid sigma value: 0"):
        slq_density(A, sigma=0.0)
    with pytest.raises(ValueError, match="Invalid sigma value: -1"):
        gaussian_density(torch.zeros(1), torch.ones(1), torch.zeros(3), -1.0)
