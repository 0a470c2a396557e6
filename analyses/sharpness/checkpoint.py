"""Sharpness profiles of ``bsam train`` checkpoints (one per seed) and their balance summary."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

__all__ = ["checkpoint_profiles"]


def checkpoint_profiles(
    paths: Sequence[str | os.PathLike],
    *,
    split: str = "test",
    data: str | None = None,
    root: str | os.PathLike | None = None,
    device: str = "auto",
    gap: bool = True,
    **kwargs: Any,
) -> dict[str, Any]:
    """:func:`~analyses.sharpness.profile.sharpness_profile` of each checkpoint on ``split``.

    The model, the split and the shot regions (fitted on the training split at training time)
    come from :func:`bsam.checkpoint_data.load_checkpoint_data`; with ``gap`` the training and
    test splits are loaded too for the generalization gap. ``kwargs`` go to
    ``sharpness_profile``.

    Returns
    -------
    dict
        ``{"profiles": [profile per checkpoint], "balance": balanced_flatness(profiles)}``.
    """
    from analyses.sharpness.balance import balanced_flatness
    from analyses.sharpness.profile import sharpness_profile
    from bsam.checkpoint_data import load_checkpoint_data

    if not paths:
        raise ValueError("Invalid checkpoints: none given; pass one or more best.pt/last.pt files.")
    profiles = []
    for path in paths:
        loaded = load_checkpoint_data(path, split, data=data, root=root, device=device)
        extra: dict[str, Any] = {}
        if gap:
            for part in ("train", "test"):
                extra[f"{part}_data"] = (
                    loaded.dataset
                    if part == split
                    else load_checkpoint_data(
                        path, part, data=data, root=root, device=device
                    ).dataset
                )
        info = {**loaded.data_info, "epoch": loaded.checkpoint.get("epoch")}
        profiles.append(
            sharpness_profile(
                loaded.model, loaded.dataset, loaded.regions, data_info=info, **extra, **kwargs
            )
        )
    return {"profiles": profiles, "balance": balanced_flatness(profiles)}
