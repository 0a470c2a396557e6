"""Label binning shared by shot regions and balance weights.

A label ``y`` falls in bin ``floor((y - lower) / bin_width)``. The bins cover
``[lower, lower + num_bins * bin_width)``; ``lower`` and ``num_bins`` come from the training labels
unless given, so ``upper`` (the largest label a bin must hold) lies in the last bin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["Binning", "as_label_tensor"]

# Labels are floats; a label on a bin edge (an integer age, 1.3 m) must not fall into the bin below
# because (y - lower) / width evaluates to 0.9999999. Nudge by a tolerance relative to the width.
_EDGE_TOL = 1e-6


def as_label_tensor(labels: torch.Tensor | np.ndarray | list | tuple, name: str = "labels") -> torch.Tensor:
    """Return ``labels`` as a floating tensor, refusing empty input and NaN/inf values."""
    if isinstance(labels, torch.Tensor):
        tensor = labels.detach()
        if not tensor.is_floating_point():
            tensor = tensor.to(torch.float64)
    else:
        tensor = torch.as_tensor(np.asarray(labels, dtype=np.float64))
    if tensor.numel() == 0:
        raise ValueError(f"{name} is empty: need at least one label to fit or look up bins.")
    finite = torch.isfinite(tensor)
    if not bool(finite.all()):
        bad = int((~finite).sum())
        first = tensor[~finite].flatten()[0].item()
        raise ValueError(
            f"{name} contains {bad} non-finite value(s) (first: {first}); remove or impute NaN/inf "
            "labels before binning."
        )
    return tensor


@dataclass(frozen=True)
class Binning:
    """Equal-width bins ``[lower + k * bin_width, lower + (k + 1) * bin_width)``, ``k < num_bins``."""

    bin_width: float
    lower: float
    num_bins: int

    @classmethod
    def fit(
        cls,
        labels: torch.Tensor,
        bin_width: float = 1.0,
        *,
        lower: float | None = None,
        upper: float | None = None,
    ) -> Binning:
        """Choose bins of ``bin_width`` covering ``[lower, upper]`` (default: the labels' range)."""
        if not (isinstance(bin_width, (int, float)) and math.isfinite(bin_width) and bin_width > 0):
            raise ValueError(f"Invalid bin_width: {bin_width!r}; it must be a positive finite number.")
        lo = float(labels.min()) if lower is None else float(lower)
        hi = float(labels.max()) if upper is None else float(upper)
        if lower is None:
            lo = math.floor(lo / bin_width + _EDGE_TOL) * bin_width
        if hi < lo:
            raise ValueError(f"Invalid label range: upper={hi} is below lower={lo}.")
        num_bins = int(math.floor((hi - lo) / bin_width + _EDGE_TOL)) + 1
        binning = cls(float(bin_width), lo, num_bins)
        binning.index(labels)  # refuse training labels outside an explicit range
        return binning

    @property
    def upper(self) -> float:
        """The right edge of the last bin (exclusive)."""
        return self.lower + self.num_bins * self.bin_width

    @property
    def edges(self) -> np.ndarray:
        """The ``num_bins + 1`` bin edges."""
        return self.lower + self.bin_width * np.arange(self.num_bins + 1)

    def index(self, labels: torch.Tensor) -> torch.Tensor:
        """Bin index of every label (same shape, ``torch.long``); out-of-range labels raise."""
        labels = as_label_tensor(labels)
        idx = torch.floor((labels.to(torch.float64) - self.lower) / self.bin_width + _EDGE_TOL)
        idx = idx.to(torch.long)
        outside = (idx < 0) | (idx >= self.num_bins)
        if bool(outside.any()):
            bad = labels[outside].flatten()
            raise ValueError(
                f"{int(outside.sum())} label(s) outside the fitted range [{self.lower:g}, "
                f"{self.upper:g}) (e.g. {bad[0].item():g}, min {bad.min().item():g}, "
                f"max {bad.max().item():g}); fit with lower=/upper= covering every split's labels."
            )
        return idx

    def counts(self, labels: torch.Tensor) -> np.ndarray:
        """Number of labels in each bin (``np.int64``, length ``num_bins``)."""
        idx = self.index(labels).flatten().cpu()
        return torch.bincount(idx, minlength=self.num_bins).numpy().astype(np.int64)

    def to_dict(self) -> dict:
        """JSON-safe description."""
        return {"bin_width": self.bin_width, "lower": self.lower, "num_bins": self.num_bins}
