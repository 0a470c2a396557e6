"""Batched train-time augmentation of the synthetic benchmark (random crop with padding, flip)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["augment_batch"]


def augment_batch(
    x: torch.Tensor,
    generator: torch.Generator | None = None,
    *,
    padding: int = 2,
    flip: bool = True,
) -> torch.Tensor:
    """Randomly crop (after zero padding) and horizontally flip every image of a batch.

    For each image ``n`` independent offsets ``(i_n, j_n)`` are drawn uniformly from
    ``{0, ..., 2 * padding}`` and a flip bit ``f_n ~ Bernoulli(1/2)``; the output is
    ``out[n, c, h, w] = pad(x)[n, c, h + i_n, w'_n]`` with ``w'_n = j_n + (W - 1 - w)`` when
    ``f_n`` else ``j_n + w`` (the zero padding is the per-channel mean of normalised inputs).

    Parameters
    ----------
    x : Tensor of shape (N, C, H, W)
        Input batch (any float dtype, any device).
    generator : torch.Generator, optional
        CPU generator for the random draws; the same generator state gives the same output.
    padding : int
        Zero padding on each side before cropping back to ``(H, W)``.
    flip : bool
        Whether to flip horizontally with probability 1/2.

    Returns
    -------
    Tensor
        Augmented batch, same shape, dtype and device as ``x``.
    """
    if x.dim() != 4:
        raise ValueError(f"Invalid batch shape {tuple(x.shape)}; expected (N, C, H, W).")
    if padding < 0:
        raise ValueError(f"Invalid padding {padding}; padding must be >= 0.")
    n, c, h, w = x.shape
    off_i = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    off_j = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    flips = torch.rand(n, generator=generator) < 0.5 if flip else torch.zeros(n, dtype=torch.bool)
    device = x.device
    rows = (off_i[:, None] + torch.arange(h)[None, :]).to(device)  # (N, H)
    cols_idx = torch.arange(w)[None, :].expand(n, w)
    cols_idx = torch.where(flips[:, None], w - 1 - cols_idx, cols_idx)
    cols = (off_j[:, None] + cols_idx).to(device)  # (N, W)
    padded = F.pad(x, (padding, padding, padding, padding)) if padding else x
    batch = torch.arange(n, device=device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (N, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()
