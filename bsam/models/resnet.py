"""Residual networks for regression (He et al., "Deep Residual Learning for Image Recognition",
CVPR 2016), written without torchvision.

* :func:`resnet18`: the ImageNet ResNet-18 layout (7x7 stride-2 stem, max pooling, four stages
  of two basic blocks with widths 64-128-256-512), the backbone of the DIR and BSAM papers for
  224x224 inputs, with a linear regression head.
* :func:`resnet8`: a small ResNet for 32x32 inputs: a 3x3 stride-2 stem, three stages of one
  basic block with widths 16-32-64 (strides 1, 2, 2), global average pooling, linear head.

Both return an output of shape ``(N, num_outputs)`` (default ``(N, 1)``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["BasicBlock", "ResNet", "resnet18", "resnet8"]


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


def resnet18(in_channels: int = 3, num_outputs: int = 1) -> ResNet:
    """ResNet-18 for 224x224 inputs with a regression head (11.2 M parameters for RGB, 1 output).

    Stem: 7x7 convolution (stride 2, 64 channels), batch norm, ReLU, 3x3 max pooling
    (stride 2); stages of 2 basic blocks with widths 64-128-256-512 and strides 1-2-2-2.
    """
    _check_positive("in_channels", in_channels)
    _check_positive("num_outputs", num_outputs)
    stem = nn.Sequential(
        nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, stride=2, padding=1),
    )
    return ResNet(stem, (64, 128, 256, 512), (2, 2, 2, 2), (1, 2, 2, 2), num_outputs)


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
