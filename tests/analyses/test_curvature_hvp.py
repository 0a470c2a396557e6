"""CurvatureOperator against dense float64 references (torch.func.hessian / jacrev)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from analyses.curvature import CurvatureOperator, select_parameters
from tests.analyses._curvature_nets import (  # noqa: F401 (one_thread: autouse fixture)
    cnn_data,
    dense_ggn,
    dense_hessian,
    mlp,
    mlp_data,
    one_thread,
    small_cnn,
)

METHODS = ("reuse_graph", "double_backward", "forward_over_reverse")


def _products(op: CurvatureOperator, num: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """``(V, op @ V)`` for ``num`` random vectors (cheaper than the dense matrix, as strong)."""
    V = torch.randn(op.shape[0], num, generator=torch.Generator().manual_seed(7), dtype=op.dtype)
    return V, op @ V


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("loss", ["mse", "l1", "huber"])
@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_hessian_matches_dense(arch, loss, method):
    net, (X, y) = (mlp(), mlp_data()) if arch == "mlp" else (small_cnn(), cnn_data())
    ref = dense_hessian(net, X, y, loss)
    # uneven batches (4 + 4 + 3 or 4 + 4 + 1) must still give the mean over all samples
    op = CurvatureOperator(net, (X, y), loss=loss, hvp_method=method, batch_size=4)
    V, HV = _products(op)
    assert torch.allclose(HV, ref @ V, rtol=1e-10, atol=1e-12)
    assert op.num_matvecs == 3
    assert op.hvp_method == method


def test_auto_uses_graph_reuse_for_one_batch_and_recompute_otherwise():
    net, (X, y) = mlp(), mlp_data()
    assert CurvatureOperator(net, (X, y), batch_size=64).hvp_method == "reuse_graph"
    assert CurvatureOperator(net, (X, y), batch_size=4).hvp_method == "double_backward"
    assert CurvatureOperator(net, (X, y), curvature="ggn").hvp_method == "forward_over_reverse"


def test_exact_sample_weighting_not_mean_of_batch_means():
    net, (X, y) = small_cnn(), cnn_data(n=7)
    ref = dense_hessian(net, X, y, "mse")
    loader = DataLoader(TensorDataset(X, y), batch_size=5)  # batches of 5 and 2
    V, HV = _products(CurvatureOperator(net, loader, loss="mse"))
    assert torch.allclose(HV, ref @ V, rtol=1e-10, atol=1e-12)
    mean_of_means = 0.5 * (
        dense_hessian(net, X[:5], y[:5], "mse") + dense_hessian(net, X[5:], y[5:], "mse")
    )
    assert not torch.allclose(HV, mean_of_means @ V, rtol=1e-3)


def test_dataset_input_matches_tuple():
    net, (X, y) = mlp(), mlp_data()
    a = CurvatureOperator(net, TensorDataset(X, y), loss="l1", batch_size=3).to_dense()
    b = CurvatureOperator(net, (X, y), loss="l1").to_dense()
    assert torch.allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("method", METHODS)
def test_region_mask_equals_hessian_of_subset_loss(method):
    net, (X, y) = small_cnn(), cnn_data(n=10)
    mask = torch.tensor([1, 0, 1, 1, 0, 0, 1, 0, 1, 0], dtype=torch.bool)
    ref = dense_hessian(net, X[mask], y[mask], "l1")
    op = CurvatureOperator(net, (X, y), loss="l1", mask=mask, hvp_method=method, batch_size=3)
    assert op.num_samples == 5 and op.num_elements == 5
    V, HV = _products(op)
    assert torch.allclose(HV, ref @ V, rtol=1e-10, atol=1e-12)


def test_mask_with_dataloader_and_dataset():
    net, (X, y) = mlp(), mlp_data(n=9)
    mask = torch.arange(9) % 3 == 0
    ref = dense_hessian(net, X[mask], y[mask], "mse")
    for data in (DataLoader(TensorDataset(X, y), batch_size=2), TensorDataset(X, y)):
        H = CurvatureOperator(net, data, loss="mse", mask=mask, batch_size=2).to_dense()
        assert torch.allclose(H, ref, rtol=1e-10, atol=1e-12)


def test_element_mask_for_dense_targets_weights_by_element_count():
    torch.manual_seed(3)
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Tanh(), nn.Conv2d(2, 1, 1)).double()
    X = torch.randn(4, 1, 3, 3, dtype=torch.float64)
    y = torch.randn(4, 3, 3, dtype=torch.float64)
    mask = torch.rand(4, 3, 3) < 0.4
    names = [n for n, _ in net.named_parameters()]
    shapes = [p.shape for p in net.parameters()]
    w0 = torch.cat([p.detach().reshape(-1) for p in net.parameters()])

    def L(w):
        parts = dict(
            zip(
                names,
                (t.view(s) for t, s in zip(torch.split(w, [s.numel() for s in shapes]), shapes)),
            )
        )
        pred = torch.func.functional_call(net, parts, (X,)).squeeze(1)
        return ((pred - y).square() * mask).sum() / mask.sum()

    ref = torch.func.hessian(L)(w0)
    op = CurvatureOperator(net, (X, y), loss="mse", mask=mask, batch_size=3)
    assert op.num_elements == int(mask.sum())
    assert torch.allclose(op.to_dense(), ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("loss", ["mse", "l1", "huber"])
@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_ggn_equals_dense_jt_h_j(arch, loss):
    net, (X, y) = (mlp(), mlp_data()) if arch == "mlp" else (small_cnn(), cnn_data())
    ref = dense_ggn(net, X, y, loss)
    op = CurvatureOperator(net, (X, y), loss=loss, curvature="ggn", batch_size=4)
    V, GV = _products(op)
    assert torch.allclose(GV, ref @ V, rtol=1e-10, atol=1e-12)
    assert (V * GV).sum(0).min() >= 0  # positive semi-definite


def test_ggn_equals_hessian_for_linear_model_with_mse():
    torch.manual_seed(0)
    net = nn.Linear(4, 1).double()
    X, y = torch.randn(6, 4, dtype=torch.float64), torch.randn(6, dtype=torch.float64)
    H = CurvatureOperator(net, (X, y), loss="mse").to_dense()
    G = CurvatureOperator(net, (X, y), loss="mse", curvature="ggn").to_dense()
    Xb = torch.cat([X, torch.ones(6, 1, dtype=torch.float64)], dim=1)
    assert torch.allclose(H, 2 * Xb.T @ Xb / 6, atol=1e-12)
    assert torch.allclose(G, H, atol=1e-12)


@pytest.mark.parametrize("spec", [["2"], ["0.weight", "2.bias"], lambda n, p: n.endswith("bias")])
def test_parameter_subset_is_the_matching_block(spec):
    net, (X, y) = mlp(), mlp_data()
    names = select_parameters(net, spec)
    full_names = [n for n, _ in net.named_parameters()]
    sizes = [p.numel() for p in net.parameters()]
    offsets = dict(zip(full_names, torch.tensor([0] + sizes).cumsum(0).tolist()))
    idx = torch.cat(
        [
            torch.arange(offsets[n], offsets[n] + dict(net.named_parameters())[n].numel())
            for n in names
        ]
    )
    full = dense_hessian(net, X, y, "l1")
    sub = CurvatureOperator(net, (X, y), loss="l1", params=spec).to_dense()
    assert torch.allclose(sub, full[idx][:, idx], rtol=1e-10, atol=1e-12)
    assert torch.allclose(dense_hessian(net, X, y, "l1", names=names), sub, rtol=1e-10, atol=1e-12)


class _WithUnused(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(3, 4)
        self.head = nn.Linear(4, 1)
        self.unused = nn.Linear(2, 2)  # never called in forward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.body(x)))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("curvature", ["hessian", "ggn"])
def test_unused_parameters_get_zero_rows(method, curvature):
    if curvature == "ggn" and method != "forward_over_reverse":
        pytest.skip("GGN has one product strategy")
    torch.manual_seed(0)
    net = _WithUnused().double()
    X, y = mlp_data()
    op = CurvatureOperator(net, (X, y), loss="mse", curvature=curvature, hvp_method=method)
    M = op.to_dense()
    n_used = sum(p.numel() for n, p in net.named_parameters() if not n.startswith("unused"))
    assert M.shape[0] == n_used + 6
    assert torch.count_nonzero(M[n_used:]) == 0 and torch.count_nonzero(M[:, n_used:]) == 0
    used = CurvatureOperator(
        net, (X, y), loss="mse", curvature=curvature, params=["body", "head"]
    ).to_dense()
    assert torch.allclose(M[:n_used, :n_used], used, rtol=1e-12, atol=1e-14)


def test_zero_hessian_of_l1_on_linear_model():
    net = nn.Linear(3, 1).double()
    X, y = mlp_data()
    assert torch.count_nonzero(CurvatureOperator(net, (X, y), loss="l1").to_dense()) == 0


def test_custom_callable_loss_matches_named_loss():
    net, (X, y) = mlp(), mlp_data()
    a = CurvatureOperator(net, (X, y), loss=lambda p, t: (p - t) ** 2).to_dense()
    b = CurvatureOperator(net, (X, y), loss="mse").to_dense()
    assert torch.allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_model_left_bit_for_bit(method):
    net = small_cnn()
    for p in net[4].parameters():
        p.requires_grad_(False)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    flags = [p.requires_grad for p in net.parameters()]
    X, y = cnn_data()
    op = CurvatureOperator(net, (X, y), loss="l1", hvp_method=method, params=["0", "1", "4", "6"])
    op @ torch.randn(op.shape[0], dtype=torch.float64)
    assert net.training and all(m.training for m in net.modules())
    assert [p.requires_grad for p in net.parameters()] == flags
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(p.grad is None for p in net.parameters())


def test_float32_model_and_matrix_input():
    net = mlp().float()
    X, y = (t.float() for t in mlp_data())
    op = CurvatureOperator(net, (X, y), loss="mse")
    V = torch.randn(op.shape[0], 3)
    out = op @ V
    assert out.dtype == torch.float32 and out.shape == V.shape
    assert torch.allclose(out[:, 1], op @ V[:, 1], rtol=1e-5, atol=1e-6)


def test_loss_value_is_the_region_mean():
    net, (X, y) = mlp(), mlp_data()
    mask = torch.arange(11) < 4
    op = CurvatureOperator(net, (X, y), loss="l1", mask=mask, batch_size=3)
    with torch.no_grad():
        ref = (net(X[:4]).squeeze(1) - y[:4]).abs().mean()
    assert op.loss() == pytest.approx(float(ref), rel=1e-12)


def test_errors_name_the_argument():
    net, (X, y) = mlp(), mlp_data()
    with pytest.raises(ValueError, match="Invalid curvature 'fisher'"):
        CurvatureOperator(net, (X, y), curvature="fisher")
    with pytest.raises(ValueError, match="Invalid hvp_method 'magic'"):
        CurvatureOperator(net, (X, y), hvp_method="magic")
    with pytest.raises(ValueError, match="Invalid batch_size value: 0"):
        CurvatureOperator(net, (X, y), batch_size=0)
    with pytest.raises(ValueError, match="Unknown loss 'l3'"):
        CurvatureOperator(net, (X, y), loss="l3")
    with pytest.raises(ValueError, match="Invalid params entry 'nope'"):
        CurvatureOperator(net, (X, y), params=["nope"])
    with pytest.raises(ValueError, match="Invalid mask dtype"):
        CurvatureOperator(net, (X, y), mask=torch.ones(11))
    with pytest.raises(ValueError, match=r"Invalid mask shape \(5,\)"):
        CurvatureOperator(net, (X, y), mask=torch.ones(5, dtype=torch.bool))
    with pytest.raises(ValueError, match="empty region"):
        CurvatureOperator(net, (X, y), mask=torch.zeros(11, dtype=torch.bool))
    with pytest.raises(ValueError, match="X has 11 samples but y has 3"):
        CurvatureOperator(net, (X, y[:3]))
    with pytest.raises(TypeError, match="Invalid data of type int"):
        CurvatureOperator(net, 3)
    with pytest.raises(ValueError, match="Invalid hvp_method 'reuse_graph' for curvature='ggn'"):
        CurvatureOperator(net, (X, y), curvature="ggn", hvp_method="reuse_graph")
    with pytest.raises(ValueError, match="reuse_graph' with cache=False"):
        CurvatureOperator(net, (X, y), hvp_method="reuse_graph", cache=False)
    loader = DataLoader(TensorDataset(X, y), batch_size=4, shuffle=True)
    with pytest.raises(ValueError, match="DataLoader shuffles"):
        CurvatureOperator(net, loader, mask=torch.ones(11, dtype=torch.bool))
    op = CurvatureOperator(net, (X, y))
    with pytest.raises(ValueError, match=r"Invalid vector of shape \(3,\)"):
        op @ torch.ones(3, dtype=torch.float64)
    with pytest.raises(ValueError, match="custom loss must return the element-wise loss"):
        CurvatureOperator(net, (X, y), loss=lambda p, t: (p - t).abs().mean()) @ torch.ones(
            op.shape[0], dtype=torch.float64
        )
    frozen = mlp()
    for p in frozen.parameters():
        p.requires_grad_(False)
    with pytest.raises(ValueError, match="no parameter requires grad"):
        CurvatureOperator(frozen, (X, y))


def test_streaming_without_cache_matches_cached():
    net, (X, y) = small_cnn(), cnn_data()
    op = CurvatureOperator(net, TensorDataset(X, y), loss="l1", batch_size=4, cache=False)
    V, HV = _products(op)
    assert torch.allclose(HV, dense_hessian(net, X, y, "l1") @ V, rtol=1e-10, atol=1e-12)
