r"""Largest-magnitude eigenvalues by power iteration with Hotelling deflation.

Power iteration (von Mises 1929) repeats :math:`v \leftarrow A v / \|A v\|`; the Rayleigh quotient
:math:`\theta = v^\top A v` converges to the eigenvalue of largest *magnitude* at the rate
:math:`|\lambda_2/\lambda_1|` per product. This is what PyHessian computes; it is kept here for
comparison with it, Lanczos (:mod:`analyses.curvature.lanczos`) being faster and exact at both ends.

Unlike PyHessian, which stops when :math:`\theta` changes by less than a relative ``tol`` between
steps (and so stops early when the top two eigenvalues are close), iteration stops on the
residual of the current pair, computed from the product already taken (in the operator's dtype,
plus a rounding allowance :math:`\sqrt n\,\varepsilon\,\|Av\|`):

.. math::

    \|A v - \theta v\|_2 \le \mathrm{tol}\, |\theta|, \qquad \theta = v^\top A v,\ \|v\| = 1.

For ``k > 1`` the ``i``-th eigenvalue is found on the deflated operator
:math:`A - \sum_{j<i} \theta_j u_j u_j^\top` (Hotelling deflation), with the iterate kept
orthogonal to the :math:`u_j` found before.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from analyses.curvature._operator import (
    _check_positive_int,
    _check_tol,
    _Counted,
    _generator,
    _random_vector,
)
from analyses.curvature.results import EigenResult

__all__ = ["power_iteration"]


def power_iteration(
    A: Any,
    k: int = 1,
    *,
    tol: float = 1e-3,
    max_iter: int = 100,
    seed: int | torch.Generator | None = 0,
    return_vectors: bool = False,
) -> EigenResult:
    r"""The ``k`` largest-magnitude eigenvalues by power iteration with deflation.

    Parameters
    ----------
    A:
        A symmetric ``(n, n)`` tensor or an operator with ``shape``, ``dtype``, ``device``, ``@``.
    k:
        Number of eigenvalues (found one after another on the deflated operator).
    tol:
        Stop when :math:`\|A v - \theta v\| \le \mathrm{tol}\,|\theta|`.
    max_iter:
        Products allowed *per eigenvalue* (PyHessian's ``maxIter``).
    seed:
        Seed (or generator) of the Gaussian start vectors.
    return_vectors:
        Also return the unit eigenvector estimates.

    Returns
    -------
    EigenResult
        ``which="LM"``; eigenvalues in the order found (descending magnitude up to ties).

    Examples
    --------
    >>> A = torch.diag(torch.tensor([1.0, -4.0, 2.0], dtype=torch.float64))
    >>> round(power_iteration(A, tol=1e-8, max_iter=500).eigenvalues.item(), 6)
    -4.0
    """
    k = _check_positive_int(k, "k")
    tol = _check_tol(tol)
    max_iter = _check_positive_int(max_iter, "max_iter")
    op = _Counted(A)
    if k > op.n:
        raise ValueError(f"Invalid k value: {k}; k must be <= the dimension {op.n}.")
    gen = _generator(seed, op.device)
    floor_scale = torch.finfo(op.dtype).eps ** (2.0 / 3.0)
    values: list[float] = []
    residuals: list[float] = []
    vectors: list[torch.Tensor] = []
    all_converged = True
    steps = 0
    allowance = math.sqrt(op.n) * torch.finfo(op.dtype).eps  # times |theta|: rounding of A v

    def deflate(x: torch.Tensor) -> torch.Tensor:
        for u in vectors:
            x = x - (u @ x) * u
        return x

    for _ in range(k):
        v = deflate(_random_vector(op.n, "normal", gen, op.dtype, op.device))
        v = v / v.norm()
        theta, res, converged = 0.0, float("inf"), False
        for _ in range(max_iter):
            w = op(v)
            for lam, u in zip(values, vectors):
                w = w - lam * (u @ v) * u
            theta = float(v @ w)
            res = float((w - theta * v).norm()) + allowance * float(w.norm())
            steps += 1
            scale = max(abs(theta), floor_scale * max([abs(theta)] + [abs(x) for x in values]))
            if res <= tol * scale:
                converged = True
                break
            nrm = w.norm()
            if not nrm > 0:  # v lies in the null space: eigenvalue 0, residual 0
                converged, res = True, 0.0
                break
            v = deflate(w / nrm)
            v = v / v.norm()
        # converged iff the relative residual meets tol (a noise-level stop does not count)
        all_converged &= converged and res <= tol * abs(theta)
        values.append(theta)
        residuals.append(res)
        vectors.append(v)
    return EigenResult(
        eigenvalues=torch.tensor(values, dtype=op.dtype),
        residuals=torch.tensor(residuals, dtype=op.dtype),
        converged=all_converged,
        num_matvecs=op.count,
        iterations=steps,
        which="LM",
        eigenvectors=torch.stack(vectors, dim=1) if return_vectors else None,
    )
