r"""Hutch++ trace estimation (Meyer, Musco, Musco, Woodruff, SOSA 2021) with a standard error.

Hutch++ removes the top of the spectrum exactly and samples only the rest. With a sketch
:math:`S \in \mathbb R^{n \times s}` of random probes, :math:`Q = \mathrm{orth}(AS)` spans
approximately the dominant eigenvectors, and with :math:`P = I - QQ^\top`

.. math::

    \mathrm{tr}(A) = \mathrm{tr}(Q^\top A Q) + \mathrm{tr}(P A P)
    \approx \mathrm{tr}(Q^\top A Q) + \frac1m \sum_{i=1}^m (P g_i)^\top A\, (P g_i).

The first term is exact (``s`` products for :math:`AS`, ``s`` for :math:`AQ`); the second is
Hutchinson's estimator on the deflated operator, whose variance
:math:`2\|PAP\|_F^2` is small when the spectrum decays. Because the sketch is independent of the
probes :math:`g_i`, the estimator is unbiased given :math:`Q`, and its standard error is that of
the deflated terms, taken as the upper 90% confidence bound of the sample standard deviation over
:math:`\sqrt m` (see :class:`~analyses.curvature.results.TraceResult`; the 95% interval is
:math:`\pm t_{0.975,\,m-1}` of it). Probes are drawn until that
error is at most ``rel_se`` of the estimate (the adaptive stopping of Persson, Cortinovis, Kressner
2022, with a fixed sketch). Any orthonormal ``basis`` (e.g. a Lanczos basis) may replace the
sketch.
"""

from __future__ import annotations

from typing import Any

import torch

from analyses.curvature._operator import _check_positive_int
from analyses.curvature._stopping import _Probes, _sample_until
from analyses.curvature.results import TraceResult

__all__ = ["hutchpp_trace"]


def hutchpp_trace(
    A: Any,
    *,
    rel_se: float | None = 0.05,
    sketch_size: int = 5,
    max_matvecs: int = 1000,
    min_samples: int = 10,
    distribution: str = "rademacher",
    seed: int | torch.Generator | None = 0,
    basis: torch.Tensor | None = None,
) -> TraceResult:
    r"""Estimate :math:`\mathrm{tr}(A)` by Hutch++ with a standard error, stopping on the relative SE.

    Parameters
    ----------
    A:
        A symmetric ``(n, n)`` tensor or an operator with ``shape``, ``dtype``, ``device``, ``@``.
    rel_se:
        Stop once the standard error is at most ``rel_se`` times the estimate's magnitude;
        ``None`` spends the whole budget.
    sketch_size:
        Columns :math:`s` of the sketch (costs :math:`2s` products); capped at ``n``. The default 5
        is the measured best for a 5% target on a trained CNN (docs/curvature.md): network
        Hessians have a few dominant eigenvalues, and a larger sketch costs more than it saves.
    max_matvecs:
        Budget of products, sketch included.
    min_samples:
        Deflated probes before the stopping rule is consulted (>= 2).
    distribution:
        ``"rademacher"`` or ``"normal"`` probes.
    seed:
        Seed (or generator).
    basis:
        ``(n, s)`` matrix whose orthonormalised columns replace the sketch :math:`Q`
        (costs ``s`` products for :math:`\mathrm{tr}(Q^\top A Q)`).

    Returns
    -------
    TraceResult
        ``method="hutchpp"``; ``sketch_size`` is the dimension of :math:`Q`.

    Examples
    --------
    >>> A = torch.diag(torch.tensor([100.0, 10.0, 1.0, 1.0], dtype=torch.float64))
    >>> round(hutchpp_trace(A, sketch_size=4).estimate, 8)  # the sketch spans everything: exact
    112.0
    """
    probes = _Probes(A, rel_se, max_matvecs, min_samples, distribution, seed)
    op, rel_se, min_samples = probes.op, probes.rel_se, probes.min_samples
    max_matvecs = probes.max_matvecs
    if basis is None:
        sketch_size = min(_check_positive_int(sketch_size, "sketch_size"), op.n)
        cost = 2 * sketch_size
        if cost + (min_samples if sketch_size < op.n else 0) > max_matvecs:
            raise ValueError(
                f"Invalid max_matvecs value: {max_matvecs}; the sketch of size {sketch_size} "
                f"needs {cost} products plus min_samples={min_samples} probes. Raise max_matvecs "
                "or lower sketch_size."
            )
        S = torch.stack([probes.vector() for _ in range(sketch_size)], dim=1)
        AS = torch.stack([op(S[:, j]) for j in range(sketch_size)], dim=1)
        Q = torch.linalg.qr(AS).Q
    else:
        if basis.dim() != 2 or basis.shape[0] != op.n:
            raise ValueError(
                f"Invalid basis of shape {tuple(basis.shape)}; pass an ({op.n}, s) matrix."
            )
        Q = torch.linalg.qr(basis.to(device=op.device, dtype=op.dtype)).Q
    s = Q.shape[1]
    exact = sum(float(Q[:, j] @ op(Q[:, j])) for j in range(s))
    if s >= op.n:  # Q spans the whole space: the sketch part is the trace
        return TraceResult(exact, 0.0, op.count, True, "hutchpp", 0, s)

    def draw() -> float:
        g = probes.vector()
        z = g - Q @ (Q.T @ g)
        return float(z @ op(z))

    budget = max_matvecs - op.count
    if budget < (min_samples if rel_se is not None else 1):
        raise ValueError(
            f"Invalid max_matvecs value: {max_matvecs}; {op.count} products went to the basis, "
            f"leaving fewer than min_samples={min_samples} probes."
        )
    mean, se, m, reached, sample_se = _sample_until(
        draw, offset=exact, rel_se=rel_se, max_samples=budget, min_samples=min_samples
    )
    return TraceResult(exact + mean, se, op.count, reached, "hutchpp", m, s, sample_se)
