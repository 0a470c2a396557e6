"""Exact Gauss-Newton spectra from the Gram matrix against dense float64 references."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import functional_call, jacrev

from analyses.curvature import CurvatureOperator, lanczos
from analyses.sharpness import gauss_newton_spectrum
from tests.analyses._curvature_nets import cnn_data, mlp, mlp_data, one_thread, small_cnn  # noqa: F401
from tests.analyses._sharpness_refs import design, linear_problem


def _dense_jtj(net: nn.Module, X: torch.Tensor) -> torch.Tensor:
    """``J^T J / M`` from an independent full Jacobian (jacrev over the flat parameters)."""
    names = [n for n, _ in net.named_parameters()]
    params = {n: p.detach() for n, p in net.named_parameters()}
    net.eval()
    jac = jacrev(lambda p: functional_call(net, p, (X,)).reshape(-1))(params)
    J = torch.cat([jac[n].reshape(X.shape[0], -1) for n in names], dim=1)
    return J.T @ J / X.shape[0]


def test_linear_mse_spectrum_is_the_hessian_by_hand():
    net, X, y = linear_problem(n=12)
    s = gauss_newton_spectrum(net, (X, y), loss="mse")
    H = 2 * design(X).T @ design(X) / 12  # the MSE Hessian of a linear model, by hand
    ref = torch.linalg.eigvalsh(H).flip(0)
    assert s.method == "gram" and s.lambda_max_err == 0 and s.trace_err == 0
    torch.testing.assert_close(s.eigenvalues, ref, rtol=1e-10, atol=1e-12)
    assert s.trace == pytest.approx(float(torch.trace(H)), rel=1e-12)


@pytest.mark.parametrize("make, data", [(mlp, mlp_data), (small_cnn, cnn_data)])
def test_l1_gram_spectrum_equals_dense_jtj_and_the_ggn_operator(make, data):
    net = make()
    X, y = data()
    mask = torch.arange(X.shape[0]) % 3 != 0
    s = gauss_newton_spectrum(net, (X, y), mask=mask, loss="l1")
    dense = _dense_jtj(net, X[mask])
    ref = torch.linalg.eigvalsh(dense).flip(0)[: s.eigenvalues.numel()]
    torch.testing.assert_close(s.eigenvalues, ref, rtol=1e-8, atol=1e-10)
    assert s.eigenvalues.numel() == min(int(mask.sum()), dense.shape[0])
    # what analyses.curvature calls "ggn" for the L1 loss is the same matrix
    op = CurvatureOperator(net, (X, y), loss="l1", curvature="ggn", mask=mask)
    torch.testing.assert_close(op.to_dense(), dense, rtol=1e-8, atol=1e-10)
    top = lanczos(op, tol=1e-10, max_iter=200)
    assert s.lambda_max == pytest.approx(float(top.eigenvalues[0]), rel=1e-8)
    assert s.trace == pytest.approx(float(torch.trace(dense)), rel=1e-10)


@pytest.mark.parametrize("loss", ["mse", "huber"])
def test_other_losses_agree_with_the_ggn_operator(loss):
    net = mlp()
    X, y = mlp_data(n=9)
    s = gauss_newton_spectrum(net, (X, 0.5 * y), loss=loss)
    op = CurvatureOperator(net, (X, 0.5 * y), loss=loss, curvature="ggn")
    ref = torch.linalg.eigvalsh(op.to_dense()).flip(0)[: s.eigenvalues.numel()]
    torch.testing.assert_close(s.eigenvalues, ref, rtol=1e-8, atol=1e-10)


def test_dense_targets_with_an_element_mask():
    torch.manual_seed(0)
    net = nn.Conv2d(1, 1, 3, padding=1).double()
    g = torch.Generator().manual_seed(3)
    X = torch.randn(4, 1, 4, 4, generator=g, dtype=torch.float64)
    y = torch.rand(4, 4, 4, generator=g, dtype=torch.float64)
    mask = y > 0.4
    s = gauss_newton_spectrum(net, (X, y), mask=mask, loss="l1")
    op = CurvatureOperator(net, (X, y), loss="l1", curvature="ggn", mask=mask)
    assert s.num_elements == int(mask.sum())
    ref = torch.linalg.eigvalsh(op.to_dense()).flip(0)
    torch.testing.assert_close(s.eigenvalues, ref, rtol=1e-8, atol=1e-10)


def test_falls_back_to_lanczos_beyond_max_bytes_and_says_so():
    net = mlp()
    X, y = mlp_data(n=20)
    exact = gauss_newton_spectrum(net, (X, y))
    s = gauss_newton_spectrum(
        net, (X, y), max_bytes=0, tol=1e-8, trace_rel_se=0.01, trace_max_matvecs=400
    )
    assert s.method == "lanczos" and s.num_matvecs > 0 and s.bytes_needed > 0
    assert abs(s.lambda_max - exact.lambda_max) <= s.lambda_max_err + 1e-9
    assert abs(s.trace - exact.trace) <= 4 * s.trace_err + 1e-9


def test_invalid_max_bytes_is_a_clear_error():
    net, X, y = linear_problem()
    with pytest.raises(ValueError, match=r"Invalid max_bytes value: -1; .* >= 0"):
        gauss_newton_spectrum(net, (X, y), max_bytes=-1)


@pytest.mark.parametrize("make, data", [(mlp, mlp_data), (small_cnn, cnn_data)])
@pytest.mark.parametrize("loss", ["l1", "mse"])
def test_streamed_trace_equals_the_dense_reference_in_blocks_of_one_sample(make, data, loss):
    from analyses.sharpness import gram

    net = make().double()
    X, y = data()
    X, y = X.double(), y.double()
    mask = y > 0.4
    # block_bytes=1: one sample per block, so every block boundary is crossed.
    trace, m = gram.gauss_newton_trace(net, (X, y), mask=mask, loss=loss, block_bytes=1)
    keep = mask.reshape(-1)
    scale = 2.0 if loss == "mse" else 1.0  # D = 2I for the squared error, I for L1
    ref = scale * torch.trace(_dense_jtj(net, X[keep]))
    assert m == int(keep.sum())
    assert trace == pytest.approx(float(ref), rel=1e-10)
