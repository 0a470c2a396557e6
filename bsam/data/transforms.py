"""Image transforms of the real data sets, in plain torch (torchvision is not needed).

Images are float tensors ``(C, H, W)`` with values in [0, 1] until :func:`normalize`.
Random transforms draw from ``generator`` when one is given, else from torch's global RNG (which
``torch.utils.data.DataLoader`` seeds per worker).

* :class:`RnCTrainTransform`: the train-time augmentation of Rank-N-Contrast (Zha et al.,
  NeurIPS 2023) used by the BSAM code on AgeDB-DIR / IMDB-WIKI-DIR: random resized crop to 224
  with scale (0.2, 1) and ratio (3/4, 4/3), horizontal flip with p = 1/2, colour jitter
  (brightness 0.4, contrast 0.4, saturation 0.4, hue 0.1) with p = 0.8, greyscale with p = 0.2.
* :class:`EvalTransform`: resize the shorter side to 224 and centre-crop 224x224 (for the square
  DIR face crops this equals the DIR code's ``Resize((224, 224))``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = [
    "load_image",
    "resize",
    "resize_shorter",
    "center_crop",
    "random_resized_crop",
    "color_jitter",
    "to_grayscale",
    "normalize",
    "RnCTrainTransform",
    "EvalTransform",
]


def _unreadable_image(path: str | os.PathLike, err: BaseException) -> Exception:
    """The :class:`bsam.errors.DataError` of an image file that Pillow cannot decode."""
    from bsam.errors import DataError

    return DataError(
        f"Cannot read image {path}: {err}; the file is corrupt or truncated: replace it, or "
        "remove its row from the data set's list"
    )


def load_image(path: str | os.PathLike, mode: str = "RGB") -> torch.Tensor:
    """Read an image file with Pillow into a float tensor ``(C, H, W)`` in [0, 1].

    ``mode="RGB"`` converts to three channels; ``mode=None`` keeps the file's values (used for
    depth maps: 8-bit maps as ``value / 255``, 16-bit maps as raw integers).

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    bsam.errors.DataError
        When the file cannot be decoded (corrupt, truncated, not an image); names the file.
    """
    try:
        from PIL import Image
    except ImportError as err:  # pragma: no cover - Pillow ships with matplotlib
        raise ImportError("Reading image files needs Pillow: pip install pillow") from err
    import numpy as np

    try:
        with Image.open(path) as img:
            if mode is not None:
                img = img.convert(mode)
            arr = np.asarray(img)
    except FileNotFoundError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise _unreadable_image(path, err) from err
    if arr.dtype == np.uint8:
        t = torch.from_numpy(arr.copy()).float().div_(255.0)
    else:
        t = torch.from_numpy(arr.astype(np.float32))
    if t.dim() == 2:
        t = t[None]
    else:
        t = t.permute(2, 0, 1)
    return t.contiguous()


def _uniform(lo: float, hi: float, generator: torch.Generator | None) -> float:
    return float(torch.empty(()).uniform_(lo, hi, generator=generator))


def resize(img: torch.Tensor, size: tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """Resize ``(C, H, W)`` to ``size = (h, w)`` (bilinear with antialiasing, or ``"nearest"``)."""
    x = img[None]
    if mode == "nearest":
        return F.interpolate(x, size=size, mode="nearest")[0]
    return F.interpolate(x, size=size, mode=mode, align_corners=False, antialias=True)[0]


def resize_shorter(img: torch.Tensor, size: int, mode: str = "bilinear") -> torch.Tensor:
    """Resize so that the shorter side is ``size``, keeping the aspect ratio."""
    h, w = img.shape[-2:]
    if h <= w:
        new = (size, max(1, int(round(w * size / h))))
    else:
        new = (max(1, int(round(h * size / w))), size)
    return resize(img, new, mode)


def center_crop(img: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Crop the central ``size = (h, w)`` window (offsets rounded as ``round((H - h) / 2)``)."""
    h, w = img.shape[-2:]
    th, tw = size
    if th > h or tw > w:
        raise ValueError(f"Invalid crop size {size} for an image of size {(h, w)}; crop is larger.")
    i, j = int(round((h - th) / 2)), int(round((w - tw) / 2))
    return img[..., i : i + th, j : j + tw]


