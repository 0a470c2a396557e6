"""Device resolution shared by every entry point."""

from __future__ import annotations

import torch

__all__ = ["resolve_device"]


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Return the torch device named by ``device``.

    ``"auto"`` (or ``None``) picks CUDA when available, else CPU. Any other value is passed to
    :class:`torch.device`, so ``"cpu"``, ``"cuda:1"`` and device objects work.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except RuntimeError as err:
        raise ValueError(
            f"Invalid device {device!r}: use 'auto', 'cpu', 'cuda' or 'cuda:N'."
        ) from err
