r"""Worst-case :math:`\rho`-sharpness by projected gradient ascent, and its adaptive variant.

The quantity SAM and BSAM minimise, for a region :math:`\mathcal R`,

.. math::

    S^{\rho}_\mathcal R = \max_{\|T^{-1}\varepsilon\|_2 \le \rho}
    L_\mathcal R(\theta + \varepsilon) - L_\mathcal R(\theta),

with :math:`T = I` (SAM) or, for the adaptive, scale-invariant variant (ASAM, Kwon et al., ICML
2021), :math:`T = \mathrm{diag}(|\theta| + \eta)`, so the constraint reads
:math:`\|\varepsilon / (|\theta| + \eta)\| \le \rho` (:math:`\eta = 0`: ``||eps / |theta| ||``).
Writing :math:`\varepsilon = T u`, projected gradient ascent on the ball :math:`\|u\| \le \rho`:

.. math::

    u_0 = \rho\, \frac{T g_0}{\|T g_0\|}, \qquad
    u_{t+1} = \Pi_\rho\!\Big(u_t + \alpha\, \rho\, \frac{T g_t}{\|T g_t\|}\Big),
    \qquad g_t = \nabla L_\mathcal R(\theta + T u_t),

where :math:`u_0` is SAM's (ASAM's) first-order perturbation, :math:`\Pi_\rho` the projection
onto the ball and :math:`\alpha` the step (in units of :math:`\rho`, default 0.5, halved each
time a step lowers the loss). The estimate is the largest rise seen over ``steps`` ascent steps.
Every evaluated point is feasible, so it is a **lower bound** of :math:`S^\rho` (the maximum
itself is NP-hard in general); ``steps=0`` gives SAM's one-step value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from analyses.sharpness._region import RegionLoss, as_batches
from bsam._state import preserved

__all__ = ["WorstCaseSharpness", "worst_case_sharpness"]


@dataclass
class WorstCaseSharpness:
    """Worst-case :math:`\\rho`-sharpness of one region (a lower bound, see the module).

    Attributes
    ----------
    value:
        Largest rise :math:`L(\\theta + \\varepsilon) - L(\\theta)` found (a lower bound).
    last_gain:
        How much the last ascent step raised ``value`` (0 once converged; a convergence
        indicator, not an error bound).
    first_order:
        The rise at SAM's (ASAM's) first-order perturbation :math:`u_0`.
    history:
        The rise after each evaluation.
    steps, rho, adaptive, eta:
        The settings.
    """

    value: float
    last_gain: float
    first_order: float
    history: list[float]
    steps: int
    rho: float
    adaptive: bool
    eta: float


def _dot(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return float(sum((a[n].double() * b[n].double()).sum() for n in a))


def _check(rho: float, steps: int, step_size: float, eta: float) -> None:
    for name, value in (("rho", rho), ("step_size", step_size)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
            raise ValueError(f"Invalid {name} value: {value!r}; it must be a number > 0.")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"Invalid steps value: {steps!r}; it must be an int >= 0.")
    if not isinstance(eta, (int, float)) or isinstance(eta, bool) or eta < 0:
        raise ValueError(f"Invalid eta value: {eta!r}; it must be a number >= 0.")


def worst_case_sharpness(
    model: nn.Module,
    data: Any,
    *,
    mask: torch.Tensor | None = None,
    loss: str | Callable[..., torch.Tensor] = "l1",
    rho: float = 0.05,
    steps: int = 10,
    step_size: float = 0.5,
    adaptive: bool = False,
    eta: float = 0.0,
    params: Any = None,
    batch_size: int = 256,
) -> WorstCaseSharpness:
    r"""Lower bound of the worst-case :math:`\rho`-sharpness of one region by ascent.

    Parameters
    ----------
    model:
        The network at :math:`\theta`; evaluated in eval mode, never modified.
    data:
        The split (anything :class:`bsam.batches.Batches` reads).
    mask:
        Boolean mask of the region over the split's targets (``None``: all).
    loss:
        Element-wise loss.
    rho:
        Radius :math:`\rho` of the ball.
    steps:
        Ascent steps after the first-order start (each one gradient and one loss evaluation).
    step_size:
        :math:`\alpha`, in units of :math:`\rho`.
    adaptive, eta:
        Use :math:`T = \mathrm{diag}(|\theta| + \eta)` (ASAM) instead of :math:`T = I`.
    params:
        Parameters perturbed (see :func:`analyses.curvature.select_parameters`; default all).
    batch_size:
        Samples per forward pass.

    Returns
    -------
    WorstCaseSharpness
    """
    _check(rho, steps, step_size, eta)
    source = as_batches(data, batch_size)
    with preserved(model):
        region = RegionLoss(model, source, mask, loss=loss, params=params)
        theta = region.theta
        scale = {n: (t.abs() + eta) if adaptive else torch.ones_like(t) for n, t in theta.items()}
        base, g = region.value_and_grad()

        def direction(grad: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            tg = {n: scale[n] * grad[n] for n in grad}
            norm = _dot(tg, tg) ** 0.5
            return {n: t / norm for n, t in tg.items()} if norm > 0 else tg

        u = {n: rho * t for n, t in direction(g).items()}
        history: list[float] = []
        alpha = float(step_size)
        value, g = region.value_and_grad({n: scale[n] * u[n] for n in u})
        history.append(value - base)
        for _ in range(steps):
            d = direction(g)
            trial = {n: u[n] + alpha * rho * d[n] for n in u}
            norm = _dot(trial, trial) ** 0.5
            if norm > rho:
                trial = {n: t * (rho / norm) for n, t in trial.items()}
            new, g_new = region.value_and_grad({n: scale[n] * trial[n] for n in trial})
            history.append(new - base)
            if new >= value:
                u, value, g = trial, new, g_new
            else:
                alpha /= 2
    best = max(history)
    gain = best - max(history[:-1]) if len(history) > 1 else 0.0
    return WorstCaseSharpness(
        best, max(gain, 0.0), history[0], history, steps, float(rho), bool(adaptive), float(eta)
    )