def random_resized_crop(
    img: torch.Tensor,
    size: int,
    scale: tuple[float, float] = (0.2, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Crop a random window of area fraction ``s ~ U(scale)`` and aspect ``r`` with
    ``log r ~ U(log ratio)``, resized to ``size x size`` (10 tries, then the central crop with
    the aspect ratio clamped to ``ratio``), as in Szegedy et al. (CVPR 2015)."""
    h, w = img.shape[-2:]
    area = h * w
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        target = area * _uniform(scale[0], scale[1], generator)
        r = math.exp(_uniform(log_lo, log_hi, generator))
        cw, ch = int(round(math.sqrt(target * r))), int(round(math.sqrt(target / r)))
        if 0 < cw <= w and 0 < ch <= h:
            i = int(torch.randint(0, h - ch + 1, (1,), generator=generator))
            j = int(torch.randint(0, w - cw + 1, (1,), generator=generator))
            return resize(img[..., i : i + ch, j : j + cw], (size, size))
    in_ratio = w / h
    if in_ratio < ratio[0]:
        cw, ch = w, int(round(w / ratio[0]))
    elif in_ratio > ratio[1]:
        ch, cw = h, int(round(h * ratio[1]))
    else:
        cw, ch = w, h
    return resize(center_crop(img, (ch, cw)), (size, size))


def to_grayscale(img: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma ``0.299 R + 0.587 G + 0.114 B`` repeated on the three channels."""
    lum = 0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2]
    return lum.expand(3, *lum.shape).clone()


def _rgb_to_hsv(img: torch.Tensor) -> torch.Tensor:
    r, g, b = img[0], img[1], img[2]
    maxc, _ = img.max(0)
    minc, _ = img.min(0)
    delta = maxc - minc
    s = torch.where(maxc > 0, delta / maxc.clamp(min=1e-12), torch.zeros_like(maxc))
    dz = delta.clamp(min=1e-12)
    h = torch.where(
        maxc == r, ((g - b) / dz) % 6, torch.where(maxc == g, (b - r) / dz + 2, (r - g) / dz + 4)
    )
    h = torch.where(delta > 0, h / 6.0, torch.zeros_like(h))
    return torch.stack([h, s, maxc])


def _hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    h, s, v = hsv[0], hsv[1], hsv[2]
    k = torch.stack([(5 + h * 6) % 6, (3 + h * 6) % 6, (1 + h * 6) % 6])
    return v - v * s * torch.clamp(torch.minimum(k, 4 - k), 0, 1)


def color_jitter(
    img: torch.Tensor,
    brightness: float = 0.4,
    contrast: float = 0.4,
    saturation: float = 0.4,
    hue: float = 0.1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Apply brightness, contrast, saturation and hue changes in a random order.

    Factors ``f ~ U(1 - b, 1 + b)``: brightness ``f x``; contrast ``f x + (1 - f) mean(gray(x))``;
    saturation ``f x + (1 - f) gray(x)``; hue: the HSV hue is shifted by ``U(-hue, hue)`` turns.
    Results are clamped to [0, 1] after each step.
    """
    order = torch.randperm(4, generator=generator).tolist()
    for op in order:
        if op == 0 and brightness > 0:
            img = (img * _uniform(1 - brightness, 1 + brightness, generator)).clamp(0, 1)
        elif op == 1 and contrast > 0:
            f = _uniform(1 - contrast, 1 + contrast, generator)
            img = (f * img + (1 - f) * to_grayscale(img).mean()).clamp(0, 1)
        elif op == 2 and saturation > 0:
            f = _uniform(1 - saturation, 1 + saturation, generator)
            img = (f * img + (1 - f) * to_grayscale(img)).clamp(0, 1)
        elif op == 3 and hue > 0:
            hsv = _rgb_to_hsv(img)
            hsv[0] = (hsv[0] + _uniform(-hue, hue, generator)) % 1.0
            img = _hsv_to_rgb(hsv).clamp(0, 1)
    return img


def normalize(img: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """``(img - mean_c) / std_c`` per channel."""
    m = torch.as_tensor(mean, dtype=img.dtype).view(-1, 1, 1)
    s = torch.as_tensor(std, dtype=img.dtype).view(-1, 1, 1)
    return (img - m) / s


class _SizedNormalized:
    """Holds the output side ``size`` and the normalisation ``mean``/``std`` of a transform."""

    def __init__(
        self,
        size: int = 224,
        mean: Sequence[float] = (0.5, 0.5, 0.5),
        std: Sequence[float] = (0.5, 0.5, 0.5),
    ) -> None:
        self.size, self.mean, self.std = int(size), tuple(mean), tuple(std)


class RnCTrainTransform(_SizedNormalized):
    """Train-time augmentation of the DIR age data sets (see the module docstring).

    Parameters
    ----------
    size : int
        Output side (224).
    mean, std : sequence of float
        Per-channel normalisation applied last.
    """

    def __call__(self, img: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Augment one ``(3, H, W)`` image in [0, 1] and normalise it."""
        img = random_resized_crop(img, self.size, (0.2, 1.0), generator=generator)
        if float(torch.rand((), generator=generator)) < 0.5:
            img = img.flip(-1)
        if float(torch.rand((), generator=generator)) < 0.8:
            img = color_jitter(img, 0.4, 0.4, 0.4, 0.1, generator=generator)
        if float(torch.rand((), generator=generator)) < 0.2:
            img = to_grayscale(img)
        return normalize(img, self.mean, self.std)


class EvalTransform(_SizedNormalized):
    """Deterministic evaluation transform: shorter side to ``size``, central ``size`` crop,
    normalisation."""

    def __call__(self, img: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Transform one ``(3, H, W)`` image in [0, 1]."""
        img = center_crop(resize_shorter(img, self.size), (self.size, self.size))
        return normalize(img, self.mean, self.std)
