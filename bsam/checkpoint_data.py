"""Everything an analysis of a trained checkpoint needs: model, evaluation data and shot regions.

Surfaces (``bsam surface``), curvature (``bsam hessian``) and the reproduction all start from a
checkpoint written by ``bsam train``; this module is the one place that turns it into
``(model, dataset, regions)``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

__all__ = ["CheckpointData", "load_checkpoint_data"]


@dataclass
class CheckpointData:
    """A checkpoint's model (eval mode), one split of its data set, and its training regions."""

    model: nn.Module
    dataset: Any
    regions: Any  # bsam.regions.ShotRegions
    checkpoint: dict[str, Any]
    data_info: dict[str, Any]


def load_checkpoint_data(
    checkpoint: str | os.PathLike,
    split: str = "test",
    *,
    data: str | None = None,
    root: str | os.PathLike | None = None,
    device: Any = "auto",
) -> CheckpointData:
    """Load ``checkpoint`` with its data set's ``split`` (un-augmented) and its shot regions.

    The data set defaults to the one the checkpoint was trained on (name, root and options);
    ``data``/``root`` override it. The regions are the ones fitted on the training split at
    training time, so test samples take the region of their bin in the *training* histogram.
    """
    from bsam.checkpoint import file_hash, load_model
    from bsam.data import get_dataset
    from bsam.regions import ShotRegions

    checkpoint = Path(checkpoint)
    model, ckpt = load_model(checkpoint, device=device)
    if "regions" not in ckpt:
        raise ValueError(f"Checkpoint {checkpoint} stores no shot regions; it was not written by bsam train.")
    regions = ShotRegions.from_dict(ckpt["regions"])
    stored: dict[str, Any] = ckpt.get("data") or {}
    name = data if data is not None else stored.get("name")
    if name is None:
        raise ValueError(f"Checkpoint {checkpoint} names no data set; pass --data (e.g. agedb-synth).")
    kwargs = dict(stored.get("kwargs") or {}) if data is None else {}
    if data is None and root is None:
        root = stored.get("root")
    dataset = get_dataset(name, split, root=root, **kwargs)
    info = {
        "dataset": name,
        "root": None if root is None else str(root),
        "split": split,
        "checkpoint": str(checkpoint),
        "checkpoint_hash": file_hash(checkpoint),
    }
    return CheckpointData(model, dataset, regions, ckpt, info)
