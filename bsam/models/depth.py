"""The monocular depth network of NYUD2-DIR: Hu et al. (WACV 2019), ResNet-50 encoder-decoder.

Architecture as in ``nyud2-dir/models/{modules,net}.py`` of the DIR code
(github.com/YyzHarry/imbalanced-regression), itself from Hu et al., "Revisiting Single Image
Depth Estimation" (2019):

- **E**: a torchvision ResNet's stem and ``layer1..4`` (blocks of 256, 512, 1024, 2048 channels
  at strides 4, 8, 16, 32 for ResNet-50);
- **D**: 1x1 conv to half the channels, then four up-projections, each halving the channels
  and upsampling to the next block's size, the last to twice the size of block 1 (stride 2);
- **MFF**: each block up-projected to 16 channels at D's output size, concatenated (64),
  a 5x5 conv + BN + ReLU;
- **R**: on ``cat(D, MFF)``, two 5x5 conv + BN + ReLU and a 5x5 conv to one channel.

An *up-projection* upsamples bilinearly (``F.upsample``'s default, ``align_corners=False``) and
sums two branches, ``BN(conv3x3(ReLU(BN(conv5x5(x)))))`` and ``BN(conv5x5(x))``, then a ReLU.

The output has half the input's resolution, which is the training depth size (228x304 images,
114x152 depth). In eval mode the prediction is upsampled bilinearly with
``align_corners=True`` to the input's size, as DIR's ``test.py`` does before comparing with the
228x304 test depth (``upsample_eval=False`` keeps the half-resolution output).
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DepthNet", "UpProjection", "nyud2_resnet50", "BACKBONES"]

#: torchvision ResNets usable as the encoder, with their block channels.
BACKBONES: dict[str, tuple[int, int, int, int]] = {
    "resnet50": (256, 512, 1024, 2048),
    "resnet34": (64, 128, 256, 512),
    "resnet18": (64, 128, 256, 512),
}


class UpProjection(nn.Module):
    """Up-projection of Laina et al. (2016) as used by Hu et al.: upsample, two conv branches."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 5, padding=2, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv1_2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn1_2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(in_channels, out_channels, 5, padding=2, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """``ReLU(branch1 + branch2)`` of ``x`` upsampled to ``size``."""
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        branch1 = self.bn1_2(self.conv1_2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(branch1 + self.bn2(self.conv2(x)))


class _Encoder(nn.Module):
    """The stem and ``layer1..4`` of a torchvision ResNet; returns the four block outputs."""

    def __init__(self, resnet: nn.Module) -> None:
        super().__init__()
        self.conv1, self.bn1, self.relu = resnet.conv1, resnet.bn1, resnet.relu
        self.maxpool = resnet.maxpool
        self.layer1, self.layer2 = resnet.layer1, resnet.layer2
        self.layer3, self.layer4 = resnet.layer3, resnet.layer4

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        b1 = self.layer1(x)
        b2 = self.layer2(b1)
        b3 = self.layer3(b2)
        return b1, b2, b3, self.layer4(b3)


class _Decoder(nn.Module):
    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(features, features // 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(features // 2)
        c = features // 2
        self.up1, self.up2 = UpProjection(c, c // 2), UpProjection(c // 2, c // 4)
        self.up3, self.up4 = UpProjection(c // 4, c // 8), UpProjection(c // 8, c // 16)

    def forward(self, b1, b2, b3, b4) -> torch.Tensor:
        x = F.relu(self.bn(self.conv(b4)))
        x = self.up1(x, tuple(b3.shape[-2:]))
        x = self.up2(x, tuple(b2.shape[-2:]))
        x = self.up3(x, tuple(b1.shape[-2:]))
        return self.up4(x, (b1.shape[-2] * 2, b1.shape[-1] * 2))


class _MFF(nn.Module):
    def __init__(self, channels: tuple[int, int, int, int], features: int = 64) -> None:
        super().__init__()
        self.up1, self.up2 = UpProjection(channels[0], 16), UpProjection(channels[1], 16)
        self.up3, self.up4 = UpProjection(channels[2], 16), UpProjection(channels[3], 16)
        self.conv = nn.Conv2d(features, features, 5, padding=2, bias=False)
        self.bn = nn.BatchNorm2d(features)

    def forward(self, b1, b2, b3, b4, size: tuple[int, int]) -> torch.Tensor:
        ups = [self.up1(b1, size), self.up2(b2, size), self.up3(b3, size), self.up4(b4, size)]
        return F.relu(self.bn(self.conv(torch.cat(ups, 1))))


class _Refine(nn.Module):
    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv0 = nn.Conv2d(features, features, 5, padding=2, bias=False)
        self.bn0 = nn.BatchNorm2d(features)
        self.conv1 = nn.Conv2d(features, features, 5, padding=2, bias=False)
        self.bn1 = nn.BatchNorm2d(features)
        self.conv2 = nn.Conv2d(features, 1, 5, padding=2, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn0(self.conv0(x)))
        return self.conv2(F.relu(self.bn1(self.conv1(x))))


class DepthNet(nn.Module):
    """Encoder ``E``, decoder ``D``, multi-scale fusion ``MFF`` and refinement ``R`` (module doc).

    ``forward(x)`` maps images ``(N, 3, H, W)`` to depth ``(N, 1, h, w)``: ``h, w`` twice block 1's
    size (``H / 2, W / 2`` when divisible by 32) in train mode, ``(H, W)`` in eval mode unless
    ``upsample_eval=False``.
    """

    def __init__(
        self,
        encoder: nn.Module,
        channels: tuple[int, int, int, int],
        *,
        upsample_eval: bool = True,
    ) -> None:
        super().__init__()
        self.E = _Encoder(encoder)
        self.D = _Decoder(channels[3])
        self.MFF = _MFF(channels)
        self.R = _Refine(64 + channels[3] // 32)
        self.upsample_eval = bool(upsample_eval)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Depth predicted for the images ``x`` (class docstring for the output size)."""
        blocks = self.E(x)
        decoded = self.D(*blocks)
        fused = self.MFF(*blocks, tuple(decoded.shape[-2:]))
        out = self.R(torch.cat((decoded, fused), 1))
        if self.upsample_eval and not self.training and tuple(out.shape[-2:]) != tuple(x.shape[-2:]):
            out = F.interpolate(out, size=tuple(x.shape[-2:]), mode="bilinear", align_corners=True)
        return out


