"""Result records of the eigenvalue, trace and density estimators."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["EigenResult", "TraceResult", "DensityResult"]


@dataclass
class EigenResult:
    r"""Eigenvalue estimates with their residuals.

    Attributes
    ----------
    eigenvalues:
        The ``k`` estimates :math:`\theta_i`, ordered as asked (``"LA"``: descending, ``"SA"``:
        ascending, ``"LM"``: descending magnitude).
    residuals:
        Certified :math:`\|A u_i - \theta_i u_i\|_2` for the unit Ritz vectors :math:`u_i`,
        recomputed with one product of the operator each (see ``certificate``). Some eigenvalue of
        :math:`A` lies within this distance of :math:`\theta_i` (and within
        :math:`\|r\|^2/\text{gap}` when the gap to the rest of the spectrum is known).
    converged:
        True iff every certified relative residual is at most ``tol``:
        :math:`\|r_i\| \le \text{tol}\,|\theta_i|` (never on a noise-level floor).
    num_matvecs:
        Matrix-vector (Hessian-vector) products used.
    iterations:
        Iterations run (Krylov dimension for Lanczos; total power steps for power iteration).
    which:
        ``"LA"`` largest algebraic, ``"SA"`` smallest algebraic, ``"LM"`` largest magnitude.
    eigenvectors:
        ``(n, k)`` unit Ritz vectors when asked for, else ``None``.
    tol:
        The relative residual tolerance behind ``converged`` (``None`` if not recorded).
    certificate:
        How ``residuals`` were obtained (e.g. the explicit product, its dtype and allowance).
    """

    eigenvalues: torch.Tensor
    residuals: torch.Tensor
    converged: bool
    num_matvecs: int
    iterations: int
    which: str
    eigenvectors: torch.Tensor | None = None
    tol: float | None = None
    certificate: str = ""

    @property
    def relative_residuals(self) -> torch.Tensor:
        r""":math:`\|r_i\| / |\theta_i|` (``inf`` for a zero eigenvalue)."""
        return self.residuals / self.eigenvalues.abs()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (no eigenvectors)."""
        return {
            "eigenvalues": self.eigenvalues.tolist(),
            "residuals": self.residuals.tolist(),
            "relative_residuals": self.relative_residuals.tolist(),
            "converged": bool(self.converged),
            "num_matvecs": int(self.num_matvecs),
            "iterations": int(self.iterations),
            "which": self.which,
            "tol": self.tol,
            "certificate": self.certificate,
        }


@dataclass
class TraceResult:
    r"""A stochastic trace estimate with its standard error.

    Attributes
    ----------
    estimate:
        The trace estimate.
    std_error:
        Its standard error, conservatively: the upper 90% confidence bound of the Hutchinson
        terms' standard deviation, :math:`s_m \sqrt{(m-1)/\chi^2_{0.10,\,m-1}}`, over
        :math:`\sqrt{m}` (for Hutch++ the exact sketch part contributes no variance). The stopping
        rule uses it, and the 95% interval is ``estimate +- t_{0.975, m-1} * std_error``
        (:meth:`interval`).
    num_matvecs:
        Matrix-vector products used in total.
    converged:
        Whether the requested relative standard error was reached.
    method:
        ``"hutchinson"`` or ``"hutchpp"``.
    num_samples:
        Number of Hutchinson terms :math:`m` behind the standard error.
    sketch_size:
        Hutch++ sketch dimension (0 for Hutchinson).
    sample_std_error:
        The plain estimate :math:`s_m / \sqrt m` (NaN when not recorded).
    """

    estimate: float
    std_error: float
    num_matvecs: int
    converged: bool
    method: str
    num_samples: int
    sketch_size: int = 0
    sample_std_error: float = float("nan")

    @property
    def relative_std_error(self) -> float:
        """``std_error / |estimate|``."""
        return abs(self.std_error / self.estimate) if self.estimate != 0 else float("inf")

    @property
    def dof(self) -> int:
        """Degrees of freedom of the standard error, ``num_samples - 1`` (0: exact or unknown)."""
        return max(int(self.num_samples) - 1, 0)

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        r"""The ``level`` confidence interval :math:`\hat t \pm t_{(1+\text{level})/2,\,m-1}\,\mathrm{SE}`.

        An exact result (``std_error == 0``, e.g. a Hutch++ sketch spanning the space) is the
        point itself; fewer than two terms give ``(-inf, inf)``.
        """
        if not 0.0 < level < 1.0:
            raise ValueError(f"Invalid level value: {level!r}; pass a number in (0, 1).")
        if self.std_error == 0.0:
            return (self.estimate, self.estimate)
        if self.dof < 1 or not math.isfinite(self.std_error):
            return (-math.inf, math.inf)
        from analyses.curvature._stopping import t_quantile

        half = t_quantile(self.dof, level) * self.std_error
        return (self.estimate - half, self.estimate + half)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary."""
        return {
            "estimate": float(self.estimate),
            "std_error": float(self.std_error),
            "relative_std_error": float(self.relative_std_error),
            "num_matvecs": int(self.num_matvecs),
            "converged": bool(self.converged),
            "method": self.method,
            "num_samples": int(self.num_samples),
            "sketch_size": int(self.sketch_size),
            "sample_std_error": float(self.sample_std_error),
            "dof": self.dof,
            "ci95": list(self.interval(0.95)),
            "std_error_rule": "upper 90% confidence bound of the sample SD / sqrt(m)",
        }


@dataclass
class DensityResult:
    r"""A smoothed spectral density from stochastic Lanczos quadrature.

    Attributes
    ----------
    grid:
        Points :math:`t` where the density is evaluated.
    density:
        :math:`\phi_\sigma(t) = \sum_k w_k\, \mathcal N(t; \theta_k, \sigma^2)`; integrates to 1.
    nodes, weights:
        Quadrature nodes :math:`\theta_k` (Ritz values) and weights :math:`w_k` of all probes
        together (each probe's weights divided by the number of probes, so they sum to 1).
    sigma:
        Standard deviation of the Gaussian kernel.
    num_matvecs:
        Matrix-vector products used.
    num_probes:
        Probe vectors averaged.
    dim:
        Dimension :math:`n` of the operator (the density is that of the eigenvalues divided by
        :math:`n`, so :math:`n \sum_k w_k \theta_k` estimates the trace).
    """

    grid: torch.Tensor
    density: torch.Tensor
    nodes: torch.Tensor
    weights: torch.Tensor
    sigma: float
    num_matvecs: int
    num_probes: int
    dim: int
    extra: dict[str, Any] = field(default_factory=dict)

    def moment(self, order: int = 1) -> float:
        r"""Quadrature moment :math:`\sum_k w_k \theta_k^p` (estimates :math:`\mathrm{tr}(A^p)/n`)."""
        return float((self.weights * self.nodes.pow(order)).sum())

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary including grid, density, nodes and weights."""
        return {
            "grid": self.grid.tolist(),
            "density": self.density.tolist(),
            "nodes": self.nodes.tolist(),
            "weights": self.weights.tolist(),
            "sigma": float(self.sigma),
            "num_matvecs": int(self.num_matvecs),
            "num_probes": int(self.num_probes),
            "dim": int(self.dim),
        }
