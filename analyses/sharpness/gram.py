r"""The exact Gauss-Newton spectrum of a small region from its output-Jacobian Gram matrix.

For a regressor :math:`f_\theta` and a region of :math:`M` target elements (samples, or pixels of
dense targets) with the output Jacobian :math:`J \in \mathbb R^{M \times P}` (row :math:`e`:
:math:`\nabla_\theta f_\theta(x_{n})_{j}`), the Gauss-Newton matrix of the region's mean loss is

.. math::

    G = \frac1M J^\top D J, \qquad D = \mathrm{diag}\big(\partial^2_f \ell(f_e, y_e)\big),

the matrix :class:`analyses.curvature.CurvatureOperator` multiplies with ``curvature="ggn"``:
:math:`D = 2I` for the squared error, :math:`D = \mathrm{diag}(1[|r_e| \le \delta])` for Huber,
and for the L1 loss (whose second derivative vanishes) :math:`D = I` by definition, so
:math:`G = J^\top J / M`, the output-Jacobian Gram matrix (not "the L1 Hessian"). With
:math:`A = D^{1/2} J`, the nonzero eigenvalues of :math:`G = A^\top A / M` are those of the
:math:`M \times M` Gram matrix :math:`A A^\top / M`, so one pass of per-element gradients
(:func:`torch.func.vmap` of :func:`torch.func.jacrev`, eval mode) and one small ``eigvalsh`` give
the whole spectrum, :math:`\lambda_{\max}` and :math:`\mathrm{tr}\,G = \|A\|_F^2 / M` exactly.

When :math:`J` (``M * P`` numbers) and the Gram matrix do not fit in ``max_bytes``,
:func:`gauss_newton_spectrum` falls back to Lanczos on the GGN operator for
:math:`\lambda_{\max}` (:mod:`analyses.curvature`) and says so in
:attr:`GaussNewtonSpectrum.method`; the trace stays exact: :func:`gauss_newton_trace` streams
:math:`J` block by block (one block of rows in memory) and sums :math:`\|A\|_F^2 / M`, one pass
of per-element gradients where Hutch++ needs up to hundreds of GGN-vector products.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, jacrev, vmap

from analyses.curvature import CurvatureOperator, lanczos
from bsam._state import eval_mode
from bsam.losses import align, get_loss

__all__ = [
    "GaussNewtonSpectrum",
    "gauss_newton_spectrum",
    "gauss_newton_trace",
    "output_jacobian",
    "DEFAULT_MAX_BYTES",
    "STREAM_BLOCK_BYTES",
]

#: Memory the exact method may use for :math:`J` and its Gram matrix (512 MiB).
DEFAULT_MAX_BYTES = 512 * 1024**2
#: Memory of one block of :math:`J` rows in :func:`gauss_newton_trace` (64 MiB).
STREAM_BLOCK_BYTES = 64 * 1024**2


@dataclass
class GaussNewtonSpectrum:
    r"""The Gauss-Newton matrix :math:`G = J^\top D J / M` of one region, summarised.

    Attributes
    ----------
    lambda_max, lambda_max_err:
        Largest eigenvalue and a bound on its error: 0 for ``method="gram"`` (exact up to float
        rounding), the Lanczos residual :math:`\|G u - \theta u\|` for ``"lanczos"`` (some
        eigenvalue of :math:`G` lies that close).
    trace, trace_err:
        :math:`\mathrm{tr}\,G` and its error: 0 (exact, also for ``"lanczos"``: streamed by
        :func:`gauss_newton_trace`).
    eigenvalues:
        Descending; the whole nonzero part (``min(M, P)`` values, the other ``P - M`` are 0) for
        ``"gram"``, only :math:`\lambda_{\max}` for ``"lanczos"``.
    method:
        ``"gram"`` (exact, from the Gram matrix) or ``"lanczos"`` (Lanczos for
        :math:`\lambda_{\max}`, the exact streamed trace).
    num_elements, dim:
        :math:`M` and :math:`P`.
    bytes_needed, max_bytes:
        Memory the exact method needs and the budget it was held to.
    num_matvecs:
        GGN-vector products of the fallback (0 for ``"gram"``).
    """

    lambda_max: float
    lambda_max_err: float
    trace: float
    trace_err: float
    eigenvalues: torch.Tensor
    method: str
    num_elements: int
    dim: int
    bytes_needed: int
    max_bytes: int
    num_matvecs: int = 0

    def to_dict(self, *, spectrum: bool = False) -> dict[str, Any]:
        """JSON-safe summary (the eigenvalues only with ``spectrum=True``)."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "eigenvalues"}
        if spectrum:
            out["eigenvalues"] = self.eigenvalues.tolist()
        return out


