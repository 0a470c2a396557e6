r"""The mean loss of a fixed set of samples as a function of a parameter perturbation.

A region :math:`\mathcal R` (a window of target bins, a shot region, any mask) with :math:`M`
selected target elements has the loss

.. math::

    L_\mathcal R(\theta + \varepsilon) = \frac1M \sum_{(n, j) \in \mathcal R}
    \ell\big(f_{\theta + \varepsilon}(x_n)_j, y_{n, j}\big),

evaluated in eval mode with :func:`torch.func.functional_call` on ``theta + eps`` (the model is
never modified), summed over batches and divided by :math:`M` once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from analyses.curvature import select_parameters
from bsam._state import eval_mode
from bsam.batches import Batches
from bsam.losses import align, get_loss

__all__: list[str] = []

Params = dict[str, torch.Tensor]


def _to_model(X: Any, y: torch.Tensor, like: torch.Tensor) -> tuple[Any, torch.Tensor]:
    if isinstance(X, torch.Tensor):
        X = X.to(like.device)
        if X.is_floating_point():
            X = X.to(like.dtype)
    return X, y.to(device=like.device, dtype=like.dtype)


def elementwise_losses(
    model: nn.Module,
    source: Batches,
    loss: str | Callable[..., torch.Tensor],
    delta: Params | None = None,
) -> torch.Tensor:
    """Loss of every target element of ``source`` at ``theta + delta`` (CPU, targets' shape)."""
    loss_fn = get_loss(loss)
    named = {n: p.detach() for n, p in model.named_parameters()}
    leaves = named if delta is None else {n: named[n] + d for n, d in delta.items()}
    like = next(iter(named.values()))
    out = []
    with torch.no_grad(), eval_mode(model):
        for _, _, X, y in source:
            X, y = _to_model(X, y, like)
            out.append(loss_fn(align(functional_call(model, leaves, (X,)), y), y).cpu())
    return torch.cat(out)


def as_batches(data: Any, batch_size: int) -> Batches:
    """``data`` itself when it is a :class:`~bsam.batches.Batches`, else one over ``data``; in
    data set order (a shuffling loader is refused)."""
    source = data if isinstance(data, Batches) else Batches(data, batch_size=batch_size)
    source.check_ordered()
    return source


def window_means(losses: torch.Tensor, masks: list[torch.Tensor]) -> list[float]:
    """Mean of ``losses`` over each mask (NaN for an empty mask)."""
    flat = losses.double()
    return [float(flat[m].mean()) if bool(m.any()) else float("nan") for m in masks]


class RegionLoss:
    """:math:`L_\\mathcal R(\\theta + \\varepsilon)` and its gradient for one region of ``data``.

    The region's batches are read once (``Batches.subset``) and kept on the model's device.
    """

    def __init__(
        self,
        model: nn.Module,
        source: Batches,
        mask: torch.Tensor | None,
        *,
        loss: str | Callable[..., torch.Tensor] = "l1",
        params: Any = None,
    ) -> None:
        self.model = model
        self._loss_fn = get_loss(loss)
        self.param_names = select_parameters(model, params)
        named = dict(model.named_parameters())
        self.theta: Params = {n: named[n].detach() for n in self.param_names}
        like = next(iter(self.theta.values()))
        n = source.num_samples
        if mask is None:
            mask = torch.ones(n, dtype=torch.bool)
        mask = torch.as_tensor(mask, dtype=torch.bool).cpu()
        per_sample = mask if mask.dim() == 1 else mask.reshape(n, -1).any(dim=1)
        indices = torch.nonzero(per_sample).flatten()
        if indices.numel() == 0:
            raise ValueError(
                "Invalid mask: it selects no sample (empty region); give a window with at "
                "least one sample (raise min_samples or drop the bin)."
            )
        self._batches = []
        for X, y, idx in source.subset(indices):
            X, y = _to_model(X, y, like)
            m = None if mask.dim() == 1 else mask[idx].to(like.device)
            self._batches.append((X, y, m))
        self.num_elements = int(
            sum(y.numel() if m is None else int(m.sum()) for _, y, m in self._batches)
        )

    def _sum(self, leaves: Params) -> torch.Tensor:
        total = torch.zeros((), dtype=next(iter(leaves.values())).dtype)
        for X, y, m in self._batches:
            ell = self._loss_fn(align(functional_call(self.model, leaves, (X,)), y), y)
            if m is not None:
                ell = torch.where(m, ell, torch.zeros_like(ell))
            total = total + ell.sum().to(total.device)
        return total

    def value(self, delta: Params | None = None) -> float:
        """:math:`L_\\mathcal R(\\theta + \\delta)` (``None``: at :math:`\\theta`)."""
        leaves = self.theta if delta is None else {n: t + delta[n] for n, t in self.theta.items()}
        with torch.no_grad(), eval_mode(self.model):
            return float(self._sum(leaves)) / self.num_elements

    def value_and_grad(self, delta: Params | None = None) -> tuple[float, Params]:
        """:math:`L_\\mathcal R(\\theta + \\delta)` and its gradient in :math:`\\theta`."""
        leaves = {
            n: (t if delta is None else t + delta[n]).detach().requires_grad_(True)
            for n, t in self.theta.items()
        }
        with torch.enable_grad(), eval_mode(self.model):
            total = self._sum(leaves) / self.num_elements
            grads = torch.autograd.grad(total, list(leaves.values()), allow_unused=True)
        out = {
            n: torch.zeros_like(t) if g is None else g
            for (n, t), g in zip(self.theta.items(), grads)
        }
        return float(total.detach()), out
