"""Private: refuse a Gauss-Newton matrix that a loss callable cannot give correctly."""

from __future__ import annotations

from typing import Any

import torch
from torch.func import grad, jvp

from bsam._state import eval_mode
from bsam.losses import align

__all__: list[str] = []


def check_output_hessian(op: Any) -> None:
    r"""Raise if a callable loss's output Hessian :math:`\partial^2 \ell / \partial f^2` is 0 or not finite.

    The GGN of a callable is :math:`J^\top (\partial^2 \ell/\partial f^2) J`; for a piecewise-linear
    loss (an L1 written as a callable) that factor is 0 almost everywhere, so the matrix would be
    0 without a word. It is evaluated, with a vector of ones as the tangent (the diagonal, exact
    for an element-wise loss), on the first batch of the region at the current parameters.
    """
    X, y, m = next(iter(op.batches()))
    leaves = op._leaves(requires_grad=False)
    with torch.no_grad(), eval_mode(op.model):
        pred = align(op._forward(leaves, X), y)
    lfn = grad(lambda o: op._elementwise(o, y, m).sum())
    _, diag = jvp(lfn, (pred,), (torch.ones_like(pred),))
    if m is not None:
        diag = diag[m]
    name = op.loss_name
    if not bool(torch.isfinite(diag).all()):
        raise ValueError(
            f"Invalid loss {name!r} for curvature='ggn': its second derivative with respect to "
            "the prediction is not finite; use curvature='hessian' or a twice-differentiable loss."
        )
    if not bool((diag != 0).any()):
        raise ValueError(
            f"Invalid loss {name!r} for curvature='ggn': its second derivative with respect to "
            "the prediction is 0 here (an L1-type loss), so its Gauss-Newton matrix would be 0; "
            "pass loss='l1' (Gauss-Newton defined as J^T J / M) or curvature='hessian'."
        )
