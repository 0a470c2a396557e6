"""Scaling a direction to the weights it perturbs (Li et al., NeurIPS 2018, section 4).

A direction :math:`d` is a list of tensors aligned with the model's tensors :math:`w`. The
normalizations:

``"filter"`` (default)
    For a tensor with more than one dimension, every slice along dim 0 (a filter of a conv layer,
    a row/neuron of a linear layer) is rescaled to the norm of the matching weight slice,
    :math:`d_{i} \\leftarrow d_{i} \\, \\lVert w_{i} \\rVert / \\lVert d_{i} \\rVert`.
``"layer"``
    Every tensor as a whole: :math:`d \\leftarrow d \\, \\lVert w \\rVert / \\lVert d \\rVert`.
``"model"``
    The whole direction at once, to the norm of all the weights it perturbs.
``"none"``
    The raw direction.

Tensors with one or fewer dimensions (biases, BatchNorm affine parameters and running statistics)
are zeroed when ``ignore_1d`` is true (loss-landscape's ``--xignore biasbn``). Otherwise they are
normalized like the others; under ``"filter"`` each element is its own slice, so
:math:`|d_i| = |w_i|` with the random sign of :math:`d_i`. Non-floating tensors (such as
``num_batches_tracked``) are never perturbed.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["NORMS", "normalize_direction", "check_norm"]

#: The available normalizations.
NORMS: tuple[str, ...] = ("filter", "layer", "model", "none")


def check_norm(norm: str) -> str:
    """Return ``norm`` when it names a normalization, else raise ``ValueError``."""
    if norm not in NORMS:
        raise ValueError(f"Invalid norm {norm!r}; choose one of {list(NORMS)}.")
    return norm


def _ratio(target: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
    # target / current where current > 0, else 0 (a zero slice of the direction stays zero).
    safe = torch.where(current > 0, current, torch.ones_like(current))
    return torch.where(current > 0, target / safe, torch.zeros_like(current))


def _filter_scale(d: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    if d.dim() == 0:
        return d.sign() * w.abs()
    dn = d.reshape(d.shape[0], -1).norm(dim=1)
    wn = w.reshape(w.shape[0], -1).norm(dim=1)
    shape = (d.shape[0],) + (1,) * (d.dim() - 1)
    return d * _ratio(wn, dn).reshape(shape)


def normalize_direction(
    direction: Sequence[torch.Tensor],
    weights: Sequence[torch.Tensor],
    *,
    norm: str = "filter",
    ignore_1d: bool = True,
) -> list[torch.Tensor]:
    """Return ``direction`` scaled to ``weights`` by the normalization ``norm``.

    Parameters
    ----------
    direction:
        One tensor per model tensor (same shapes as ``weights``).
    weights:
        The model's tensors at the centre point :math:`\\theta`.
    norm:
        ``"filter"``, ``"layer"``, ``"model"`` or ``"none"`` (see the module docstring).
    ignore_1d:
        Zero the direction on tensors with ``dim() <= 1`` (biases and norm layers).

    Returns
    -------
    list of torch.Tensor
        New tensors; the inputs are not modified.
    """
    check_norm(norm)
    if len(direction) != len(weights):
        raise ValueError(
            f"direction has {len(direction)} tensors but weights has {len(weights)}; "
            "they must be aligned one to one."
        )
    out: list[torch.Tensor] = []
    included: list[bool] = []
    for i, (d, w) in enumerate(zip(direction, weights)):
        if d.shape != w.shape:
            raise ValueError(
                f"direction tensor {i} has shape {tuple(d.shape)} but the weight has "
                f"{tuple(w.shape)}; the direction does not belong to this model."
            )
        use = w.is_floating_point() and not (ignore_1d and w.dim() <= 1)
        included.append(use)
        if not use:
            out.append(torch.zeros_like(w))
            continue
        d = d.detach().to(dtype=w.dtype, device=w.device)
        w = w.detach()
        if norm == "filter":
            d = _filter_scale(d, w)
        elif norm == "layer":
            d = d * _ratio(w.norm(), d.norm())
        else:
            d = d.clone()
        out.append(d)
    if norm == "model":
        kept = [i for i, use in enumerate(included) if use]
        if kept:
            dn = torch.stack([out[i].double().norm() for i in kept]).norm()
            wn = torch.stack([weights[i].detach().double().norm() for i in kept]).norm()
            scale = float(_ratio(wn, dn))
            out = [t * scale if use else t for t, use in zip(out, included)]
    return out
