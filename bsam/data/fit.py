"""Shot regions and balance weights fitted on a training data set's targets."""

from __future__ import annotations

from typing import Any

from bsam.regions import ShotRegions
from bsam.weights import BalanceWeights

__all__ = ["fit_regions", "fit_weights"]


def fit_regions(train_dataset: Any, **kwargs: Any) -> ShotRegions:
    """Fit :class:`~bsam.regions.ShotRegions` on ``train_dataset.targets``.

    Bins of width ``train_dataset.bin_width`` cover ``train_dataset.label_range``; ``kwargs``
    (``many``, ``few``) are passed to :meth:`ShotRegions.fit`.
    """
    lower, upper = train_dataset.label_range
    return ShotRegions.fit(
        train_dataset.targets, train_dataset.bin_width, lower=lower, upper=upper, **kwargs
    )


def fit_weights(train_dataset: Any, **kwargs: Any) -> BalanceWeights:
    """Fit :class:`~bsam.weights.BalanceWeights` on ``train_dataset.targets``.

    Binning as in :func:`fit_regions`; ``kwargs`` (``scheme``, ``lds``, ``clip``,
    ``normalize``) are passed to :meth:`BalanceWeights.fit`.
    """
    lower, upper = train_dataset.label_range
    return BalanceWeights.fit(
        train_dataset.targets, train_dataset.bin_width, lower=lower, upper=upper, **kwargs
    )
