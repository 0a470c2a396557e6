"""Hutchinson and Hutch++ trace estimates against exact traces."""

from __future__ import annotations

import pytest
import torch

from analyses.curvature import CurvatureOperator, hutchinson_trace, hutchpp_trace
from tests.analyses._curvature_nets import cnn_data, dense_hessian, one_thread, small_cnn  # noqa: F401


def _decaying(n: int = 400, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    top = min(30, n)
    eigs = torch.cat(
        [
            100 * 0.7 ** torch.arange(top, dtype=torch.float64),
            0.05 * torch.randn(n - top, generator=g, dtype=torch.float64),
        ]
    )
    return Q @ torch.diag(eigs) @ Q.T


@pytest.mark.parametrize("fn", [hutchinson_trace, hutchpp_trace])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_estimate_within_three_standard_errors(fn, seed):
    A = _decaying()
    r = fn(A, rel_se=0.02, max_matvecs=3000, seed=seed)
    assert r.converged and r.relative_std_error <= 0.02
    assert abs(r.estimate - float(A.trace())) <= 3 * r.std_error


def test_standard_error_matches_the_spread_of_estimates():
    A = _decaying(n=200)
    runs = [hutchinson_trace(A, rel_se=None, max_matvecs=40, seed=s) for s in range(60)]
    est = torch.tensor([r.estimate for r in runs], dtype=torch.float64)
    mean_se = sum(r.std_error for r in runs) / len(runs)
    assert 0.7 < float(est.std()) / mean_se < 1.4
    assert abs(float(est.mean()) - float(A.trace())) < 3 * float(est.std()) / len(runs) ** 0.5


def test_hutchpp_needs_far_fewer_products_on_a_decaying_spectrum():
    A = _decaying()
    h = hutchinson_trace(A, rel_se=0.01, max_matvecs=5000)
    pp = hutchpp_trace(A, rel_se=0.01, sketch_size=20)
    assert pp.converged and h.converged
    assert pp.num_matvecs * 4 <= h.num_matvecs
    assert pp.sketch_size == 20 and pp.num_matvecs == 40 + pp.num_samples


def test_hutchpp_exact_when_the_sketch_spans_everything_and_with_a_basis():
    A = _decaying(n=12)
    r = hutchpp_trace(A, sketch_size=50)
    assert r.estimate == pytest.approx(float(A.trace()), rel=1e-12) and r.std_error == 0.0
    evecs = torch.linalg.eigh(A).eigenvectors[:, -6:]
    b = hutchpp_trace(A, basis=evecs, rel_se=None, max_matvecs=30)
    assert b.num_matvecs == 30 and b.sketch_size == 6
    assert abs(b.estimate - float(A.trace())) <= 3 * b.std_error + 1e-12


@pytest.mark.parametrize("fn", [hutchinson_trace, hutchpp_trace])
def test_trace_of_network_hessian_within_error_bar(fn):
    net, (X, y) = small_cnn(), cnn_data()
    H = dense_hessian(net, X, y, "mse")
    op = CurvatureOperator(net, (X, y), loss="mse")
    kw = {"sketch_size": 5} if fn is hutchpp_trace else {}
    r = fn(op, rel_se=0.1, max_matvecs=300, **kw)
    assert r.converged and r.num_matvecs == op.num_matvecs
    assert abs(r.estimate - float(H.trace())) <= 3 * r.std_error


def test_budget_exhausted_is_reported():
    A = _decaying()
    r = hutchinson_trace(A, rel_se=1e-6, max_matvecs=12)
    assert not r.converged and r.num_matvecs == 12 and r.num_samples == 12


def test_trace_errors():
    A = torch.eye(30, dtype=torch.float64)
    with pytest.raises(ValueError, match="Invalid rel_se value: 0"):
        hutchinson_trace(A, rel_se=0)
    with pytest.raises(ValueError, match="Invalid min_samples value: 1"):
        hutchinson_trace(A, min_samples=1)
    with pytest.raises(ValueError, match="Invalid max_matvecs value: 5 < min_samples=10"):
        hutchinson_trace(A, max_matvecs=5)
    with pytest.raises(ValueError, match="Invalid distribution 'uniform'"):
        hutchinson_trace(A, distribution="uniform")
    with pytest.raises(ValueError, match="Invalid max_matvecs value: 15; the sketch of size 5"):
        hutchpp_trace(A, max_matvecs=15)
    with pytest.raises(ValueError, match="Invalid sketch_size value: 0"):
        hutchpp_trace(A, sketch_size=0)
    with pytest.raises(ValueError, match=r"Invalid basis of shape \(3, 2\)"):
        hutchpp_trace(A, basis=torch.ones(3, 2))
