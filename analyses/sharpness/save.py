"""Writing sharpness profiles: JSON with provenance, CSV with one row per (profile, window)."""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bsam._io import atomic_path, write_json

__all__ = ["save_profiles", "csv_columns"]


def csv_columns(profiles: Sequence[Mapping[str, Any]]) -> list[str]:
    """Columns of the CSV: ``profile`` then every window key, in first-seen order."""
    cols: dict[str, None] = {"profile": None}
    for p in profiles:
        for w in p["windows"]:
            cols.update(dict.fromkeys(w))
    return list(cols)


def save_profiles(
    result: Mapping[str, Any],
    path: str | os.PathLike,
    *,
    csv_path: str | os.PathLike | None = None,
) -> tuple[Path, Path]:
    """Write ``result`` (``{"profiles": [...], ...}``) to JSON and its windows to CSV, atomically.

    ``csv_path`` defaults to ``path`` with the suffix ``.csv``. Returns both paths.
    """
    json_path = Path(path)
    csv_file = Path(csv_path) if csv_path is not None else json_path.with_suffix(".csv")
    write_json(json_path, result)
    profiles = result["profiles"]
    cols = csv_columns(profiles)
    with atomic_path(csv_file) as tmp, tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=cols)
        writer.writeheader()
        for i, p in enumerate(profiles):
            for w in p["windows"]:
                writer.writerow({"profile": i, **w})
    return json_path, csv_file
