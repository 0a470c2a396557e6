r"""Spectral density by stochastic Lanczos quadrature (SLQ).

The spectral density of a symmetric :math:`A \in \mathbb R^{n\times n}` with eigenvalues
:math:`\lambda_i`, smoothed by a Gaussian kernel :math:`\mathcal N(\cdot; 0, \sigma^2)`, is

.. math::

    \phi_\sigma(t) = \frac1n \sum_{i=1}^n \mathcal N(t; \lambda_i, \sigma^2)
    = \frac1n\, \mathrm{tr}\, \mathcal N(t I; A, \sigma^2)
    \approx \frac{1}{n_v} \sum_{l=1}^{n_v} \sum_{k=1}^{m} \tau_k^{(l)}\,
      \mathcal N(t; \theta_k^{(l)}, \sigma^2),

where for each unit probe :math:`v_l`, ``m`` Lanczos steps started at :math:`v_l` give the Gauss
quadrature of :math:`v_l^\top f(A) v_l`: nodes :math:`\theta_k^{(l)}` are the Ritz values and
weights :math:`\tau_k^{(l)} = (e_1^\top s_k^{(l)})^2` the squared first components of the
eigenvectors of :math:`T_m` (Golub & Meurant 2010; Lin, Saad, Yang, *SIAM Rev.* 58, 2016;
Ghorbani, Krishnan, Xiao, ICML 2019). Each probe's weights sum to 1, so the density integrates to
1, and :math:`\sum_k \tau_k \theta_k = v^\top A v`, so its mean is a Hutchinson estimate of
:math:`\mathrm{tr}(A)/n`. Lanczos runs with full reorthogonalisation (no ghost eigenvalues).
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
from analyses.curvature.lanczos import _Lanczos
from analyses.curvature.results import DensityResult

__all__ = ["slq_density", "gaussian_density"]


def gaussian_density(
    nodes: torch.Tensor, weights: torch.Tensor, grid: torch.Tensor, sigma: float
) -> torch.Tensor:
    r"""Evaluate :math:`\phi(t) = \sum_k w_k\, \mathcal N(t; \theta_k, \sigma^2)` on ``grid``.

    Parameters
    ----------
    nodes, weights:
        Quadrature nodes :math:`\theta_k` and weights :math:`w_k` (1-D, same length).
    grid:
        Points :math:`t` (1-D).
    sigma:
        Kernel standard deviation (> 0).

    Returns
    -------
    torch.Tensor
        The density at every grid point (float64).

    Examples
    --------
    >>> g = torch.linspace(-10, 10, 2001, dtype=torch.float64)
    >>> d = gaussian_density(torch.tensor([0.0]), torch.tensor([1.0]), g, 1.0)
    >>> round(float(torch.trapezoid(d, g)), 6)
    1.0
    """
    sigma = _check_tol(sigma, "sigma")
    t = grid.to(torch.float64)[:, None]
    z = (t - nodes.to(torch.float64)[None, :]) / sigma
    kern = torch.exp(-0.5 * z * z) / (sigma * math.sqrt(2 * math.pi))
    return kern @ weights.to(torch.float64)


def slq_density(
    A: Any,
    *,
    num_probes: int = 4,
    num_steps: int = 64,
    sigma: float | None = None,
    sigma_rel: float = 0.01,
    num_points: int = 1024,
    grid: torch.Tensor | None = None,
    distribution: str = "rademacher",
    seed: int | torch.Generator | None = 0,
) -> DensityResult:
    r"""Smoothed spectral density of a symmetric operator by stochastic Lanczos quadrature.

    Parameters
    ----------
    A:
        A symmetric ``(n, n)`` tensor or an operator with ``shape``, ``dtype``, ``device``, ``@``.
    num_probes:
        Probe vectors :math:`n_v` (Ghorbani et al. find one enough for large networks).
    num_steps:
        Lanczos steps :math:`m` per probe (capped at ``n``); ``num_probes * num_steps`` products.
    sigma:
        Kernel standard deviation; default ``sigma_rel`` times the width of the Ritz-value range.
    sigma_rel:
        Relative kernel width used when ``sigma`` is not given.
    num_points:
        Grid points (when ``grid`` is not given): the Ritz range padded by ``5 sigma`` each side.
    grid:
        Explicit evaluation points.
    distribution:
        Probe distribution (``"rademacher"`` or ``"normal"``), normalised to unit length.
    seed:
        Seed (or generator).

    Returns
    -------
    DensityResult
        Grid, density, and the nodes/weights of all probes (weights summing to 1).

    Examples
    --------
    >>> A = torch.diag(torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64))
    >>> r = slq_density(A, num_probes=2)
    >>> round(r.moment(1), 10)  # v^T A v / n is exact for a diagonal A and Rademacher probes
    2.5
    """
    num_probes = _check_positive_int(num_probes, "num_probes")
    num_steps = _check_positive_int(num_steps, "num_steps")
    num_points = _check_positive_int(num_points, "num_points")
    sigma_rel = _check_tol(sigma_rel, "sigma_rel")
    if sigma is not None:
        sigma = _check_tol(sigma, "sigma")
    op = _Counted(A)
    gen = _generator(seed, op.device)
    nodes, weights = [], []
    for _ in range(num_probes):
        v0 = _random_vector(op.n, distribution, gen, op.dtype, op.device)
        run = _Lanczos(op, num_steps, gen, v0=v0, distribution=distribution)
        while run.j < run.max_steps:
            run.step()
            if run.beta[-1] == 0.0:  # the probe's Krylov space is invariant: quadrature exact
                break
        theta, S, _ = run.ritz()
        nodes.append(theta)
        weights.append(S[0].square() / num_probes)
    nodes_t, weights_t = torch.cat(nodes), torch.cat(weights)
    lo, hi = float(nodes_t.min()), float(nodes_t.max())
    if sigma is None:
        width = hi - lo
        sigma = sigma_rel * (width if width > 0 else max(abs(hi), 1.0))
    if grid is None:
        grid = torch.linspace(lo - 5 * sigma, hi + 5 * sigma, num_points, dtype=torch.float64)
    else:
        grid = torch.as_tensor(grid, dtype=torch.float64).reshape(-1)
    dens = gaussian_density(nodes_t, weights_t, grid, sigma)
    return DensityResult(
        grid=grid,
        density=dens,
        nodes=nodes_t,
        weights=weights_t,
        sigma=float(sigma),
        num_matvecs=op.count,
        num_probes=num_probes,
        dim=op.n,
    )
