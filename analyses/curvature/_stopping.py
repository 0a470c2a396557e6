"""Private: Hutchinson sampling with a stopping rule on the relative standard error."""

from __future__ import annotations

import math
from collections.abc import Callable

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
