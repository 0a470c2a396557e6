"""Lanczos and power iteration on matrices with a known spectrum and on network Hessians."""

from __future__ import annotations

import pytest
import torch

from analyses.curvature import CurvatureOperator, lanczos, lanczos_extremes, power_iteration
from tests.analyses._curvature_nets import cnn_data, dense_hessian, one_thread, small_cnn  # noqa: F401


def _matrix(eigs: torch.Tensor, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    n = eigs.numel()
    Q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    return Q @ torch.diag(eigs.double()) @ Q.T


def _spectrum(n: int = 150) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    bulk = torch.randn(n - 5, generator=g, dtype=torch.float64)
    return torch.cat([torch.tensor([40.0, 39.5, 25.0, -55.0, -20.0], dtype=torch.float64), bulk])


@pytest.mark.parametrize("which", ["LA", "SA", "LM"])
def test_lanczos_known_spectrum(which):
    eigs = _spectrum()
    A = _matrix(eigs)
    r = lanczos(A, k=3, which=which, tol=1e-9, return_vectors=True)
    if which == "LA":
        ref = eigs.sort(descending=True).values[:3]
    elif which == "SA":
        ref = eigs.sort().values[:3]
    else:
        ref = eigs[eigs.abs().argsort(descending=True)[:3]]
    assert r.converged
    assert torch.allclose(r.eigenvalues, ref, rtol=1e-10)
    # reported residuals are the true ones, and meet the stopping rule
    U = r.eigenvectors
    true_res = (A @ U - U * r.eigenvalues).norm(dim=0)
    assert torch.allclose(r.residuals, true_res, rtol=1e-4, atol=1e-12)
    assert (r.residuals <= 1e-9 * r.eigenvalues.abs()).all()
    # one certifying product per reported pair (and per failed certification)
    extra = r.num_matvecs - r.iterations
    assert extra >= 3 and extra % 3 == 0 and r.num_matvecs < A.shape[0]


def _gram32(seed: int, n: int = 300, rank: int = 40) -> torch.Tensor:
    """A float32 Gauss-Newton-like matrix J^T J / M: rank-deficient, eigenvalues 0 and a decaying top."""
    g = torch.Generator().manual_seed(seed)
    J = torch.randn(rank, n, generator=g, dtype=torch.float64) * torch.logspace(0, -3, rank)[:, None]
    return (J.T @ J / rank).float()


@pytest.mark.parametrize("seed", range(5))
def test_certified_residual_bounds_the_true_one_in_float32(seed):
    A = _gram32(seed)
    A64 = A.double()  # the dense reference: the same matrix, its products in float64
    out = lanczos_extremes(A, k=2, tol=1e-3, max_iter=120, seed=seed, return_vectors=True)
    for which, r in out.items():
        U, theta = r.eigenvectors.double(), r.eigenvalues.double()
        true = (A64 @ U - U * theta).norm(dim=0)
        assert (r.residuals.double() >= true).all(), (which, r.residuals, true)
        # converged iff every certified relative residual <= tol
        assert r.converged == bool((r.relative_residuals <= 1e-3).all())
        assert r.to_dict()["certificate"].startswith("explicit ||A u - theta u|| in float32")
    # lambda_min of this PSD matrix is 0: its relative residual is huge, and it says so
    assert not out["SA"].converged and out["LA"].converged


def test_lanczos_residual_rule_controls_work_and_bounds_error():
    eigs = _spectrum()
    A = _matrix(eigs)
    loose = lanczos(A, tol=1e-2)
    tight = lanczos(A, tol=1e-10)
    assert loose.num_matvecs < tight.num_matvecs
    # Some eigenvalue lies within the residual: here the top one.
    assert abs(loose.eigenvalues[0] - 40.0) <= loose.residuals[0] + 1e-12
    assert loose.relative_residuals[0] <= 1e-2


def test_lanczos_extremes_one_run_for_both_ends():
    eigs = _spectrum()
    out = lanczos_extremes(_matrix(eigs), k=2, tol=1e-9)
    assert torch.allclose(out["LA"].eigenvalues, torch.tensor([40.0, 39.5], dtype=torch.float64))
    assert torch.allclose(out["SA"].eigenvalues, torch.tensor([-55.0, -20.0], dtype=torch.float64))
    assert torch.allclose(out["LM"].eigenvalues, torch.tensor([-55.0, 40.0], dtype=torch.float64))
    assert out["LA"].num_matvecs == out["SA"].num_matvecs


def test_lanczos_degenerate_and_zero_operators():
    # repeated eigenvalue: a single Krylov space holds only one copy; restarts find the others
    A = torch.diag(torch.tensor([3.0, 3.0, 3.0, 1.0, 0.5], dtype=torch.float64))
    r = lanczos(A, k=3, tol=1e-10)
    assert torch.allclose(r.eigenvalues, torch.tensor([3.0, 3.0, 3.0], dtype=torch.float64))
    z = lanczos(torch.zeros(6, 6, dtype=torch.float64), k=2)
    assert z.converged and torch.equal(z.eigenvalues, torch.zeros(2, dtype=torch.float64))
    # max_iter caps the work and the result says it did not converge
    capped = lanczos(_matrix(_spectrum()), tol=1e-12, max_iter=3)
    # (plus the one product that certifies the reported pair's residual)
    assert not capped.converged and capped.iterations == 3 and capped.num_matvecs == 4


@pytest.mark.parametrize("loss", ["mse", "l1"])
def test_lanczos_on_network_hessian_matches_dense(loss):
    net, (X, y) = small_cnn(), cnn_data()
    ref = torch.linalg.eigvalsh(dense_hessian(net, X, y, loss))
    op = CurvatureOperator(net, (X, y), loss=loss)
    out = lanczos_extremes(op, k=2, tol=1e-8)
    assert torch.allclose(out["LA"].eigenvalues, ref.flip(0)[:2], rtol=1e-6)
    assert torch.allclose(out["SA"].eigenvalues, ref[:2], rtol=1e-6)
    lm = ref[ref.abs().argsort(descending=True)[:2]]
    assert torch.allclose(out["LM"].eigenvalues, lm, rtol=1e-6)
    assert out["LA"].num_matvecs == op.num_matvecs < op.shape[0]
    pw = power_iteration(op, tol=1e-5, max_iter=2000)
    assert pw.eigenvalues[0] == pytest.approx(float(lm[0]), rel=1e-6)


def test_power_iteration_known_spectrum_with_deflation():
    eigs = torch.cat([torch.tensor([50.0, -30.0, 20.0], dtype=torch.float64), 0.1 * _spectrum(97)])
    A = _matrix(eigs)
    r = power_iteration(A, k=3, tol=1e-6, max_iter=2000, return_vectors=True)
    assert torch.allclose(
        r.eigenvalues, torch.tensor([50.0, -30.0, 20.0], dtype=torch.float64), rtol=1e-8
    )
    U = r.eigenvectors
    assert torch.allclose(r.residuals, (A @ U - U * r.eigenvalues).norm(dim=0), rtol=1e-3)
    # the residual rule is honest: with close top eigenvalues it keeps going where a
    # relative-change test (PyHessian) would stop
    close = _matrix(
        torch.cat([torch.tensor([10.0, 9.9], dtype=torch.float64), _spectrum(48) * 0.1])
    )
    p = power_iteration(close, tol=1e-3, max_iter=5000)
    assert p.converged and p.eigenvalues[0] == pytest.approx(10.0, rel=1e-3)
    assert p.residuals[0] <= 1e-3 * abs(p.eigenvalues[0])


def test_power_iteration_reports_non_convergence():
    A = _matrix(
        torch.cat(
            [torch.tensor([10.0, -9.99], dtype=torch.float64), torch.zeros(20, dtype=torch.float64)]
        )
    )
    r = power_iteration(A, tol=1e-8, max_iter=5)
    assert not r.converged and r.num_matvecs == 5


@pytest.mark.parametrize("fn", [lanczos, power_iteration])
def test_eigen_errors(fn):
    A = torch.eye(4, dtype=torch.float64)
    with pytest.raises(ValueError, match="Invalid k value: 0"):
        fn(A, k=0)
    with pytest.raises(ValueError, match="Invalid k value: 5"):
        fn(A, k=5)
    with pytest.raises(ValueError, match="Invalid tol value: -1"):
        fn(A, tol=-1)
    with pytest.raises(ValueError, match="Invalid max_iter value: 0"):
        fn(A, max_iter=0)
    with pytest.raises(ValueError, match=r"square matrix, got shape \(4, 3\)"):
        fn(torch.ones(4, 3))
    with pytest.raises(TypeError, match="Invalid A of type list"):
        fn([[1.0]])
    with pytest.raises(ValueError, match="Invalid A dtype torch.int64"):
        fn(torch.eye(3, dtype=torch.long))


def test_lanczos_specific_errors():
    A = torch.eye(4, dtype=torch.float64)
    with pytest.raises(ValueError, match="Invalid which 'BE'"):
        lanczos(A, which="BE")
    with pytest.raises(ValueError, match="Invalid v0 of size 3"):
        lanczos(A, v0=torch.ones(3))
    with pytest.raises(ValueError, match="start vector is zero"):
        lanczos(A, v0=torch.zeros(4))
