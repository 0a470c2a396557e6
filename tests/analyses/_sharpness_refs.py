"""Closed-form references for the sharpness tests: a linear model with the squared error."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def linear_problem(n: int = 40, dim: int = 3, seed: int = 0):
    """``f(x) = w.x + b`` in float64 with inputs, targets and a label per sample in 0..9."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = nn.Linear(dim, 1).double()
    X = torch.randn(n, dim, generator=g, dtype=torch.float64)
    y = torch.rand(n, generator=g, dtype=torch.float64) * 10
    return net, X, y


def design(X: torch.Tensor) -> torch.Tensor:
    """``[X, 1]``: the Jacobian of the linear model's output in (w, b), parameter order."""
    return torch.cat([X, torch.ones(X.shape[0], 1, dtype=X.dtype)], dim=1)


def mse_grad_hessian(net: nn.Module, X: torch.Tensor, y: torch.Tensor):
    """Gradient and Hessian of the mean squared error by hand: ``2 X~^T r / M``, ``2 X~^T X~ / M``."""
    Xt = design(X)
    r = (net(X).squeeze(1) - y).detach()
    M = X.shape[0]
    return 2 * Xt.T @ r / M, 2 * Xt.T @ Xt / M


def trust_region_max(g: np.ndarray, H: np.ndarray, rho: float) -> float:
    """``max_{||e|| <= rho} g.e + e^T H e / 2`` exactly, by the secular equation (bisection).

    With ``H = Q diag(l) Q^T`` and ``c = Q^T g``, the maximiser on the sphere is
    ``e(mu) = Q (c / (mu - l))`` for the ``mu > max(l)`` with ``||e(mu)|| = rho`` (if ``H`` is
    negative definite and the unconstrained maximiser lies inside, that one).
    """
    lam, Q = np.linalg.eigh(H)
    c = Q.T @ g
    if lam.max() < 0:
        inner = -c / lam
        if np.linalg.norm(inner) <= rho:
            return float(c @ inner + 0.5 * inner @ (lam * inner))
    lo = max(lam.max(), 0.0) + 1e-15
    hi = lo + np.linalg.norm(c) / rho + 1.0
    while np.linalg.norm(c / (hi - lam)) > rho:
        hi *= 2
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if np.linalg.norm(c / (mid - lam)) > rho:
            lo = mid
        else:
            hi = mid
    e = c / (hi - lam)
    return float(c @ e + 0.5 * e @ (lam * e))


def circle_max(g: np.ndarray, H: np.ndarray, rho: float, n: int = 200_001) -> float:
    """The same maximum in 2-D by dense enumeration of the circle (for convex objectives)."""
    t = np.linspace(0, 2 * np.pi, n)
    E = rho * np.stack([np.cos(t), np.sin(t)], axis=1)
    return float((E @ g + 0.5 * np.einsum("ni,ij,nj->n", E, H, E)).max())
