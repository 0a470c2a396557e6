"""Residual networks for regression (He et al., "Deep Residual Learning for Image Recognition",
CVPR 2016).

* :func:`resnet18`, :func:`resnet50`: torchvision's ImageNet ResNets with the classifier replaced
  by a linear regression head (``num_outputs``, default 1): the ``SupResNet`` of Rank-N-Contrast
  (Zha et al., NeurIPS 2023; github.com/kaiwenzha/Rank-N-Contrast ``model.py``: an ImageNet
  ResNet encoder, 512 / 2048 pooled features, then ``nn.Linear(dim, 1)``), which the BSAM code
  trains on AgeDB-DIR and IMDB-WIKI-DIR. From scratch by default; ``weights="imagenet"`` or a
  ``.pth`` path loads ImageNet weights (:mod:`bsam.models.pretrained`).
* :func:`resnet8`: a small ResNet for 32x32 inputs written here (the embedded CPU benchmark):
  a 3x3 stride-2 stem, three stages of one basic block with widths 16-32-64 (strides 1, 2, 2),
  global average pooling, linear head.

All return an output of shape ``(N, num_outputs)``. Checkpoints of the hand-written ResNet-18
this module held before (keys ``stem.*``, ``stages.*``, ``shortcut.*``) load into
:func:`resnet18` unchanged: the architecture is the same layer for layer, and a load hook renames
the keys (:func:`legacy_resnet18_keys`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["BasicBlock", "ResNet", "resnet18", "resnet50", "resnet8", "legacy_resnet18_keys"]


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity (or 1x1 projection) shortcut:
    ``y = relu(bn(conv(relu(bn(conv(x))))) + shortcut(x))``."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """A ResNet of basic blocks with a linear regression head.

    Parameters
    ----------
    stem : nn.Module
        Input stem (maps ``in_channels`` to ``widths[0]`` channels).
    widths : sequence of int
        Channels of each stage.
    blocks : sequence of int
        Basic blocks per stage.
    strides : sequence of int
        Stride of the first block of each stage.
    num_outputs : int
        Outputs of the linear head.
    """

    def __init__(
        self,
        stem: nn.Module,
        widths: Sequence[int],
        blocks: Sequence[int],
        strides: Sequence[int],
        num_outputs: int = 1,
    ) -> None:
        super().__init__()
        if not len(widths) == len(blocks) == len(strides):
            raise ValueError(
                f"widths {list(widths)}, blocks {list(blocks)} and strides {list(strides)} "
                "must have the same length (one entry per stage)."
            )
        self.stem = stem
        stages = []
        in_ch = widths[0]
        for width, count, stride in zip(widths, blocks, strides):
            layers = [BasicBlock(in_ch, width, stride)]
            layers += [BasicBlock(width, width, 1) for _ in range(count - 1)]
            stages.append(nn.Sequential(*layers))
            in_ch = width
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_ch, num_outputs)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled penultimate features, shape ``(N, widths[-1])``."""
        return torch.flatten(self.pool(self.stages(self.stem(x))), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predictions, shape ``(N, num_outputs)``."""
        return self.fc(self.features(x))


def _check_positive(name: str, value: int) -> None:
    if int(value) < 1:
        raise ValueError(f"Invalid {name} {value}; {name} must be >= 1.")


def resnet8(
    in_channels: int = 3, num_outputs: int = 1, widths: Sequence[int] = (16, 32, 64)
) -> ResNet:
    """Small ResNet for 32x32 inputs (78 k parameters with the default widths).

    Stem: 3x3 convolution with stride 2 (32 -> 16 pixels), batch norm, ReLU; three stages of one
    basic block with ``widths`` (default 16-32-64) and strides 1-2-2; global average pooling and
    a linear head.
    """
    _check_positive("in_channels", in_channels)
    _check_positive("num_outputs", num_outputs)
    widths = tuple(int(w) for w in widths)
    if len(widths) != 3 or min(widths) < 1:
        raise ValueError(f"Invalid widths {widths}; give three positive channel counts.")
    stem = nn.Sequential(
        nn.Conv2d(in_channels, widths[0], 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(widths[0]),
        nn.ReLU(inplace=True),
    )
    return ResNet(stem, widths, (1, 1, 1), (1, 2, 2), num_outputs)


def resnet18(
    in_channels: int = 3, num_outputs: int = 1, weights: str | Path | None = None
) -> nn.Module:
    """torchvision's ResNet-18 (11.2 M parameters for RGB, 1 output) with a linear regression head.

    Stem: 7x7 convolution (stride 2, 64 channels), batch norm, ReLU, 3x3 max pooling (stride 2);
    stages of 2 basic blocks with widths 64-128-256-512 and strides 1-2-2-2; global average
    pooling; ``Linear(512, num_outputs)``.

    Parameters
    ----------
    in_channels : int
        Input channels (3; another count replaces the stem convolution, so ImageNet weights
        need 3).
    num_outputs : int
        Outputs of the head.
    weights : {None, "imagenet"} or path
        ``None``: from scratch (Kaiming-normal convolutions); ``"imagenet"``: torchvision's
        ``IMAGENET1K_V1`` file from the torch hub cache; a path: that ``.pth`` state dict. The
        head stays freshly initialised unless the file holds one of the right shape.
    """
    return _torchvision_resnet("resnet18", in_channels, num_outputs, weights)


def resnet50(
    in_channels: int = 3, num_outputs: int = 1, weights: str | Path | None = None
) -> nn.Module:
    """torchvision's ResNet-50 (bottleneck blocks 3-4-6-3, 2048 pooled features, 23.5 M
    parameters for RGB, 1 output) with ``Linear(2048, num_outputs)``; see :func:`resnet18` for
    the parameters."""
    return _torchvision_resnet("resnet50", in_channels, num_outputs, weights)


def _torchvision_resnet(
    arch: str, in_channels: int, num_outputs: int, weights: str | Path | None
) -> nn.Module:
    """torchvision's ``arch`` with ``num_outputs`` outputs, ``in_channels`` inputs and ``weights``."""
    from bsam.models.pretrained import load_pretrained
    from bsam.vision import import_torchvision

    _check_positive("in_channels", in_channels)
    _check_positive("num_outputs", num_outputs)
    model = getattr(import_torchvision().models, arch)(weights=None, num_classes=int(num_outputs))
    if int(in_channels) != 3:
        model.conv1 = nn.Conv2d(int(in_channels), 64, 7, stride=2, padding=3, bias=False)
        nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    if arch == "resnet18":
        model.register_load_state_dict_pre_hook(_rename_legacy_keys)
    if weights is not None:
        load_pretrained(model, weights, arch=arch)
    return model


