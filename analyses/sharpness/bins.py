r"""Points of a sharpness profile: target bins, widened into windows with enough samples.

A profile has one point per target bin :math:`b` that holds a sample of the measured split. The
point's region is the window of adjacent bins :math:`[b - h_\text{lo}, b + h_\text{hi}]`, grown one
bin at a time on the side with fewer bins (symmetric while both sides have room, then on the open
side) until it holds at least ``min_samples`` samples of the split. With ``min_samples=1`` every
window is its own bin. Windows of neighbouring bins overlap when they had to grow, like a moving
average; each point keeps the training count of its *centre* bin, so the profile can be set beside
the training density bin by bin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

__all__ = ["BinWindow", "bin_windows", "window_masks"]


@dataclass(frozen=True)
class BinWindow:
    """One point of a profile: a centre bin and the window of bins it averages over.

    Attributes
    ----------
    bin:
        Index of the centre bin.
    start, stop:
        The window holds bins ``start <= k < stop``.
    lower, upper:
        Target range of the window, ``[lower, upper)``.
    center:
        Middle of the centre bin, the profile's x value.
    num_samples:
        Samples of the measured split in the window.
    train_count:
        Training samples of the centre bin (the training density at ``center``).
    region:
        Shot region of the centre bin: ``"many"``, ``"medium"`` or ``"few"``.
    """

    bin: int
    start: int
    stop: int
    lower: float
    upper: float
    center: float
    num_samples: int
    train_count: int
    region: str

    def to_dict(self) -> dict[str, object]:
        """JSON-safe fields."""
        return asdict(self)


def _check_min_samples(min_samples: object) -> int:
    if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 1:
        raise ValueError(
            f"Invalid min_samples value: {min_samples!r}; it must be an int >= 1 (samples per "
            "window)."
        )
    return min_samples


def bin_windows(
    regions: object,
    targets: torch.Tensor,
    *,
    min_samples: int = 1,
) -> list[BinWindow]:
    r"""The windows of a profile over the split whose targets are ``targets``.

    Parameters
    ----------
    regions:
        A :class:`bsam.regions.ShotRegions` fitted on the training labels (bins, training counts,
        region codes).
    targets:
        Targets of the measured split, any shape (a dense target counts each element).
    min_samples:
        Least number of split elements per window; windows grow as the module docstring says.

    Returns
    -------
    list[BinWindow]
        One window per bin holding at least one element of the split, in bin order.

    Examples
    --------
    >>> from bsam.regions import ShotRegions
    >>> regions = ShotRegions.fit(torch.tensor([0.0, 1, 1, 2, 2, 2]), 1.0, many=2, few=2)
    >>> [(w.bin, w.start, w.stop) for w in bin_windows(regions, torch.tensor([0.0, 2.0, 2.0]),
    ...                                                min_samples=2)]
    [(0, 0, 3), (2, 2, 3)]
    """
    min_samples = _check_min_samples(min_samples)
    idx = regions.bin_index(torch.as_tensor(targets)).reshape(-1).cpu().numpy()
    num_bins = int(regions.num_bins)
    counts = np.bincount(idx, minlength=num_bins)
    total = int(counts.sum())
    if total < min_samples:
        raise ValueError(
            f"Invalid min_samples value: {min_samples}; the split has only {total} samples. Lower "
            "min_samples."
        )
    cum = np.concatenate([[0], np.cumsum(counts)])
    names = ("many", "medium", "few")
    width, lower = float(regions.bin_width), float(regions.lower)
    out = []
    for b in np.flatnonzero(counts):
        lo, hi = int(b), int(b) + 1
        while cum[hi] - cum[lo] < min_samples:
            left, right = lo > 0, hi < num_bins
            if left and (not right or (b - lo) <= (hi - 1 - b)):
                lo -= 1
            else:
                hi += 1
        out.append(
            BinWindow(
                bin=int(b),
                start=lo,
                stop=hi,
                lower=lower + lo * width,
                upper=lower + hi * width,
                center=lower + (int(b) + 0.5) * width,
                num_samples=int(cum[hi] - cum[lo]),
                train_count=int(regions.counts[b]),
                region=names[int(regions.bin_codes[b])],
            )
        )
    return out


def window_masks(
    regions: object, targets: torch.Tensor, windows: Sequence[BinWindow]
) -> list[torch.Tensor]:
    """Boolean mask (targets' shape, CPU) of the elements of ``targets`` in each window."""
    idx = regions.bin_index(torch.as_tensor(targets)).cpu()
    return [(idx >= w.start) & (idx < w.stop) for w in windows]
