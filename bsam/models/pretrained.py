"""ImageNet weights for the torchvision backbones, from a local file only (never a download).

``weights="imagenet"`` looks for torchvision's ``IMAGENET1K_V1`` file of the architecture in the
torch hub cache (``torch.hub.get_dir()/checkpoints/<file>``, where ``torchvision.models`` would
have saved it); ``weights=<path>`` reads that ``.pth`` file. Either is a state dict of the
torchvision model (``torch.load(..., weights_only=True)``); a dict holding it under
``"state_dict"`` or ``"model"`` works too. The backbone is loaded strictly; the ImageNet
classifier (``fc``, 1000 outputs) is dropped, so the regression head keeps its fresh
initialisation, unless the file's ``fc`` has the head's shape (a file written from this
project's own model).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["IMAGENET_FILES", "imagenet_file", "load_pretrained"]

#: Architecture -> (file name in the torch hub cache, download URL) of torchvision's
#: ``IMAGENET1K_V1`` weights (``torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url``, ...).
IMAGENET_FILES: dict[str, tuple[str, str]] = {
    "resnet18": ("resnet18-f37072fd.pth", "https://download.pytorch.org/models/resnet18-f37072fd.pth"),
    "resnet50": ("resnet50-0676ba61.pth", "https://download.pytorch.org/models/resnet50-0676ba61.pth"),
}

_HEAD = "fc."


def imagenet_file(arch: str) -> Path:
    """Where torchvision caches the ImageNet weights of ``arch`` (the file may not exist)."""
    if arch not in IMAGENET_FILES:
        raise ValueError(
            f"Invalid arch {arch!r} for weights='imagenet'; known: {sorted(IMAGENET_FILES)}"
        )
    return Path(torch.hub.get_dir()) / "checkpoints" / IMAGENET_FILES[arch][0]


def _resolve(weights: str | os.PathLike, arch: str) -> Path:
    """The file ``weights`` names (``"imagenet"``: the cache file), refusing a missing one."""
    if str(weights) == "imagenet":
        path = imagenet_file(arch)
        if not path.is_file():
            name, url = IMAGENET_FILES[arch]
            raise FileNotFoundError(
                f"ImageNet weights for {arch} not found at {path}; download {url} to that path "
                f"(or anywhere, and pass weights=<path to {name}>); nothing is downloaded for you"
            )
        return path
    path = Path(weights).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"Weights file {path} not found; pass weights='imagenet' (torchvision's cache) or "
            "the path of an existing .pth state dict"
        )
    return path


def _state_dict(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    """The state dict held by a loaded weights file."""
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"Invalid weights file {path}: it holds no state dict of tensors")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def load_pretrained(model: nn.Module, weights: str | os.PathLike, *, arch: str) -> nn.Module:
    """Load ``weights`` (``"imagenet"`` or a ``.pth`` path) into the torchvision ``model``.

    Every parameter and buffer outside the head ``fc`` must be in the file with its shape; the
    head is loaded only when the file's ``fc`` matches it in shape.

    Raises
    ------
    FileNotFoundError
        When the file is missing: names the path, and for ``"imagenet"`` the URL to put there.
    ValueError
        When the file holds no state dict, or its backbone does not fit ``model``.
    """
    path = _resolve(weights, arch)
    state = _state_dict(torch.load(path, map_location="cpu", weights_only=True), path)
    own = model.state_dict()
    head = {k: v for k, v in state.items() if k.startswith(_HEAD)}
    if any(k not in own or own[k].shape != v.shape for k, v in head.items()):
        head = {}
    backbone = {k: v for k, v in state.items() if not k.startswith(_HEAD)}
    try:
        missing, unexpected = model.load_state_dict({**backbone, **head}, strict=False)
    except RuntimeError as err:  # shape mismatch
        first = str(err).strip().splitlines()[-1].strip()
        raise ValueError(f"Weights file {path} does not fit {arch}: {first}") from None
    missing = [k for k in missing if not k.startswith(_HEAD)]
    if missing or unexpected:
        shown = (missing + list(unexpected))[:3]
        raise ValueError(
            f"Weights file {path} does not fit {arch}: {len(missing)} missing and "
            f"{len(unexpected)} unexpected key(s) (e.g. {shown}); pass a state dict of "
            f"torchvision's {arch}"
        )
    return model
