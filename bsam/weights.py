"""Balance weights from the training label histogram (inverse, square-root inverse, LDS).

For a training histogram with ``n_b`` samples in bin ``b``, the effective count is

.. math::

    \\tilde n_b = \\begin{cases} n_b & \\text{inv} \\\\ \\sqrt{n_b} & \\text{sqrt\\_inv} \\end{cases},
    \\qquad \\tilde n \\leftarrow k * \\tilde n \\ \\text{(LDS, optional)},

and a label in bin ``b`` gets the weight :math:`w_b = 1 / \\tilde n_b`. As in the DIR code
(Yang et al., ICML 2021), label distribution smoothing (LDS) convolves the transformed counts with a
symmetric kernel ``k`` normalised to a peak of 1. With ``clip=(lo, hi)`` the weights are clipped,
and with ``normalize=True`` (default) they are rescaled so that their mean over the training
samples is 1: :math:`w \\leftarrow w \\cdot N / \\sum_i w_{b(y_i)}`.

Empty bins (``n_b = 0``) are treated as holding one sample, so a label there gets the largest
weight instead of an infinite one; training labels never fall in empty bins.

The counts may come from a :class:`bsam.regions.LabelHistogram` (per-pixel counts of a dense
data set, one pass over its files). The mean-1 normalisation is then over every counted label
(pixel), which is NYUD2-DIR's ``scaling = sum(n) / sum(n / n~)`` (``nyud2-dir/loaddata.py``,
``_get_weights``/``_get_bucket_weights``, github.com/YyzHarry/imbalanced-regression).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.ndimage import convolve1d

from bsam._bins import Binning, as_label_tensor
from bsam.regions import LabelHistogram, _clipped

__all__ = ["BalanceWeights", "lds_kernel", "SCHEMES", "KERNELS"]

SCHEMES = ("sqrt_inv", "inv", "none")
KERNELS = ("gaussian", "triang", "laplace")


def lds_kernel(kernel: str = "gaussian", ks: int = 5, sigma: float = 2.0) -> np.ndarray:
    """Symmetric LDS kernel window of odd size ``ks`` with a peak value of 1.

    ``gaussian``: :math:`\\exp(-x^2 / 2\\sigma^2)`; ``triang``: a triangle reaching 0 one step
    beyond the window; ``laplace``: :math:`\\exp(-|x| / \\sigma)`, for ``x = -(ks//2) .. ks//2``.
    """
    if kernel not in KERNELS:
        raise ValueError(f"Unknown LDS kernel {kernel!r}; choose from {list(KERNELS)}.")
    if not (isinstance(ks, (int, np.integer)) and ks >= 1 and ks % 2 == 1):
        raise ValueError(f"Invalid LDS kernel size ks={ks!r}; it must be a positive odd integer.")
    if not sigma > 0:
        raise ValueError(f"Invalid LDS sigma={sigma!r}; it must be > 0.")
    half = ks // 2
    x = np.arange(-half, half + 1, dtype=np.float64)
    if kernel == "gaussian":
        window = np.exp(-(x**2) / (2.0 * sigma**2))
    elif kernel == "triang":
        window = 1.0 - np.abs(x) / (half + 1)
    else:
        window = np.exp(-np.abs(x) / sigma)
    return window / window.max()


@dataclass(frozen=True)
class BalanceWeights:
    """Per-bin balance weights; :meth:`weights` maps labels of any shape to their weights.

    Build with :meth:`fit`. ``bin_weights[b]`` is the weight of a label in bin ``b``.
    """

    binning: Binning
    bin_weights: np.ndarray
    scheme: str
    config: dict
    clip_upper: bool = False

    @classmethod
    def fit(
        cls,
        train_labels: torch.Tensor | np.ndarray | Sequence[float],
        bin_width: float = 1.0,
        scheme: str = "sqrt_inv",
        lds: dict | None = None,
        clip: tuple[float, float] | None = None,
        normalize: bool = True,
        *,
        lower: float | None = None,
        upper: float | None = None,
    ) -> BalanceWeights:
        """Fit weights on the training labels.

        Parameters
        ----------
        train_labels:
            Training targets of any shape; NaN/inf are refused.
        bin_width, lower, upper:
            Binning, as in :meth:`bsam.regions.ShotRegions.fit`.
        scheme:
            ``"sqrt_inv"`` (square-root inverse), ``"inv"`` (inverse) or ``"none"`` (all ones).
        lds:
            ``None`` or ``dict(kernel="gaussian"|"triang"|"laplace", ks=5, sigma=2)``: smooth the
            (transformed) counts before inverting.
        clip:
            ``(lo, hi)`` bounds applied to the weights before normalisation.
        normalize:
            Rescale so that the mean weight over the training samples is 1. ``False`` keeps the raw
            ``1 / sqrt(n)`` or ``1 / n`` values (the official BSAM code).

        A :class:`~bsam.regions.LabelHistogram` as ``train_labels`` brings its own bins, counts
        and ``clip_upper`` (``bin_width``, ``lower`` and ``upper`` are then ignored).
        """
        if scheme not in SCHEMES:
            raise ValueError(f"Unknown weighting scheme {scheme!r}; choose from {list(SCHEMES)}.")
        clip_upper = False
        if isinstance(train_labels, LabelHistogram):
            binning, clip_upper = train_labels.binning, train_labels.clip_upper
            counts = train_labels.counts.astype(np.float64)
        else:
            labels = as_label_tensor(train_labels, "train_labels")
            binning = Binning.fit(labels, bin_width, lower=lower, upper=upper)
            counts = binning.counts(labels).astype(np.float64)

        if scheme == "none":
            bin_weights = np.ones_like(counts)
        else:
            effective = np.maximum(counts, 1.0)
            if scheme == "sqrt_inv":
                effective = np.sqrt(effective)
            if lds is not None:
                unknown = set(lds) - {"kernel", "ks", "sigma"}
                if unknown:
                    raise ValueError(f"Unknown LDS option(s) {sorted(unknown)}; use kernel, ks, sigma.")
                window = lds_kernel(**lds)
                effective = convolve1d(effective, window, mode="constant")
            bin_weights = 1.0 / effective
        if clip is not None:
            lo, hi = clip
            if not lo <= hi:
                raise ValueError(f"Invalid clip={clip!r}; need lo <= hi.")
            bin_weights = np.clip(bin_weights, lo, hi)
        if normalize:
            mean = float((bin_weights * counts).sum() / counts.sum())
            bin_weights = bin_weights / mean
        config = {
            "scheme": scheme,
            "lds": dict(lds) if lds is not None else None,
            "clip": list(clip) if clip is not None else None,
            "normalize": bool(normalize),
        }
        return cls(binning, bin_weights, scheme, config, clip_upper)

    def weights(self, labels: torch.Tensor) -> torch.Tensor:
        """Weight of every label: a float tensor with the shape and device of ``labels``.

        The dtype is that of ``labels`` when floating, else the default dtype.
        """
        labels_t = as_label_tensor(labels)
        if self.clip_upper:
            labels_t = _clipped(labels_t, self.binning)
        idx = self.binning.index(labels_t)
        dtype = labels.dtype if isinstance(labels, torch.Tensor) and labels.is_floating_point() else torch.get_default_dtype()
        table = torch.as_tensor(self.bin_weights, dtype=dtype, device=idx.device)
        return table[idx]

    def to_dict(self) -> dict:
        """JSON-safe description including the per-bin weights (``clip_upper`` only when set)."""
        out = {"kind": "BalanceWeights", **self.binning.to_dict(), **self.config,
               "bin_weights": self.bin_weights.tolist()}
        if self.clip_upper:
            out["clip_upper"] = True
        return out

    @classmethod
    def from_dict(cls, data: dict) -> BalanceWeights:
        """Rebuild from :meth:`to_dict` output."""
        try:
            binning = Binning(float(data["bin_width"]), float(data["lower"]), int(data["num_bins"]))
            config = {k: data.get(k) for k in ("scheme", "lds", "clip", "normalize")}
            bin_weights = np.asarray(data["bin_weights"], dtype=np.float64)
            clip_upper = bool(data.get("clip_upper", False))
            return cls(binning, bin_weights, data["scheme"], config, clip_upper)
        except KeyError as err:
            raise ValueError(f"Not a BalanceWeights description: key {err} missing.") from err
