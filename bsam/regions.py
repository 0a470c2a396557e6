"""Shot regions of an imbalanced regression target (many-, medium- and few-shot bins).

Following the DIR benchmarks (Yang et al., ICML 2021), the target range is cut into bins of width
``bin_width`` and each bin is classified by the number of *training* samples it holds:

.. math::

    \\text{region}(b) = \\begin{cases}
        \\text{many}   & n_b > \\text{many} \\\\
        \\text{few}    & n_b < \\text{few} \\\\
        \\text{medium} & \\text{otherwise.}
    \\end{cases}

Test samples take the region of their bin; bins without any training sample are few-shot.

A benchmark may instead fix the region of every bin (NYUD2-DIR's hard-coded bucket lists):
:meth:`ShotRegions.from_bins`. Training labels may also come as a :class:`LabelHistogram` (per-bin
counts from one pass over a data set too large to hold, e.g. 50k depth maps) instead of a tensor.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from bsam._bins import Binning, as_label_tensor

__all__ = [
    "ShotRegions",
    "LabelHistogram",
    "REGION_NAMES",
    "ALL_REGIONS",
    "MANY",
    "MEDIUM",
    "FEW",
    "region_arguments",
    "fit_training_regions",
]

MANY, MEDIUM, FEW = 0, 1, 2
#: Region names in code order.
REGION_NAMES: tuple[str, str, str] = ("many", "medium", "few")
#: Region names including the union of all samples, in report order.
ALL_REGIONS: tuple[str, str, str, str] = ("all", "many", "medium", "few")


def _clipped(labels: torch.Tensor, binning: Binning) -> torch.Tensor:
    """``labels`` with values at or above the last bin's right edge moved into the last bin."""
    inside = binning.lower + (binning.num_bins - 0.5) * binning.bin_width
    return labels.clamp(max=inside)


@dataclass(frozen=True, eq=False)
class LabelHistogram:
    """Training labels summarised as counts per bin (for data sets too large to hold in memory).

    :meth:`ShotRegions.fit` and :meth:`bsam.weights.BalanceWeights.fit` accept it in place of
    the label tensor and then use its bins and counts as they are.

    Attributes
    ----------
    binning:
        The bins.
    counts:
        Training labels (samples or pixels) per bin (``np.int64``, one per bin).
    clip_upper:
        Labels at or above the right edge of the last bin belong to the last bin (NYUD2-DIR's
        ``min(int(depth * 10), 99)``); otherwise they are out of range.
    """

    binning: Binning
    counts: np.ndarray
    clip_upper: bool = False

    def __post_init__(self) -> None:
        counts = np.asarray(self.counts)
        if counts.shape != (self.binning.num_bins,):
            raise ValueError(
                f"counts has shape {counts.shape}, expected ({self.binning.num_bins},) "
                "(one count per bin)."
            )
        if (counts < 0).any() or not np.all(np.floor(counts) == counts):
            raise ValueError("counts must be non-negative integers (labels per bin).")
        object.__setattr__(self, "counts", counts.astype(np.int64))

    @classmethod
    def of(cls, labels: torch.Tensor, binning: Binning, *, clip_upper: bool = False) -> LabelHistogram:
        """Count ``labels`` (any shape) in ``binning``'s bins."""
        labels = as_label_tensor(labels, "labels")
        if clip_upper:
            labels = _clipped(labels, binning)
        return cls(binning, binning.counts(labels), bool(clip_upper))

    def __add__(self, other: LabelHistogram) -> LabelHistogram:
        if not isinstance(other, LabelHistogram):
            return NotImplemented
        if other.binning != self.binning or other.clip_upper != self.clip_upper:
            raise ValueError("Cannot add label histograms over different bins.")
        return LabelHistogram(self.binning, self.counts + other.counts, self.clip_upper)


