"""Device resolution shared by every entry point."""

from __future__ import annotations

import torch

__all__ = ["resolve_device"]


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Return the torch device named by ``device``.

    ``"auto"`` (or ``None``) picks CUDA when available, else CPU. Any other value is passed to
    :class:`torch.device`, so ``"cpu"``, ``"cuda:1"`` and device objects work.

    Raises
    ------
    ValueError
        When ``device`` is not a device name, or names a CUDA device that this machine lacks.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(
            f"Invalid device {device!r}: use 'auto', 'cpu', 'cuda' or 'cuda:N'."
        ) from err
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"Invalid device {device!r}: no CUDA device is available; use --device cpu "
                "or --device auto"
            )
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise ValueError(
                f"Invalid device {device!r}: only {count} CUDA device(s) (cuda:0..cuda:"
                f"{count - 1}); use one of them, or --device auto"
            )
    return dev
