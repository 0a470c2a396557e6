"""One-pass reduction of per-element losses into every region.

Each target element belongs to exactly one group of each *partition*: the whole set (``all``), its
shot region (many/medium/few), inside/outside each user mask, its label bin (``per_bin``). The codes
are computed once per dataset, as a tensor of shape ``target.shape + (P,)`` holding, for each of
the ``P`` partitions, the index of the element's group among all ``G`` groups (or ``G``, a discard
slot, when the group was not asked for). Per batch, the loss and absolute error of every element
are added into all its groups with one ``index_add_``; region means are then

.. math::

    \\bar\\ell_g = \\frac{\\sum_{e \\in g} \\ell_e}{|g|},

exact over the whole dataset (pooled, not a mean of batch means), accumulated in float64.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from bsam.regions import ALL_REGIONS, REGION_NAMES, ShotRegions

__all__ = ["Groups", "build_groups", "reduce_batch", "group_means"]


@dataclass
class Groups:
    """Group membership codes of a dataset's target elements.

    Attributes
    ----------
    names:
        Named groups in order: ``"all"``, then the shot regions asked for, then the user masks.
    num_bins:
        Number of per-bin groups that follow the named ones (0 without ``per_bin``).
    codes:
        ``int32`` tensor of shape ``target.shape + (P,)``: the group index of every element in each
        partition, ``num_groups`` for "not counted".
    counts:
        ``int64`` tensor ``(num_groups,)``: elements per group.
    definition:
        JSON-safe description (regions, mask names and sizes, per_bin), recorded as provenance.
    """

    names: list[str]
    num_bins: int
    codes: torch.Tensor
    counts: torch.Tensor
    definition: dict

    @property
    def num_groups(self) -> int:
        """Named groups plus bins."""
        return len(self.names) + self.num_bins

    def batch_codes(self, start: int, stop: int, device: torch.device) -> torch.Tensor:
        """Flattened codes ``(E * P,)`` of samples ``start:stop`` on ``device``."""
        return self.codes[start:stop].reshape(-1).to(device)


def _check_region_names(region_names: Sequence[str], regions: ShotRegions | None) -> list[str]:
    names = list(dict.fromkeys(region_names))
    unknown = [n for n in names if n not in ALL_REGIONS]
    if unknown:
        raise ValueError(
            f"Invalid region name(s) {unknown}; choose from {list(ALL_REGIONS)} (user-defined "
            "subsets go in masks=)."
        )
    if regions is None and any(n != "all" for n in names):
        raise ValueError(
            f"Regions {[n for n in names if n != 'all']} need regions=ShotRegions(...); pass the "
            "regions fitted on the training labels, or only region_names=('all',)."
        )
    return ["all"] + [n for n in names if n != "all"]


def build_groups(
    targets: torch.Tensor,
    *,
    regions: ShotRegions | None,
    region_names: Sequence[str] = ALL_REGIONS,
    masks: Mapping[str, torch.Tensor] | None = None,
    per_bin: bool = False,
) -> Groups:
    """Compute the group codes of every element of ``targets`` (shape ``(N, ...)``), once.

    Parameters
    ----------
    targets:
        All targets of the dataset, in sample order.
    regions:
        Shot regions (from the training labels), or ``None`` for ``"all"`` and masks only.
    region_names:
        Which of ``"all", "many", "medium", "few"`` to report (``"all"`` is always included).
    masks:
        Extra named subsets: boolean tensors of shape ``(N,)`` (per sample) or ``targets.shape``
        (per element).
    per_bin:
        Also reduce into every label bin of ``regions``.
    """
    targets = targets.detach().cpu()
    names = _check_region_names(region_names, regions)
    masks = dict(masks or {})
    for key, mask in masks.items():
        if not isinstance(key, str) or not key or "/" in key or key in ALL_REGIONS:
            raise ValueError(
                f"Invalid mask name {key!r}; use a non-empty name without '/' that is not one of "
                f"{list(ALL_REGIONS)}."
            )
        mask = torch.as_tensor(mask)
        if mask.dtype != torch.bool or mask.shape not in (targets.shape[:1], targets.shape):
            raise ValueError(
                f"Invalid mask {key!r}: dtype {mask.dtype}, shape {tuple(mask.shape)}; a mask must "
                f"be a bool tensor of shape {tuple(targets.shape[:1])} (samples) or "
                f"{tuple(targets.shape)} (target elements), in dataset order."
            )
        masks[key] = mask
    if per_bin and regions is None:
        raise ValueError("per_bin=True needs regions=ShotRegions(...) to define the bins.")
    names = names + list(masks)
    num_bins = regions.num_bins if per_bin else 0
    total = len(names) + num_bins
    trash = total
    parts = [torch.zeros(targets.shape, dtype=torch.int32)]  # "all" is group 0
    shot = [n for n in names if n in REGION_NAMES]
    if shot:  # the shot regions partition the elements: one code per element
        part = torch.full(targets.shape, trash, dtype=torch.int32)
        for n, mask in regions.masks(targets, shot).items():
            part[mask] = names.index(n)
        parts.append(part)
    for key, mask in masks.items():
        mask = mask.cpu()
        if mask.shape != targets.shape:
            mask = mask.reshape(mask.shape + (1,) * (targets.dim() - 1)).expand(targets.shape)
        idx = names.index(key)
        parts.append(
            torch.where(
                mask, torch.tensor(idx, dtype=torch.int32), torch.tensor(trash, dtype=torch.int32)
            )
        )
    if per_bin:
        parts.append((regions.bin_index(targets) + len(names)).to(torch.int32))
    codes = torch.stack(parts, dim=-1).contiguous()
    counts = torch.bincount(codes.reshape(-1).long(), minlength=total + 1)[:total]
    empty = [n for i, n in enumerate(names) if int(counts[i]) == 0]
    if empty:
        warnings.warn(
            f"Region(s) {empty} hold no sample of this dataset; their losses will be NaN.",
            RuntimeWarning,
            stacklevel=2,
        )
    definition = {
        "names": names,
        "regions": None if regions is None else regions.to_dict(),
        "masks": {k: int(v.sum()) for k, v in masks.items()},
        "per_bin": bool(per_bin),
    }
    return Groups(names, num_bins, codes, counts, definition)


def reduce_batch(
    sums: torch.Tensor, values: torch.Tensor, codes: torch.Tensor, num_partitions: int
) -> None:
    """Add each element's values into every group it belongs to, in place.

    Parameters
    ----------
    sums:
        Accumulator ``(G + 1, Q)`` (the last row collects discarded entries).
    values:
        ``(E, Q)``: ``Q`` quantities (e.g. loss and absolute error) of the batch's ``E`` elements.
    codes:
        ``(E * P,)`` flattened group codes of those elements (:meth:`Groups.batch_codes`).
    num_partitions:
        ``P``.
    """
    src = values.unsqueeze(1).expand(-1, num_partitions, -1).reshape(-1, values.shape[1])
    sums.index_add_(0, codes, src.to(sums.dtype))


def group_means(sums: torch.Tensor, counts: torch.Tensor) -> np.ndarray:
    """Means ``sums[g] / counts[g]`` as float64 (NaN for empty groups); shape ``(G, Q)``."""
    s = sums[: counts.shape[0]].detach().cpu().double().numpy()
    c = counts.cpu().numpy().astype(np.float64)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(c > 0, s / np.where(c > 0, c, 1.0), np.nan)
