"""Image transforms of the real data sets.

* :class:`RnCTrainTransform`, :class:`EvalTransform`: torchvision ``transforms.v2`` pipelines, the
  transforms of Rank-N-Contrast (Zha et al., NeurIPS 2023; github.com/kaiwenzha/Rank-N-Contrast
  ``utils.py`` ``get_transforms``, used by ``main_l1.py`` and by the BSAM code on AgeDB-DIR /
  IMDB-WIKI-DIR) with the output side ``img_size`` (224 there) as a parameter:

  - train: ``RandomResizedCrop(img_size, scale=(0.2, 1))`` (ratio 3/4..4/3), ``RandomHorizontalFlip()``
    (p = 1/2), ``RandomApply([ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8)``, ``RandomGrayscale(0.2)``;
  - eval: ``Resize(round(img_size * 256 / 224))`` (the shorter side; 256 for 224) then
    ``CenterCrop(img_size)``;
  - both end in ``ToDtype(float32, scale=True)`` (RnC's ``ToTensor``) and ``Normalize(0.5, 0.5)``.

  They take a PIL image (what RnC feeds them, so the PIL kernels make the same pixels) or a
  ``(C, H, W)`` tensor (uint8, or float in [0, 1]) and return a plain float32 tensor. Their random
  numbers come from torch's global RNG, as in torchvision; pass ``generator=`` to draw them from a
  seed taken from that generator instead (the global RNG is left untouched then).
* Plain-torch helpers on float ``(C, H, W)`` tensors in [0, 1] (:func:`resize`,
  :func:`resize_shorter`, :func:`center_crop`, :func:`color_jitter`, :func:`normalize`, ...), used
  by the NYUD2-DIR loader, which transforms image and depth map together.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import Any

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
    "rnc_train_transform",
    "eval_transform",
    "open_rgb",
]


def _unreadable_image(path: str | os.PathLike, err: BaseException) -> Exception:
    """The :class:`bsam.errors.DataError` of an image file that Pillow cannot decode."""
    from bsam.errors import DataError

    return DataError(
        f"Cannot read image {path}: {err}; the file is corrupt or truncated: replace it, or "
        "remove its row from the data set's list"
    )


def _pil_image(path: str | os.PathLike, mode: str | None) -> Any:
    """The decoded PIL image of ``path`` (converted to ``mode`` unless ``None``).

    Raises ``FileNotFoundError`` for a missing file and :class:`bsam.errors.DataError` (naming
    the file) for one Pillow cannot decode.
    """
    try:
        from PIL import Image
    except ImportError as err:  # pragma: no cover - Pillow ships with matplotlib
        raise ImportError("Reading image files needs Pillow: pip install pillow") from err
    try:
        with Image.open(path) as img:
            out = img.convert(mode) if mode is not None else img.copy()
            out.load()
    except FileNotFoundError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise _unreadable_image(path, err) from err
    return out


def open_rgb(path: str | os.PathLike) -> Any:
    """Decode an image file into an RGB PIL image (what the v2 transforms take).

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    bsam.errors.DataError
        When the file cannot be decoded (corrupt, truncated, not an image); names the file.
    """
    return _pil_image(path, "RGB")


def load_image(path: str | os.PathLike, mode: str | None = "RGB") -> torch.Tensor:
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
    import numpy as np

    arr = np.asarray(_pil_image(path, mode))
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


#: RnC's eval resize for 224-px crops: the shorter side to 256 (``Resize(256)``).
_EVAL_RESIZE_RATIO = 256 / 224


def _contiguous(img: torch.Tensor) -> torch.Tensor:
    """``img`` in contiguous ``(C, H, W)`` memory (``ToImage`` of a PIL image is a permuted view)."""
    return img.contiguous()


def _output_stages(mean: Sequence[float], std: Sequence[float]) -> list[Any]:
    """v2 stages from a PIL image or tensor to a plain normalised float32 tensor.

    The ``(H, W, C)`` pixels of a PIL image are copied into ``(C, H, W)`` order first: the
    conversion and normalisation then run on contiguous memory (2x faster, same values).
    """
    v2 = _v2()
    return [
        v2.ToImage(),
        v2.Lambda(_contiguous),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(list(mean), list(std)),
        v2.ToPureTensor(),
    ]


def _v2() -> Any:
    """``torchvision.transforms.v2`` (imported through :func:`bsam.vision.import_torchvision`)."""
    from bsam.vision import import_torchvision

    import_torchvision()
    from torchvision.transforms import v2

    return v2


def rnc_train_transform(
    img_size: int = 224,
    mean: Sequence[float] = (0.5, 0.5, 0.5),
    std: Sequence[float] = (0.5, 0.5, 0.5),
) -> Callable[[Any], torch.Tensor]:
    """Rank-N-Contrast's training augmentation as a ``transforms.v2.Compose`` (module docstring)."""
    v2 = _v2()
    return v2.Compose(
        [
            v2.RandomResizedCrop(img_size, scale=(0.2, 1.0)),
            v2.RandomHorizontalFlip(),
            v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
            v2.RandomGrayscale(p=0.2),
            *_output_stages(mean, std),
        ]
    )


def eval_transform(
    img_size: int = 224,
    mean: Sequence[float] = (0.5, 0.5, 0.5),
    std: Sequence[float] = (0.5, 0.5, 0.5),
) -> Callable[[Any], torch.Tensor]:
    """Rank-N-Contrast's evaluation transform: ``Resize(round(img_size * 256 / 224))`` of the
    shorter side, ``CenterCrop(img_size)``, then the normalisation (``transforms.v2.Compose``)."""
    v2 = _v2()
    resize_to = int(round(img_size * _EVAL_RESIZE_RATIO))
    return v2.Compose([v2.Resize(resize_to), v2.CenterCrop(img_size), *_output_stages(mean, std)])


class _V2Transform:
    """A v2 pipeline with its output side ``size`` and normalisation ``mean``/``std``."""

    _build: Callable[..., Callable[[Any], torch.Tensor]]

    def __init__(
        self,
        size: int = 224,
        mean: Sequence[float] = (0.5, 0.5, 0.5),
        std: Sequence[float] = (0.5, 0.5, 0.5),
    ) -> None:
        self.size, self.mean, self.std = int(size), tuple(mean), tuple(std)
        self.pipeline = type(self)._build(self.size, self.mean, self.std)

    def __call__(self, img: Any, generator: torch.Generator | None = None) -> torch.Tensor:
        """Transform one image (PIL, or a ``(C, H, W)`` uint8 / [0, 1] float tensor)."""
        if generator is None:
            return self.pipeline(img)
        seed = int(torch.randint(0, 2**62, (), generator=generator))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.pipeline(img)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, mean={self.mean}, std={self.std})"


class RnCTrainTransform(_V2Transform):
    """Train-time augmentation of the DIR age data sets: :func:`rnc_train_transform`.

    Parameters
    ----------
    size : int
        Output side (224).
    mean, std : sequence of float
        Per-channel normalisation applied last.
    """

    _build = staticmethod(rnc_train_transform)


class EvalTransform(_V2Transform):
    """Deterministic evaluation transform: :func:`eval_transform` (parameters as
    :class:`RnCTrainTransform`)."""

    _build = staticmethod(eval_transform)