_LEGACY_STAGE = re.compile(r"^stages\.(\d+)\.(\d+)\.(.*)$")


def legacy_resnet18_keys(state: Mapping[str, Any]) -> dict[str, Any]:
    """Rename the keys of a state dict of the hand-written ResNet-18 to torchvision's names.

    ``stem.0`` -> ``conv1``, ``stem.1`` -> ``bn1``, ``stages.k.j.X`` -> ``layer{k+1}.j.X`` with
    ``shortcut`` -> ``downsample``; ``fc`` stays. Keys already in torchvision's names pass through.
    """
    out: dict[str, Any] = {}
    for key, value in state.items():
        new = key
        if key.startswith("stem.0."):
            new = "conv1." + key[len("stem.0.") :]
        elif key.startswith("stem.1."):
            new = "bn1." + key[len("stem.1.") :]
        else:
            match = _LEGACY_STAGE.match(key)
            if match:
                stage, block, rest = match.groups()
                rest = rest.replace("shortcut.", "downsample.", 1)
                new = f"layer{int(stage) + 1}.{block}.{rest}"
        out[new] = value
    return out


def _rename_legacy_keys(module: nn.Module, state_dict: dict, prefix: str, *_: Any) -> None:
    """``load_state_dict`` pre-hook: rename legacy ResNet-18 keys in place (see above)."""
    legacy = [k for k in state_dict if k.startswith(prefix + "stem.") or k.startswith(prefix + "stages.")]
    if not legacy:
        return
    values = {k[len(prefix) :]: state_dict.pop(k) for k in legacy}
    for key, value in legacy_resnet18_keys(values).items():
        state_dict[prefix + key] = value
