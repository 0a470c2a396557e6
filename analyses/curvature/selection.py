"""What a curvature matrix is taken over: the selected parameters and the selected samples."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["select_parameters", "ParamSpec"]

#: A parameter selection: ``None`` (all trainable), names or prefixes, or a predicate.
ParamSpec = Sequence[str] | Callable[[str, nn.Parameter], bool] | None


def select_parameters(model: nn.Module, params: ParamSpec = None) -> list[str]:
    """Names of the parameters the curvature is taken with respect to.

    Parameters
    ----------
    model:
        The network.
    params:
        ``None``: every parameter with ``requires_grad``. A sequence of strings: each is a full
        parameter name (``"fc.weight"``) or a module prefix (``"layer1"`` selects ``layer1.*``).
        A callable ``(name, parameter) -> bool``: the parameters for which it is true.

    Returns
    -------
    list[str]
        Parameter names in the model's order (shared parameters once).
    """
    named = list(model.named_parameters())
    if params is None:
        names = [n for n, p in named if p.requires_grad]
        if not names:
            raise ValueError(
                "Invalid model: no parameter requires grad; pass params=[names or prefixes] "
                "to choose the parameters explicitly."
            )
        return names
    if callable(params):
        names = [n for n, p in named if params(n, p)]
        if not names:
            raise ValueError("Invalid params: the predicate selected no parameter of the model.")
        return names
    if isinstance(params, str):
        params = [params]
    chosen: set[str] = set()
    for spec in params:
        prefix = spec.rstrip(".")
        hits = [n for n, _ in named if n == prefix or n.startswith(prefix + ".")]
        if not hits:
            raise ValueError(
                f"Invalid params entry {spec!r}: no parameter has this name or prefix; "
                f"available: {[n for n, _ in named][:12]}{' ...' if len(named) > 12 else ''}."
            )
        chosen.update(hits)
    return [n for n, _ in named if n in chosen]


def normalise_mask(mask: Any, num_samples: int) -> torch.Tensor | None:
    """A region mask as a CPU bool tensor of shape ``(N,)`` (samples) or ``(N, ...)`` (elements)."""
    if mask is None:
        return None
    mask = torch.as_tensor(mask)
    if mask.dtype != torch.bool:
        raise ValueError(
            f"Invalid mask dtype {mask.dtype}; pass a boolean tensor (True = sample/element in the "
            "region)."
        )
    if mask.dim() == 0 or (num_samples >= 0 and mask.shape[0] != num_samples):
        raise ValueError(
            f"Invalid mask shape {tuple(mask.shape)}; it must have one entry per sample "
            f"({num_samples},) or one per target element ({num_samples}, ...)."
        )
    return mask.cpu()


def mask_indices(mask: torch.Tensor | None) -> torch.Tensor | None:
    """Sorted positions of the samples with at least one selected element (``None``: all)."""
    if mask is None:
        return None
    keep = mask if mask.dim() == 1 else mask.flatten(1).any(dim=1)
    return torch.nonzero(keep).flatten()
