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
from bsam.errors import CheckpointError

__all__ = [
    "CHECKPOINT_FORMAT",
    "save_checkpoint",
    "load_checkpoint",
    "load_model",
    "load_weights",
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
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        # through a file object the archive's records are named "archive/...", not after the
        # random temporary name: the same checkpoint gives the same bytes (and file_hash)
        torch.save(checkpoint, fh)
    return Path(path)


def load_checkpoint(path: str | os.PathLike, *, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` with ``weights_only=True``.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    IsADirectoryError
        When ``path`` is a folder (e.g. a run folder instead of its ``best.pt``).
    CheckpointError
        A ``ValueError``: the file is not a readable checkpoint of a known format; the message
        says why (empty file, truncated or corrupt, not a PyTorch file, unsafe content).
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(
            f"Checkpoint {path} is a folder; give a checkpoint file such as {path / 'best.pt'}"
        )
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises several types for corrupt/unsafe files
        raise CheckpointError(f"Cannot read checkpoint {path}: {_unreadable(path, err)}") from err
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        found = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(
            f"Invalid checkpoint {path}: format {found!r}, expected {CHECKPOINT_FORMAT!r} "
            "(write it with bsam.checkpoint.save_checkpoint)"
        )
    missing = [k for k in _REQUIRED_KEYS if k not in ckpt]
    if missing:
        raise CheckpointError(f"Invalid checkpoint {path}: missing keys {missing}")
    return ckpt


def _unreadable(path: Path, err: Exception) -> str:
    """Why ``torch.load`` failed on ``path``, in words: empty, truncated, foreign or unsafe."""
    size = path.stat().st_size
    if size == 0:
        return "empty file (0 bytes); the run that wrote it was probably killed, retrain it"
    with path.open("rb") as fh:
        head = fh.read(4)
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if head != b"PK\x03\x04":  # every torch.save file since PyTorch 1.6 is a zip archive
        return f"not a checkpoint ({size} bytes that are not a PyTorch file)"
    if "weights_only" in str(err) or "Unsupported global" in str(err):
        return f"it holds objects that weights_only=True refuses to load ({first})"
    return f"truncated or corrupt ({size} bytes; {first}); retrain or copy it again"


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
    kwargs = dict(spec.get("kwargs") or {})
    # Pretrained initial weights are overwritten by the state dict: do not require the file.
    for init_only in ("weights", "pretrained"):
        kwargs.pop(init_only, None)
    model = build_model(spec["name"], **kwargs)
    load_weights(model, ckpt["model_state"], source=path, stored=spec)
    model.to(resolve_device(device)).eval()
    info = {k: v for k, v in ckpt.items() if k not in _TRAINING_ONLY_KEYS}
    return model, info


def load_weights(
    model: nn.Module,
    state: dict[str, Any],
    *,
    source: str | os.PathLike,
    stored: dict[str, Any] | None = None,
    requested: str | None = None,
) -> None:
    """``model.load_state_dict(state)`` (strict), with a one-line error when they do not fit.

    Parameters
    ----------
    model : nn.Module
        The network to fill (the requested architecture).
    state : dict
        A ``state_dict`` read from ``source``.
    source : path-like
        The checkpoint the state comes from (named in the error).
    stored : dict, optional
        The checkpoint's ``{"name", "kwargs"}`` model entry (named in the error).
    requested : str, optional
        How to name the requested model (default: the class name of ``model``).

    Raises
    ------
    CheckpointError
        When a key is missing or unexpected, or a shape differs: the message names the
        checkpoint's model, the requested one and the first differences.
    """
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        own = model.state_dict()
        missing = sorted(set(own) - set(state))
        extra = sorted(set(state) - set(own))
        shapes = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
        parts = [f"{label} {keys[:3]}" for label, keys in
                 (("missing", missing), ("unexpected", extra), ("other shapes", shapes)) if keys]
        theirs = f"{stored.get('name')} {stored.get('kwargs') or {}}" if stored else "another model"
        raise CheckpointError(
            f"Checkpoint {source} holds the weights of {theirs}, which do not fit the requested "
            f"{requested or type(model).__name__} ({'; '.join(parts) or err}); use the model and "
            "--model-kwargs the checkpoint was trained with, or a checkpoint of this model"
        ) from err


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
