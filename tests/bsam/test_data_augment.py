"""Tests of the batched synthetic augmentation and the torch image transforms."""

import colorsys

import numpy as np
import pytest
import torch

from bsam.data import augment_batch
from bsam.data.transforms import (
    RnCTrainTransform,
    _hsv_to_rgb,
    _rgb_to_hsv,
    center_crop,
    color_jitter,
    random_resized_crop,
    resize,
    to_grayscale,
)


def _reference_augment(x, off_i, off_j, flips, padding):
    """Per-image loop: zero-pad, crop at (i, j), then flip."""
    out = []
    h, w = x.shape[-2:]
    for n in range(x.shape[0]):
        p = torch.nn.functional.pad(x[n], (padding,) * 4)
        crop = p[:, off_i[n] : off_i[n] + h, off_j[n] : off_j[n] + w]
        out.append(crop.flip(-1) if flips[n] else crop)
    return torch.stack(out)


@pytest.mark.parametrize("padding", [0, 2, 3])
def test_augment_batch_matches_per_image_loop(padding):
    x = torch.randn(9, 3, 6, 5)
    out = augment_batch(x, torch.Generator().manual_seed(4), padding=padding)
    g = torch.Generator().manual_seed(4)  # replay the documented draws
    off_i = torch.randint(0, 2 * padding + 1, (9,), generator=g)
    off_j = torch.randint(0, 2 * padding + 1, (9,), generator=g)
    flips = torch.rand(9, generator=g) < 0.5
    assert torch.equal(out, _reference_augment(x, off_i, off_j, flips, padding))


def test_augment_batch_deterministic_and_varied():
    x = torch.randn(64, 3, 8, 8)
    a = augment_batch(x, torch.Generator().manual_seed(0))
    b = augment_batch(x, torch.Generator().manual_seed(0))
    c = augment_batch(x, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == x.shape and a.dtype == x.dtype
    # without padding or flip it is the identity
    assert torch.equal(augment_batch(x, torch.Generator(), padding=0, flip=False), x)


def test_augment_batch_errors():
    with pytest.raises(ValueError, match="expected \\(N, C, H, W\\)"):
        augment_batch(torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="Invalid padding -1"):
        augment_batch(torch.zeros(1, 3, 8, 8), padding=-1)


def test_hsv_round_trip_against_colorsys():
    rgb = torch.rand(3, 5, 7)
    hsv = _rgb_to_hsv(rgb)
    for i in range(5):
        for j in range(7):
            ref = colorsys.rgb_to_hsv(*rgb[:, i, j].tolist())
            assert np.allclose(hsv[:, i, j].numpy(), ref, atol=1e-5)
    assert torch.allclose(_hsv_to_rgb(hsv), rgb, atol=1e-5)


def test_grayscale_and_jitter_extremes():
    img = torch.rand(3, 4, 4)
    g = to_grayscale(img)
    assert torch.allclose(g[0], 0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2])
    assert torch.equal(g[0], g[1]) and torch.equal(g[1], g[2])
    # zero-strength jitter is the identity; a jittered image stays in [0, 1]
    assert torch.equal(color_jitter(img, 0, 0, 0, 0), img)
    out = color_jitter(img, 0.4, 0.4, 0.4, 0.1, generator=torch.Generator().manual_seed(0))
    assert out.shape == img.shape and out.min() >= 0 and out.max() <= 1


def test_random_resized_crop_shape_and_full_crop():
    img = torch.rand(3, 30, 40)
    out = random_resized_crop(img, 16, generator=torch.Generator().manual_seed(0))
    assert out.shape == (3, 16, 16)
    # area fraction 1 never fits with a random aspect ratio, so the fallback takes the whole
    # image (its ratio 4/3 lies inside the allowed range) and resizes it
    full = random_resized_crop(img, 16, scale=(1.0, 1.0), ratio=(0.5, 2.0))
    assert torch.equal(full, resize(img, (16, 16)))
    # an image wider than the ratio range: central crop with the largest allowed ratio (2)
    wide = torch.rand(3, 10, 50)
    out = random_resized_crop(wide, 8, scale=(1.0, 1.0), ratio=(0.5, 2.0))
    assert torch.equal(out, resize(wide[:, :, 15:35], (8, 8)))


def test_center_crop_offsets_and_error():
    img = torch.arange(5 * 7, dtype=torch.float32).view(1, 5, 7)
    assert torch.equal(center_crop(img, (3, 3)), img[:, 1:4, 2:5])
    with pytest.raises(ValueError, match="crop is larger"):
        center_crop(img, (6, 3))


def test_rnc_transform_shape_and_range():
    t = RnCTrainTransform(20)
    out = t(torch.rand(3, 40, 30), generator=torch.Generator().manual_seed(1))
    assert out.shape == (3, 20, 20) and out.min() >= -1 and out.max() <= 1
