"""Private: Hutchinson sampling with a stopping rule on the relative standard error."""

from __future__ import annotations

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

__all__: list[str] = []


def _sample_until(
    draw: Callable[[], float],
    *,
    offset: float,
    rel_se: float | None,
    max_samples: int,
    min_samples: int,
) -> tuple[float, float, int, bool]:
    """Average ``draw()`` until ``se <= rel_se * |offset + mean|`` or ``max_samples`` draws.

    Welford's running mean and variance; the standard error is ``sd / sqrt(m)`` with the unbiased
    sample standard deviation. Returns ``(mean, se, m, reached)``; with ``rel_se=None`` exactly
    ``max_samples`` draws are taken and ``reached`` is True.
    """
    mean, m2, m = 0.0, 0.0, 0
    reached = False
    while m < max_samples:
        x = draw()
        m += 1
        delta = x - mean
        mean += delta / m
        m2 += delta * (x - mean)
        if rel_se is not None and m >= min_samples:
            se = math.sqrt(m2 / (m - 1) / m)
            if se <= rel_se * abs(offset + mean):
                reached = True
                break
    se = (
        math.sqrt(m2 / (m - 1) / m)
        if m > 1
        else (0.0 if m == 1 and max_samples == 1 else float("nan"))
    )
    if rel_se is None:
        reached = True
    return mean, se, m, reached


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