def _output_curvature(
    loss_fn: Callable[..., torch.Tensor], pred: torch.Tensor, y: torch.Tensor, l1: bool
) -> torch.Tensor:
    """:math:`\\partial^2_f \\ell` per element (1 for L1 by definition; 0 where it is not twice
    differentiable through autograd)."""
    if l1:
        return torch.ones_like(y)
    with torch.enable_grad():
        p = pred.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(loss_fn(p, y).sum(), p, create_graph=True)
        if not g.requires_grad:
            return torch.zeros_like(y)
        (h,) = torch.autograd.grad(g.sum(), p, allow_unused=True)
    return torch.zeros_like(y) if h is None else h.detach()


def output_jacobian(
    op: CurvatureOperator, loss: str | Callable[..., torch.Tensor] = "l1"
) -> torch.Tensor:
    r"""The rows :math:`D^{1/2} J` of the region of ``op`` (``(M, P)``, ``op``'s parameter order).

    Row :math:`e` is :math:`\sqrt{\partial^2_f \ell_e}\, \nabla_\theta f_\theta(x_n)_j` for a
    selected element :math:`e = (n, j)`, from :func:`torch.func.vmap` of
    :func:`torch.func.jacrev` over the samples of each batch, in eval mode. ``loss`` must be the
    loss ``op`` was built with.
    """
    return torch.cat(list(_jacobian_blocks(op, loss)))


def _jacobian_blocks(
    op: CurvatureOperator, loss: str | Callable[..., torch.Tensor]
) -> Iterator[torch.Tensor]:
    """The rows of :func:`output_jacobian`, one block per batch of ``op`` (eval mode)."""
    model, names = op.model, op.param_names
    named = dict(model.named_parameters())
    leaves = {n: named[n].detach() for n in names}
    loss_fn, l1 = get_loss(loss), isinstance(loss, str) and loss == "l1"

    def one(p: dict[str, torch.Tensor], x: Any) -> torch.Tensor:
        return functional_call(model, p, (x.unsqueeze(0),)).reshape(-1)

    with eval_mode(model):
        for X, y, m in op.batches():
            jac = vmap(jacrev(one), in_dims=(None, 0))(leaves, X)
            per = y[0].numel()
            flat = torch.cat([jac[n].reshape(y.shape[0] * per, -1) for n in names], dim=1)
            with torch.no_grad():
                pred = align(functional_call(model, leaves, (X,)), y)
            h = _output_curvature(loss_fn, pred, y, l1).reshape(-1)
            keep = torch.ones_like(h, dtype=torch.bool) if m is None else m.reshape(-1)
            yield (flat[keep] * h[keep].clamp_min(0).sqrt().unsqueeze(1)).detach()


