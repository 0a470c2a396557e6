"""Private: Hutchinson sampling with a stopping rule on the relative standard error."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import torch

from analyses.curvature._operator import (
    _check_positive_int,
    _check_tol,
    _Counted,
    _generator,
    _random_vector,
)

__all__ = ["t_quantile", "CI_LEVEL", "SD_BOUND_LEVEL"]


#: One-sided level of the upper confidence bound on the standard deviation (see _se_upper).
SD_BOUND_LEVEL = 0.90
#: Two-sided level of the reported interval ``estimate +- t * std_error``.
CI_LEVEL = 0.95


@functools.lru_cache(maxsize=4096)
def _chi2_low(dof: int) -> float:
    """The ``1 - SD_BOUND_LEVEL`` quantile of the chi-square distribution with ``dof`` dof."""
    from scipy.stats import chi2

    return float(chi2.ppf(1.0 - SD_BOUND_LEVEL, dof))


@functools.lru_cache(maxsize=4096)
def t_quantile(dof: int, level: float = CI_LEVEL) -> float:
    """The two-sided ``level`` quantile of Student's t with ``dof`` degrees of freedom."""
    from scipy.stats import t

    return float(t.ppf(0.5 + level / 2.0, dof))


def _se_upper(m2: float, m: int) -> float:
    r"""Upper 90% confidence bound of the standard error from ``m`` terms with ``m2 = sum (x - mean)^2``.

    :math:`\sqrt{m_2 / \chi^2_{0.10,\,m-1}} / \sqrt m`: the sample variance is divided by the
    lower chi-square quantile instead of ``m - 1``, so a lucky small variance (which a skewed
    term distribution makes frequent at small ``m``) neither stops sampling nor shrinks the bar.
    """
    return math.sqrt(m2 / _chi2_low(m - 1) / m)


def _sample_until(
    draw: Callable[[], float],
    *,
    offset: float,
    rel_se: float | None,
    max_samples: int,
    min_samples: int,
) -> tuple[float, float, int, bool, float]:
    """Average ``draw()`` until ``se <= rel_se * |offset + mean|`` or ``max_samples`` draws.

    Welford's running mean and variance; ``se`` is the upper confidence bound :func:`_se_upper`
    of the standard error, so the rule does not stop on a lucky small variance. Returns
    ``(mean, se, m, reached, sample_se)`` with ``sample_se = sd / sqrt(m)`` (the plain estimate);
    with ``rel_se=None`` exactly ``max_samples`` draws are taken and ``reached`` is True.
    """
    mean, m2, m = 0.0, 0.0, 0
    reached = False
    while m < max_samples:
        x = draw()
        m += 1
        delta = x - mean
        mean += delta / m
        m2 += delta * (x - mean)
        if rel_se is not None and m >= min_samples and _se_upper(m2, m) <= rel_se * abs(
            offset + mean
        ):
            reached = True
            break
    if m > 1:
        se, sample_se = _se_upper(m2, m), math.sqrt(m2 / (m - 1) / m)
    else:
        se = sample_se = 0.0 if m == 1 and max_samples == 1 else float("nan")
    if rel_se is None:
        reached = True
    return mean, se, m, reached, sample_se


class _Probes:
    """The checked budget of a stochastic trace estimate and its probe vectors.

    Validates ``max_matvecs``, ``min_samples`` (>= 2, so a variance exists) and ``rel_se``, wraps
    ``A`` in a product counter and draws probes with :math:`E[g g^\top] = I` from ``seed``.
    """

    def __init__(
        self,
        A: Any,
        rel_se: float | None,
        max_matvecs: int,
        min_samples: int,
        distribution: str,
        seed: int | torch.Generator | None,
    ) -> None:
        self.max_matvecs = _check_positive_int(max_matvecs, "max_matvecs")
        self.min_samples = _check_positive_int(min_samples, "min_samples")
        if self.min_samples < 2:
            raise ValueError(
                f"Invalid min_samples value: {min_samples}; at least 2 probes are needed for a "
                "standard error."
            )
        self.rel_se = None if rel_se is None else _check_tol(rel_se, "rel_se")
        self.op = _Counted(A)
        self.distribution = distribution
        self.gen = _generator(seed, self.op.device)

    def vector(self) -> torch.Tensor:
        """A new probe vector (Rademacher or standard normal entries)."""
        op = self.op
        return _random_vector(op.n, self.distribution, self.gen, op.dtype, op.device)
