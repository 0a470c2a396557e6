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
            out = model(x)
            preds.append(out.reshape(y.shape).float().cpu())
            targets.append(y.float().cpu())
    if not preds:
        raise ValueError("Cannot evaluate an empty split: it holds no sample")
    return torch.cat(preds), torch.cat(targets)


def evaluate_model(
    model: nn.Module,
    data: Any,
    regions: ShotRegions,
    *,
    batch_size: int = 1024,
    device: str | torch.device | None = None,
    num_workers: int = 0,
) -> dict[str, dict[str, float]]:
    """Per-region report (:func:`bsam.metrics.regression_report`) of ``model`` on ``data``.

    Returns ``{"all"|"many"|"medium"|"few": {"n", "mae", "mse", "rmse", "gm", "bmae"}}``, with
    ``delta1`` added for dense (depth) targets when every prediction is positive.
    """
    pred, target = predict(
        model, data, batch_size=batch_size, device=device, num_workers=num_workers
    )
    dense = target.dim() > 1
    if dense and not bool((pred > 0).all()):
        warnings.warn(
            "delta1 is left out of the report: some depth predictions are <= 0",
            RuntimeWarning,
            stacklevel=2,
        )
        dense = False
    return regression_report(pred, target, regions, delta1=dense)


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