def gauss_newton_trace(
    model: nn.Module,
    data: Any,
    *,
    mask: torch.Tensor | None = None,
    loss: str | Callable[..., torch.Tensor] = "l1",
    params: Any = None,
    block_bytes: int = STREAM_BLOCK_BYTES,
) -> tuple[float, int]:
    r"""The exact trace :math:`\mathrm{tr}\,G = \|D^{1/2} J\|_F^2 / M` of a region of any size.

    :math:`J` is streamed in blocks of at most ``block_bytes`` (rows of whole samples; at least
    one sample per block), so memory does not grow with the region; the cost is one pass of
    per-element gradients over the region. Returns ``(trace, M)``; ``(0.0, 0)`` for an empty
    region.
    """
    probe = CurvatureOperator(
        model, data, loss=loss, curvature="ggn", mask=mask, params=params, batch_size=1
    )
    M, P = probe.num_elements, probe.shape[0]
    per_sample = max(1, M // max(1, probe.num_samples))
    itemsize = torch.empty((), dtype=probe.dtype).element_size()
    probe.release()
    if M == 0:
        return 0.0, 0
    rows = max(1, int(block_bytes) // max(1, P * itemsize * per_sample))
    op = CurvatureOperator(
        model, data, loss=loss, curvature="ggn", mask=mask, params=params, batch_size=rows
    )
    total = 0.0
    for block in _jacobian_blocks(op, loss):
        total += float(block.double().square().sum())
    op.release()
    return total / M, M


def gauss_newton_spectrum(
    model: nn.Module,
    data: Any,
    *,
    mask: torch.Tensor | None = None,
    loss: str | Callable[..., torch.Tensor] = "l1",
    params: Any = None,
    batch_size: int = 256,
    max_bytes: int = DEFAULT_MAX_BYTES,
    tol: float = 1e-3,
    max_iter: int = 100,
    trace_rel_se: float = 0.05,
    trace_max_matvecs: int = 500,
    seed: int = 0,
) -> GaussNewtonSpectrum:
    r"""The region's Gauss-Newton :math:`\lambda_{\max}`, trace and spectrum; exact when it fits.

    Parameters
    ----------
    model, data, mask, loss, params, batch_size:
        As for :class:`analyses.curvature.CurvatureOperator` (``curvature="ggn"``).
    max_bytes:
        Budget for :math:`J` (``M * P`` entries) and the Gram matrix (``min(M, P)^2`` float64);
        above it Lanczos gives lambda_max (the trace stays exact).
    tol, max_iter:
        Lanczos relative residual tolerance and product budget (fallback).
    trace_rel_se, trace_max_matvecs:
        Ignored, kept so that old calls still work: the trace is always exact (the fallback
        streams :math:`J`, :func:`gauss_newton_trace`).
    seed:
        Seed of the fallback's random vectors.

    Returns
    -------
    GaussNewtonSpectrum

    Examples
    --------
    >>> net = torch.nn.Linear(3, 1, bias=False).double()
    >>> X = torch.eye(3, dtype=torch.float64) * torch.tensor([[1.0], [2.0], [3.0]], dtype=torch.float64)
    >>> s = gauss_newton_spectrum(net, (X, torch.zeros(3, dtype=torch.float64)), loss="l1")
    >>> s.method, [round(v, 10) for v in s.eigenvalues.tolist()], round(s.trace, 10)
    ('gram', [3.0, 1.3333333333, 0.3333333333], 4.6666666667)
    """
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
        raise ValueError(
            f"Invalid max_bytes value: {max_bytes!r}; it must be an int >= 0 (0 forces Lanczos)."
        )
    op = CurvatureOperator(
        model, data, loss=loss, curvature="ggn", mask=mask, params=params, batch_size=batch_size
    )
    M, P = op.num_elements, op.shape[0]
    itemsize = torch.empty((), dtype=op.dtype).element_size()
    need = M * P * itemsize + min(M, P) ** 2 * 8
    if need <= max_bytes:
        A = output_jacobian(op, loss).double()
        K = A @ A.T if M <= P else A.T @ A
        eig = torch.linalg.eigvalsh(K / M).flip(0)
        trace = float(A.square().sum()) / M
        return GaussNewtonSpectrum(
            float(eig[0]), 0.0, trace, 0.0, eig.cpu(), "gram", M, P, need, max_bytes
        )
    top = lanczos(op, which="LA", tol=tol, max_iter=max_iter, seed=seed)
    lam = top.eigenvalues[:1].detach().cpu().double()
    trace, _ = gauss_newton_trace(model, data, mask=mask, loss=loss, params=params)
    return GaussNewtonSpectrum(
        float(lam[0]),
        float(top.residuals[0]),
        trace,
        0.0,
        lam,
        "lanczos",
        M,
        P,
        need,
        max_bytes,
        op.num_matvecs,
    )
