"""Checkpoint files: atomic save, safe load (``weights_only=True``), model rebuild and hashing.

A checkpoint is a plain dict written with :func:`torch.save`::

    {"format": "bsam-checkpoint/1",
     "model": {"name": str, "kwargs": dict},      # rebuilt with bsam.models.build_model
     "model_state": state_dict, "optimizer_state": dict | None, "scheduler_state": dict | None,
     "epoch": int,                                # epochs completed
     "config": dict,                              # resolved TrainConfig, JSON-safe
     "data": {"name": str, "root": str | None, "kwargs": dict},
     "regions": dict,                             # ShotRegions.to_dict()
     "rng": dict,                                 # RNG states for an exact resume
     "metrics": dict}                             # validation report of this epoch, history

Only tensors, numbers, strings, lists and dicts are stored, so every file loads with
``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bsam._io import atomic_path
from bsam.device import resolve_device

__all__ = [
    "CHECKPOINT_FORMAT",
    "save_checkpoint",
    "load_checkpoint",
    "load_model",
    "file_hash",
]

#: Value of the ``"format"`` key of every checkpoint this version writes.
CHECKPOINT_FORMAT = "bsam-checkpoint/1"
_REQUIRED_KEYS = ("format", "model", "model_state", "epoch")
_TRAINING_ONLY_KEYS = ("optimizer_state", "scheduler_state", "rng")


def save_checkpoint(path: str | os.PathLike, checkpoint: dict[str, Any]) -> Path:
    """Write ``checkpoint`` to ``path`` atomically (temporary file, then rename).

    Parameters
    ----------
    path : path-like
        Destination file; parent folders are created.
    checkpoint : dict
        Must hold at least ``model`` (``{"name", "kwargs"}``), ``model_state`` and ``epoch``;
        ``format`` is set to :data:`CHECKPOINT_FORMAT` when absent.

    Returns
    -------
    Path
        ``path``.
    """
    missing = [k for k in _REQUIRED_KEYS if k != "format" and k not in checkpoint]
    if missing:
        raise ValueError(
            f"Invalid checkpoint: missing keys {missing}; a checkpoint needs {list(_REQUIRED_KEYS)}"
        )
    checkpoint = {"format": CHECKPOINT_FORMAT, **checkpoint}
    with atomic_path(path) as tmp:
        torch.save(checkpoint, tmp)
    return Path(path)


def load_checkpoint(path: str | os.PathLike, *, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` with ``weights_only=True``.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        When the file is not a readable checkpoint of a known format.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises several types for corrupt/unsafe files
        raise ValueError(f"Cannot read checkpoint {path}: {err}") from err
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        found = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ValueError(
            f"Invalid checkpoint {path}: format {found!r}, expected {CHECKPOINT_FORMAT!r} "
            "(write it with bsam.checkpoint.save_checkpoint)"
        )
    missing = [k for k in _REQUIRED_KEYS if k not in ckpt]
    if missing:
        raise ValueError(f"Invalid checkpoint {path}: missing keys {missing}")
    return ckpt


def load_model(
    path: str | os.PathLike, device: str | torch.device = "auto"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model stored in a checkpoint, on ``device``, in eval mode.

    The architecture comes from ``ckpt["model"]`` through :func:`bsam.models.build_model`.

    Returns
    -------
    model : nn.Module
        The network with the checkpoint's weights, in eval mode, on ``device``.
    checkpoint : dict
        The checkpoint without its training-only entries (optimizer, scheduler and RNG states).
    """
    from bsam.models import build_model  # late import: models import nothing from here

    ckpt = load_checkpoint(path)
    spec = ckpt["model"]
    if not isinstance(spec, dict) or "name" not in spec:
        raise ValueError(f"Invalid checkpoint {path}: 'model' must be a dict with a 'name'")
    model = build_model(spec["name"], **dict(spec.get("kwargs") or {}))
    model.load_state_dict(ckpt["model_state"])
    model.to(resolve_device(device)).eval()
    info = {k: v for k, v in ckpt.items() if k not in _TRAINING_ONLY_KEYS}
    return model, info


def file_hash(path: str | os.PathLike) -> str:
    """Return the first 16 hex digits of the SHA-256 of the file at ``path`` (for provenance)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"File not found: {path}")
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]
