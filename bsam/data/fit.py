"""Shot regions and balance weights fitted on a training data set's targets."""

from __future__ import annotations

from typing import Any

from bsam.regions import ShotRegions, fit_training_regions
from bsam.weights import BalanceWeights

__all__ = ["fit_regions", "fit_weights"]


def _counted(train_dataset: Any, many: int = 100, few: int = 20) -> tuple[ShotRegions, Any]:
    """The training loop's regions and counted labels of ``train_dataset``
    (:func:`bsam.regions.fit_training_regions`: its histogram and bucket lists where it has
    them, its ``bin_targets`` (labels clipped into the last bin) or ``targets`` otherwise)."""
    labels = getattr(train_dataset, "bin_targets", None)
    if labels is None and not callable(getattr(train_dataset, "label_histogram", None)):
        labels = train_dataset.targets
    lower, upper = train_dataset.label_range
    return fit_training_regions(
        train_dataset, labels, many=many, few=few,
        bin_width=train_dataset.bin_width, lower=lower, upper=upper,
    )


def fit_regions(train_dataset: Any, **kwargs: Any) -> ShotRegions:
    """The :class:`~bsam.regions.ShotRegions` that training fits on ``train_dataset``.

    Bins of width ``train_dataset.bin_width`` cover ``train_dataset.label_range``; ``kwargs``
    (``many``, ``few``) are the count thresholds. A data set with fixed regions (NYUD2-DIR's
    bucket lists) or clipped labels (IMDB-WIKI-DIR) gets them as the training loop does.
    """
    return _counted(train_dataset, **kwargs)[0]


def fit_weights(train_dataset: Any, **kwargs: Any) -> BalanceWeights:
    """The :class:`~bsam.weights.BalanceWeights` that training fits on ``train_dataset``.

    Binning and counts as in :func:`fit_regions`; ``kwargs`` (``scheme``, ``lds``, ``clip``,
    ``normalize``) are passed to :meth:`BalanceWeights.fit`.
    """
    _, counted = _counted(train_dataset)
    lower, upper = train_dataset.label_range
    return BalanceWeights.fit(
        counted, train_dataset.bin_width, lower=lower, upper=upper, **kwargs
    )
