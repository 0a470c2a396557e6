"""Regression losses with per-element output, and the balance-weighted mean.

Every loss takes ``(pred, target, reduction)``; ``reduction="none"`` returns the loss of every
target element with the target's shape (one value per sample for scalar targets, per pixel for
dense maps), ``"mean"`` and ``"sum"`` reduce over all elements.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = [
    "l1_loss",
    "mse_loss",
    "huber_loss",
    "LOSSES",
    "get_loss",
    "align",
    "weighted_mean",
    "per_sample",
]

_REDUCTIONS = ("none", "mean", "sum")


def align(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Reshape ``pred`` to ``target``'s shape when they hold the same elements per sample.

    A model with one output gives ``(N, 1)`` for targets of shape ``(N,)``; a depth network may give
    ``(N, 1, H, W)`` for ``(N, H, W)``. Anything else is refused rather than broadcast silently.
    """
    if pred.shape == target.shape:
        return pred
    if pred.numel() == target.numel() and pred.shape[:1] == target.shape[:1]:
        return pred.reshape(target.shape)
    raise ValueError(
        f"Prediction shape {tuple(pred.shape)} does not match target shape {tuple(target.shape)}; "
        "the model must output one value per target element (e.g. (N, 1) for targets (N,))."
    )


def _reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    raise ValueError(f"Invalid reduction {reduction!r}; choose from {list(_REDUCTIONS)}.")


def l1_loss(pred: torch.Tensor, target: torch.Tensor, reduction: str = "none") -> torch.Tensor:
    """Absolute error :math:`|\\hat y - y|` per element."""
    return _reduce((align(pred, target) - target).abs(), reduction)


def mse_loss(pred: torch.Tensor, target: torch.Tensor, reduction: str = "none") -> torch.Tensor:
    """Squared error :math:`(\\hat y - y)^2` per element."""
    return _reduce((align(pred, target) - target).square(), reduction)


def huber_loss(
    pred: torch.Tensor, target: torch.Tensor, reduction: str = "none", delta: float = 1.0
) -> torch.Tensor:
    """Huber loss per element: :math:`r^2/2` for :math:`|r| \\le \\delta`, else :math:`\\delta(|r| - \\delta/2)`."""
    if not delta > 0:
        raise ValueError(f"Invalid Huber delta={delta!r}; it must be > 0.")
    r = (align(pred, target) - target).abs()
    loss = torch.where(r <= delta, 0.5 * r.square(), delta * (r - 0.5 * delta))
    return _reduce(loss, reduction)


LossFn = Callable[..., torch.Tensor]

#: Registry of the regression losses by name.
LOSSES: dict[str, LossFn] = {"l1": l1_loss, "mse": mse_loss, "huber": huber_loss}


def get_loss(loss: str | LossFn) -> LossFn:
    """Return the loss function named ``loss`` (or ``loss`` itself when it is callable)."""
    if callable(loss):
        return loss
    try:
        return LOSSES[loss]
    except KeyError:
        raise ValueError(f"Unknown loss {loss!r}; choose from {sorted(LOSSES)} or pass a callable.") from None


def weighted_mean(elementwise: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Balance-weighted mean :math:`\\frac1N \\sum_i w_i \\ell_i` over all elements.

    The normaliser is the element count ``N``, not :math:`\\sum_i w_i`, as in the DIR and BSAM code:
    with weights rescaled to mean 1 over the training set the two agree on average.
    """
    if weights is None:
        return elementwise.mean()
    if weights.shape != elementwise.shape:
        raise ValueError(
            f"weights shape {tuple(weights.shape)} does not match the loss shape "
            f"{tuple(elementwise.shape)}; pass one weight per target element."
        )
    return (elementwise * weights).mean()


def per_sample(elementwise: torch.Tensor) -> torch.Tensor:
    """Mean loss of each sample: reduce every dimension but the first."""
    if elementwise.dim() <= 1:
        return elementwise
    return elementwise.flatten(1).mean(dim=1)
