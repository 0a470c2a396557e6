"""Evaluation: predictions over a split in large batches, per-region reports, checkpoint evaluation."""

from __future__ import annotations

import os
import warnings
from typing import Any

import torch
from torch import nn

from bsam._state import eval_mode
from bsam.batches import Batches, split_tensors
from bsam.device import resolve_device
from bsam.metrics import regression_report
from bsam.regions import ShotRegions

__all__ = ["split_tensors", "predict", "evaluate_model", "evaluate_checkpoint"]


@torch.inference_mode()
def predict(
    model: nn.Module,
    data: Any,
    *,
    batch_size: int = 1024,
    device: str | torch.device | None = None,
    num_workers: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Predictions of ``model`` (in eval mode) over a whole split.

    Parameters
    ----------
    model : nn.Module
        The network; it is put in eval mode and its mode is restored afterwards.
    data : Dataset, DataLoader or (inputs, targets)
        The split, read in order by :class:`bsam.batches.Batches`: in-memory splits
        (:func:`split_tensors`) are sliced directly, others are read with a
        :class:`~torch.utils.data.DataLoader`.
    batch_size : int
        Samples per forward pass.
    device : str or torch.device, optional
        Where to compute (default: the device of the model's first parameter).
    num_workers : int
        DataLoader workers for on-disk data.

    Returns
    -------
    pred, target : torch.Tensor
        Predictions reshaped to the targets' shape, and the targets, both on the CPU, float32.
        A dense prediction ``(B, 1, h, w)`` of another size than its targets ``(B, H, W)`` is
        first upsampled bilinearly with ``align_corners=True`` (NYUD2-DIR's ``test.py``).
    """
    if batch_size < 1:
        raise ValueError(f"Invalid batch_size {batch_size}: must be >= 1")
    if device is None:
        first = next(model.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")
    device = resolve_device(device)
    preds, targets = [], []
    batches = Batches(data, batch_size=batch_size, device=device, num_workers=num_workers)
    with eval_mode(model):
        for _, _, x, y in batches:
            out = _resized(model(x), y)
            preds.append(out.reshape(y.shape).float().cpu())
            targets.append(y.float().cpu())
    if not preds:
        raise ValueError("Cannot evaluate an empty split: it holds no sample")
    return torch.cat(preds), torch.cat(targets)


def _resized(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``out`` (``(B, 1, h, w)``) upsampled to the spatial size of dense targets ``y``."""
    if out.dim() == 4 and y.dim() == 3 and out.shape[1] == 1 and out.shape[-2:] != y.shape[-2:]:
        size = tuple(y.shape[-2:])
        return torch.nn.functional.interpolate(out, size=size, mode="bilinear", align_corners=True)
    return out


#: Floor of depth predictions in the ratio metrics of :func:`evaluate_model` (metres).
MIN_DEPTH = 1e-3


def evaluate_model(
    model: nn.Module,
    data: Any,
    regions: ShotRegions,
    *,
    batch_size: int = 1024,
    device: str | torch.device | None = None,
    num_workers: int = 0,
    mask: torch.Tensor | None = None,
) -> dict[str, dict[str, float]]:
    """Per-region report (:func:`bsam.metrics.regression_report`) of ``model`` on ``data``.

    Returns ``{"all"|"many"|"medium"|"few": {"n", "mae", "mse", "rmse", "gm", "bmae"}}``; for
    dense (depth) targets every region also has ``delta1``, ``delta2``, ``delta3``, ``absrel``
    and ``log10`` (:data:`bsam.metrics.DEPTH_METRIC_NAMES`), with predictions floored at
    :data:`MIN_DEPTH` in the ratio metrics (a warning says how many), and they are left out
    (with a warning) when some evaluated target is ``<= 0``.

    Every metric is computed on the elements of ``mask`` (bool, the targets' shape), by default
    the data set's ``eval_mask`` when it has one (NYUD2-DIR's balanced test pixels,
    :attr:`bsam.data.nyud2.NYUD2Dataset.eval_mask`).
    """
    pred, target = predict(
        model, data, batch_size=batch_size, device=device, num_workers=num_workers
    )
    if mask is None:
        mask = getattr(data, "eval_mask", None)
    dense = target.dim() > 1
    if dense:
        kept = target if mask is None else target[mask.to(torch.bool)]
        low = int((pred if mask is None else pred[mask.to(torch.bool)]).le(MIN_DEPTH).sum())
        if not bool((kept > 0).all()):
            warnings.warn(
                "Depth metrics are left out of the report: some evaluated targets are <= 0",
                RuntimeWarning,
                stacklevel=2,
            )
            dense = False
        elif low:
            warnings.warn(
                f"{low} depth prediction(s) <= {MIN_DEPTH} m are floored at {MIN_DEPTH} m in the "
                "ratio metrics (delta1..3, log10)",
                RuntimeWarning,
                stacklevel=2,
            )
    return regression_report(
        pred, target, regions, depth=dense, mask=mask, min_depth=MIN_DEPTH if dense else None
    )


def evaluate_checkpoint(
    path: str | os.PathLike,
    *,
    split: str = "test",
    data: str | None = None,
    root: str | os.PathLike | None = None,
    device: str | torch.device = "auto",
    batch_size: int = 1024,
) -> dict[str, Any]:
    """Evaluate a checkpoint on one split of its data set (or of another one).

    The model, the split and the shot regions come from
    :func:`bsam.checkpoint_data.load_checkpoint_data`: the regions are those stored in the
    checkpoint (fitted on its training split), so the numbers match the ones written during
    training.

    Parameters
    ----------
    path : path-like
        A ``best.pt`` / ``last.pt`` written by :func:`bsam.train.train`.
    split : {"train", "val", "test"}
        Split to evaluate.
    data, root : optional
        Data set name and root folder; default: those stored in the checkpoint.
    device : str or torch.device
        ``"auto"``, ``"cpu"``, ``"cuda"``...
    batch_size : int
        Samples per forward pass.

    Returns
    -------
    dict
        ``{"checkpoint", "file_hash", "epoch", "data", "split", "report"}``.
    """
    from bsam.checkpoint_data import load_checkpoint_data

    loaded = load_checkpoint_data(path, split, data=data, root=root, device=device)
    report = evaluate_model(
        loaded.model,
        loaded.dataset,
        loaded.regions,
        batch_size=batch_size,
        device=resolve_device(device),
    )
    info = loaded.data_info
    return {
        "checkpoint": info["checkpoint"],
        "file_hash": info["checkpoint_hash"],
        "epoch": int(loaded.checkpoint["epoch"]),
        "data": {"name": info["dataset"], "root": info["root"]},
        "split": split,
        "report": report,
    }