def nyud2_resnet50(
    *,
    pretrained: str | os.PathLike | None = None,
    backbone: str = "resnet50",
    upsample_eval: bool = True,
) -> DepthNet:
    """NYUD2-DIR's depth network (``nyud2-dir/train.py``, ``define_model``) on a torchvision ResNet.

    Parameters
    ----------
    pretrained : {"imagenet"} or path, optional
        ImageNet weights of the encoder (DIR: ``resnet50(pretrained=True)``), read by
        :func:`bsam.models.pretrained.load_pretrained` from torchvision's hub cache
        (``"imagenet"``) or a ``.pth`` file; never downloaded. ``None``: random initialisation.
    backbone : {"resnet50", "resnet34", "resnet18"}
        The encoder (DIR: ResNet-50; the smaller ones are for quick runs and tests).
    upsample_eval : bool
        In eval mode, upsample the prediction to the input's size (DIR's ``test.py``).

    Raises
    ------
    FileNotFoundError
        When the ``pretrained`` file is missing (the message names it).
    """
    if backbone not in BACKBONES:
        raise ValueError(f"Invalid backbone {backbone!r} for nyud2-resnet50; choose from {sorted(BACKBONES)}.")
    from bsam.vision import import_torchvision

    resnet = getattr(import_torchvision().models, backbone)(weights=None)
    if pretrained is not None:
        from bsam.models.pretrained import load_pretrained

        load_pretrained(resnet, pretrained, arch=backbone)
    return DepthNet(resnet, BACKBONES[backbone], upsample_eval=upsample_eval)
