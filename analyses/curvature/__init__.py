"""Curvature of a network's loss per shot region: Hessian/GGN products, extreme eigenvalues,
trace and spectral density.

GGN is the Gauss-Newton matrix; for the L1 loss it is G = J^T J / M, the output-Jacobian Gram
matrix (the Gauss-Newton matrix of the squared error, independent of the L1 loss). The library
default is the Hessian; the paper's Table 8 uses G (:data:`TABLE8`, ``bsam hessian --table8``).

* :class:`CurvatureOperator` -- Hessian- (or GGN-) vector products over a fixed data set or a region
  of it, exactly weighted by element count, in eval mode.
* :func:`lanczos`, :func:`lanczos_extremes` -- top-k eigenvalues at either end (default);
  :func:`power_iteration` -- largest magnitude, for comparison with PyHessian.
* :func:`hutchpp_trace` (default), :func:`hutchinson_trace` -- trace with a standard error.
* :func:`slq_density` -- spectral density by stochastic Lanczos quadrature.
* :func:`region_curvature` -- all of it per region, with provenance; :func:`save_curvature`.
"""

from analyses.curvature.density import gaussian_density, slq_density
from analyses.curvature.hutchinson1989 import hutchinson_trace
from analyses.curvature.hvp import CURVATURES, HVP_METHODS, CurvatureOperator, select_parameters
from analyses.curvature.lanczos import WHICH, lanczos, lanczos_extremes
from analyses.curvature.meyer2021hutchpp import hutchpp_trace
from analyses.curvature.power import power_iteration
from analyses.curvature.regions import (
    METRICS,
    TABLE8,
    TRACE_METHODS,
    checkpoint_curvature,
    model_hash,
    region_curvature,
    save_curvature,
)
from analyses.curvature.results import DensityResult, EigenResult, TraceResult

__all__ = [
    "CurvatureOperator",
    "select_parameters",
    "CURVATURES",
    "HVP_METHODS",
    "lanczos",
    "lanczos_extremes",
    "WHICH",
    "power_iteration",
    "hutchinson_trace",
    "hutchpp_trace",
    "slq_density",
    "gaussian_density",
    "EigenResult",
    "TraceResult",
    "DensityResult",
    "region_curvature",
    "checkpoint_curvature",
    "save_curvature",
    "model_hash",
    "METRICS",
    "TRACE_METHODS",
    "TABLE8",
]