@dataclass(frozen=True, eq=False)
class ShotRegions:
    """Many/medium/few-shot classification of label bins, fitted on training labels.

    Use :meth:`fit`; the constructor takes already computed bin counts.

    Attributes
    ----------
    binning:
        The bins (width, lower edge, number).
    counts:
        Training samples per bin (``np.int64``).
    many, few:
        Thresholds: a bin with more than ``many`` training samples is many-shot, one with fewer
        than ``few`` is few-shot.
    codes:
        ``None`` (regions from the thresholds), or the fixed region code of every bin (0 many,
        1 medium, 2 few), as :meth:`from_bins` makes it; the thresholds are then unused.
    clip_upper:
        Labels at or above the last bin's right edge fall in the last bin instead of raising.
    """

    binning: Binning
    counts: np.ndarray
    many: int = 100
    few: int = 20
    codes: np.ndarray | None = None
    clip_upper: bool = False
    bin_codes: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        counts = np.asarray(self.counts, dtype=np.int64)
        if counts.shape != (self.binning.num_bins,):
            raise ValueError(
                f"counts has shape {counts.shape}, expected ({self.binning.num_bins},) "
                "(one count per bin)."
            )
        if self.few > self.many + 1:
            raise ValueError(
                f"Invalid thresholds: few={self.few} > many+1={self.many + 1}; a bin would be both "
                "many- and few-shot. Use few <= many."
            )
        if self.codes is not None:
            codes = np.asarray(self.codes, dtype=np.int64)
            if codes.shape != counts.shape or not np.isin(codes, (MANY, MEDIUM, FEW)).all():
                raise ValueError(
                    f"codes must give one region code (0 many, 1 medium, 2 few) per bin; got "
                    f"shape {codes.shape} for {self.binning.num_bins} bins."
                )
            object.__setattr__(self, "codes", codes)
        else:
            codes = np.full(counts.shape, MEDIUM, dtype=np.int64)
            codes[counts > self.many] = MANY
            codes[counts < self.few] = FEW
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "bin_codes", codes)

    @classmethod
    def fit(
        cls,
        train_labels: torch.Tensor | np.ndarray | Sequence[float],
        bin_width: float = 1.0,
        many: int = 100,
        few: int = 20,
        *,
        lower: float | None = None,
        upper: float | None = None,
    ) -> ShotRegions:
        """Count training labels per bin and classify the bins.

        Parameters
        ----------
        train_labels:
            Training targets of any shape (scalar targets or dense maps); NaN/inf are refused.
        bin_width:
            Width of a bin (1 year for age, 0.1 m for depth).
        many, few:
            A bin with ``> many`` training samples is many-shot, ``< few`` few-shot.
        lower, upper:
            Range the bins must cover (default: the training labels' range). Give the benchmark's
            full range so that test labels beyond the training range still have a bin.

        A :class:`LabelHistogram` as ``train_labels`` brings its own bins and counts
        (``bin_width``, ``lower`` and ``upper`` are then ignored).
        """
        if isinstance(train_labels, LabelHistogram):
            hist = train_labels
            return cls(hist.binning, hist.counts, int(many), int(few), clip_upper=hist.clip_upper)
        labels = as_label_tensor(train_labels, "train_labels")
        binning = Binning.fit(labels, bin_width, lower=lower, upper=upper)
        return cls(binning, binning.counts(labels), int(many), int(few))

    @classmethod
    def from_bins(
        cls,
        binning: Binning,
        bins: dict[str, Sequence[int]],
        counts: np.ndarray | Sequence[int] | None = None,
        *,
        clip_upper: bool = False,
    ) -> ShotRegions:
        """Regions fixed by explicit bin lists, e.g. NYUD2-DIR's bucket lists.

        Parameters
        ----------
        binning:
            The bins.
        bins:
            ``{"many": [...], "medium": [...], "few": [...]}``: bin indices of each region; every
            bin must be listed exactly once.
        counts:
            Training labels per bin (kept for summaries and weights; default all 0).
        clip_upper:
            Labels at or above the last bin's right edge fall in the last bin.
        """
        if set(bins) != set(REGION_NAMES):
            raise ValueError(f"bins must list exactly the regions {list(REGION_NAMES)}; got {sorted(bins)}.")
        codes = np.full(binning.num_bins, -1, dtype=np.int64)
        for code, name in enumerate(REGION_NAMES):
            for b in bins[name]:
                if not 0 <= int(b) < binning.num_bins:
                    raise ValueError(f"Bin {b} of region {name!r} is outside 0..{binning.num_bins - 1}.")
                if codes[int(b)] != -1:
                    raise ValueError(f"Bin {b} is listed in two regions; list every bin once.")
                codes[int(b)] = code
        missing = np.flatnonzero(codes == -1)
        if missing.size:
            raise ValueError(f"Bins {missing.tolist()} are in no region; list every bin once.")
        if counts is None:
            counts = np.zeros(binning.num_bins, dtype=np.int64)
        return cls(binning, np.asarray(counts), codes=codes, clip_upper=bool(clip_upper))

    # -- look-ups ------------------------------------------------------------------------------
    @property
    def bin_width(self) -> float:
        """Width of a bin."""
        return self.binning.bin_width

    @property
    def lower(self) -> float:
        """Left edge of the first bin."""
        return self.binning.lower

    @property
    def num_bins(self) -> int:
        """Number of bins."""
        return self.binning.num_bins

    def bin_index(self, labels: torch.Tensor) -> torch.Tensor:
        """Bin of every label (``torch.long``, same shape and device as ``labels``)."""
        labels = as_label_tensor(labels)
        if self.clip_upper:
            labels = _clipped(labels, self.binning)
        return self.binning.index(labels).to(labels.device)

    def of(self, labels: torch.Tensor) -> torch.Tensor:
        """Region code of every label: 0 many, 1 medium, 2 few (see :data:`REGION_NAMES`)."""
        idx = self.bin_index(labels)
        codes = torch.as_tensor(self.bin_codes, device=idx.device)
        return codes[idx]

    def masks(
        self,
        labels: torch.Tensor,
        region_names: Sequence[str] | None = None,
        *,
        names: Sequence[str] | None = None,
    ) -> dict[str, torch.Tensor]:
        """Boolean mask of each named region over ``labels`` (the one definition of membership).

        ``masks[r][i]`` is true when label ``i`` lies in a bin of region ``r``: every label for
        ``"all"``, else ``bin_codes[bin(label)] == code(r)``. Masks have the shape and device of
        ``labels``. ``region_names`` defaults to :data:`ALL_REGIONS` (``names=`` is its old,
        deprecated spelling).
        """
        _, region_names = region_arguments(None, region_names, names=names, where="masks")
        unknown = [n for n in region_names if n not in ALL_REGIONS]
        if unknown:
            raise ValueError(f"Unknown region name(s) {unknown}; choose from {list(ALL_REGIONS)}.")
        codes = self.of(labels)
        out = {}
        for name in region_names:
            if name == "all":
                out[name] = torch.ones_like(codes, dtype=torch.bool)
            else:
                out[name] = codes == REGION_NAMES.index(name)
        return out

    def bins_in(self, region: str) -> np.ndarray:
        """Indices of the bins of ``region``."""
        if region == "all":
            return np.arange(self.num_bins)
        if region not in REGION_NAMES:
            raise ValueError(f"Unknown region {region!r}; choose from {list(ALL_REGIONS)}.")
        return np.flatnonzero(self.bin_codes == REGION_NAMES.index(region))

    def summary(self) -> dict[str, int]:
        """Number of non-empty training bins per region (empty bins are listed as ``"empty"``)."""
        nonempty = self.counts > 0
        out = {n: int(((self.bin_codes == i) & nonempty).sum()) for i, n in enumerate(REGION_NAMES)}
        out["empty"] = int((~nonempty).sum())
        return out

    def describe(self) -> str:
        """One line for logs and plot captions."""
        s = self.summary()
        if self.codes is not None:
            return (
                f"{self.num_bins} bins of width {self.bin_width:g} from {self.lower:g}, regions "
                f"from fixed bin lists: {s['many']} many-shot, {s['medium']} medium, {s['few']} "
                f"few-shot, {s['empty']} empty"
            )
        return (
            f"{self.num_bins} bins of width {self.bin_width:g} from {self.lower:g}: "
            f"{s['many']} many-shot (> {self.many}), {s['medium']} medium, {s['few']} few-shot "
            f"(< {self.few}), {s['empty']} empty (counted as few)"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ShotRegions):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # mutable numpy payload

    # -- serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """JSON-safe description (inverse of :meth:`from_dict`); ``codes`` and ``clip_upper``
        appear only when set, so threshold regions keep their old description."""
        out = {
            "kind": "ShotRegions",
            **self.binning.to_dict(),
            "many": self.many,
            "few": self.few,
            "counts": self.counts.tolist(),
        }
        if self.codes is not None:
            out["codes"] = self.codes.tolist()
        if self.clip_upper:
            out["clip_upper"] = True
        return out

    @classmethod
    def from_dict(cls, data: dict) -> ShotRegions:
        """Rebuild regions from :meth:`to_dict` output."""
        try:
            binning = Binning(float(data["bin_width"]), float(data["lower"]), int(data["num_bins"]))
            codes = data.get("codes")
            return cls(
                binning,
                np.asarray(data["counts"], dtype=np.int64),
                int(data["many"]),
                int(data["few"]),
                codes=None if codes is None else np.asarray(codes, dtype=np.int64),
                clip_upper=bool(data.get("clip_upper", False)),
            )
        except KeyError as err:
            raise ValueError(
                f"Not a ShotRegions description: key {err} missing (expected the output of "
                "ShotRegions.to_dict())."
            ) from err


def fit_training_regions(
    dataset: Any,
    labels: torch.Tensor,
    *,
    many: int = 100,
    few: int = 20,
    bin_width: float = 1.0,
    lower: float | None = None,
    upper: float | None = None,
) -> tuple[ShotRegions, torch.Tensor | LabelHistogram]:
    """Shot regions of a training split, and the labels (or their histogram) to fit weights on.

    A data set with a ``label_histogram()`` method (NYUD2-DIR: per-pixel counts from one cached
    pass over its files) is counted by it, and one with ``shot_regions(histogram)`` (NYUD2-DIR's
    bucket lists) fixes its own regions; otherwise the regions are fitted on ``labels`` with the
    count thresholds ``many``/``few`` over the bins ``bin_width``, ``lower``, ``upper``.

    Returns
    -------
    regions, counted
        ``counted`` is the :class:`LabelHistogram` when the data set has one, else ``labels``;
        :meth:`bsam.weights.BalanceWeights.fit` takes either.
    """
    counted: torch.Tensor | LabelHistogram = labels
    if callable(getattr(dataset, "label_histogram", None)):
        counted = dataset.label_histogram()
    if callable(getattr(dataset, "shot_regions", None)):
        hist = counted if isinstance(counted, LabelHistogram) else None
        return dataset.shot_regions(hist), counted
    regions = ShotRegions.fit(counted, bin_width, many, few, lower=lower, upper=upper)
    return regions, counted


def _deprecated(message: str) -> None:
    warnings.warn(message, DeprecationWarning, stacklevel=4)


def region_arguments(
    regions: Any,
    region_names: Sequence[str] | None,
    *,
    names: Sequence[str] | None = None,
    default: Sequence[str] | None = ALL_REGIONS,
    where: str = "this function",
) -> tuple[Any, tuple[str, ...] | None]:
    """Resolve a public function's ``(regions, region_names)`` arguments.

    Throughout the toolkit ``regions`` is the :class:`ShotRegions` object and ``region_names`` the
    sequence of region names. Two older spellings still work, with a ``DeprecationWarning``:
    names passed as ``regions=[...]`` and names passed as ``names=[...]``.

    Returns
    -------
    tuple
        ``(regions or None, region_names)``, the names defaulting to ``default`` (``None`` stays
        ``None``: "every region the caller has").
    """
    if isinstance(regions, str) or (
        isinstance(regions, (list, tuple)) and all(isinstance(r, str) for r in regions)
    ):
        _deprecated(
            f"{where}(regions={list(regions)!r}) is deprecated: regions= is the ShotRegions "
            "object; pass the names as region_names=."
        )
        if region_names is not None:
            raise ValueError(
                f"Invalid arguments to {where}: region names given twice (regions={regions!r} and "
                f"region_names={region_names!r}); pass only region_names=."
            )
        regions, region_names = None, [regions] if isinstance(regions, str) else regions
    if names is not None:
        _deprecated(f"{where}(names=...) is deprecated; pass region_names= instead.")
        if region_names is not None:
            raise ValueError(
                f"Invalid arguments to {where}: region names given twice (names={names!r} and "
                f"region_names={region_names!r}); pass only region_names=."
            )
        region_names = names
    if region_names is None:
        return regions, None if default is None else tuple(default)
    return regions, tuple(region_names)
