r"""Average-case sharpness: the loss rise along filter-normalized random directions.

For :math:`K` directions :math:`d_k` (:func:`landscape.random_directions`, filter-normalized,
biases and norm layers zeroed by default; seeds ``seed, seed + 1, ...``) and a radius :math:`r`,

.. math::

    S^{\text{avg}}_\mathcal R = \frac1K \sum_{k=1}^K
    \big[L_\mathcal R(\theta + r\, d_k) - L_\mathcal R(\theta)\big],

with the spread (sample standard deviation over the directions) and the standard error
(spread / :math:`\sqrt K`). The loss of every target element of the split is computed once per
direction and reduced into every region, so a profile over all bins costs :math:`K + 1` passes
over the split.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from analyses.sharpness._region import as_batches, elementwise_losses, window_means
from bsam._state import preserved

__all__ = ["AverageSharpness", "average_sharpness"]


@dataclass
class AverageSharpness:
    """Average-case sharpness of one region.

    Attributes
    ----------
    value:
        Mean loss rise over the directions.
    std_error:
        Standard deviation over the directions divided by :math:`\\sqrt K` (NaN for ``K = 1``).
    spread:
        Standard deviation of the rise over the directions.
    rises:
        The rise along each direction.
    """

    value: float
    std_error: float
    spread: float
    rises: list[float]


def _check(radius: float, num_directions: int) -> None:
    if not isinstance(radius, (int, float)) or isinstance(radius, bool) or not radius > 0:
        raise ValueError(f"Invalid radius value: {radius!r}; it must be a number > 0.")
    if (
        isinstance(num_directions, bool)
        or not isinstance(num_directions, int)
        or num_directions < 1
    ):
        raise ValueError(
            f"Invalid num_directions value: {num_directions!r}; it must be an int >= 1."
        )


def average_sharpness(
    model: nn.Module,
    data: Any,
    masks: Sequence[torch.Tensor | None],
    *,
    loss: str | Callable[..., torch.Tensor] = "l1",
    radius: float = 0.5,
    num_directions: int = 8,
    seed: int = 0,
    norm: str = "filter",
    ignore_1d: bool = True,
    batch_size: int = 256,
) -> list[AverageSharpness]:
    r"""Average-case sharpness :math:`S^{\text{avg}}` of each region in ``masks``.

    Parameters
    ----------
    model:
        The network at :math:`\theta`; evaluated in eval mode, never modified.
    data:
        The split (anything :class:`bsam.batches.Batches` reads), in a fixed order.
    masks:
        One boolean mask per region over the split's targets (``None``: every element).
    loss:
        Element-wise loss (``"l1"``, ``"mse"``, ``"huber"`` or a callable).
    radius:
        :math:`r`, in units of the normalized direction (1 = one filter norm).
    num_directions:
        :math:`K`.
    seed:
        Direction :math:`k` is drawn with seed ``seed + k``.
    norm, ignore_1d:
        As for :func:`landscape.random_directions`.
    batch_size:
        Samples per forward pass.

    Returns
    -------
    list[AverageSharpness]
        One per mask, in order.
    """
    from landscape import random_directions

    _check(radius, num_directions)
    source = as_batches(data, batch_size)
    targets = source.targets
    full = [torch.ones(targets.shape, dtype=torch.bool) if m is None else m.cpu() for m in masks]
    names = [n for n, _ in model.named_parameters()]
    with preserved(model):
        base = window_means(elementwise_losses(model, source, loss), full)
        rises = []
        for k in range(num_directions):
            d = random_directions(model, seed=seed + k, dims=1, norm=norm, ignore_1d=ignore_1d)
            delta = {n: radius * t for n, t in zip(names, d.x)}
            at = window_means(elementwise_losses(model, source, loss, delta), full)
            rises.append([a - b for a, b in zip(at, base)])
    table = torch.tensor(rises, dtype=torch.float64)  # (K, regions)
    spread = table.std(dim=0) if num_directions > 1 else torch.full((len(full),), float("nan"))
    return [
        AverageSharpness(
            float(table[:, j].mean()),
            float(spread[j]) / num_directions**0.5,
            float(spread[j]),
            table[:, j].tolist(),
        )
        for j in range(len(full))
    ]
