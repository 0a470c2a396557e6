"""Registry of model builders; any ``nn.Module`` works with the rest of the toolkit too."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from torch import nn

from bsam.models.depth import nyud2_resnet50
from bsam.models.mlp import mlp
from bsam.models.resnet import resnet8, resnet18, resnet50

__all__ = ["MODELS", "register_model", "build_model"]

#: Model name -> builder ``(**kwargs) -> nn.Module``.
MODELS: dict[str, Callable[..., nn.Module]] = {
    "resnet18": resnet18,
    "resnet50": resnet50,
    "resnet8": resnet8,
    "mlp": mlp,
    "nyud2-resnet50": nyud2_resnet50,
}


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator adding a builder to :data:`MODELS` under ``name``."""

    def deco(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in MODELS:
            raise ValueError(f"Model {name!r} is already registered.")
        MODELS[name] = builder
        return builder

    return deco


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the registered model ``name`` with keyword arguments ``kwargs``.

    Raises
    ------
    ValueError
        When ``name`` is not registered, or ``kwargs`` holds a key the builder does not
        accept (the message lists the accepted keys).

    Examples
    --------
    >>> build_model("resnet8")(__import__("torch").zeros(2, 3, 32, 32)).shape
    torch.Size([2, 1])
    """
    if name not in MODELS:
        raise ValueError(f"Unknown model {name!r}; choose from {sorted(MODELS)}.")
    builder = MODELS[name]
    accepted = _keyword_names(builder)
    unknown = sorted(set(kwargs) - accepted) if accepted is not None else []
    if unknown:
        raise ValueError(
            f"Unknown option(s) {unknown} for model {name!r} (--model-kwargs); accepted keys: "
            f"{sorted(accepted or ())}"
        )
    return builder(**kwargs)


def _keyword_names(builder: Callable[..., nn.Module]) -> set[str] | None:
    """The keyword arguments ``builder`` accepts, or ``None`` when it takes ``**kwargs``."""
    try:
        params = inspect.signature(builder).parameters.values()
    except (TypeError, ValueError):  # a builtin or C callable: let it check its own arguments
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {p.name for p in params if p.kind in kinds}
