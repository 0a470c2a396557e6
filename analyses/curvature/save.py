"""Curvature results on disk: the full result as JSON and one CSV row per region."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bsam._io import atomic_path, write_json

__all__ = ["save_curvature", "CSV_COLUMNS"]

#: Columns of the CSV summary, one row per region.
CSV_COLUMNS: tuple[str, ...] = (
    "region",
    "num_samples",
    "num_elements",
    "loss",
    "lambda_max",
    "lambda_max_residual",
    "lambda_min",
    "lambda_min_residual",
    "lambda_abs",
    "trace",
    "trace_se",
    "trace_hvps",
    "num_hvps",
    "seconds",
    "lambda_max_converged",
    "lambda_min_converged",
)


def _residual(entry: Mapping[str, Any], which: str) -> float:
    eigen = entry.get("eigen")
    if not eigen:
        return float("nan")
    return float(eigen[which]["residuals"][0])


def _converged(entry: Mapping[str, Any], which: str) -> bool | str:
    eigen = entry.get("eigen")
    return bool(eigen[which]["converged"]) if eigen else ""


def save_curvature(
    result: Mapping[str, Any], path: str | os.PathLike, *, csv_path: str | os.PathLike | None = None
) -> tuple[Path, Path]:
    """Write a :func:`region_curvature` result to JSON (everything) and CSV (one row per region).

    Both files are written atomically. The CSV goes beside the JSON with suffix ``.csv`` unless
    ``csv_path`` is given; its columns are :data:`CSV_COLUMNS` (missing metrics left empty); the
``*_residual`` columns are certified residuals and ``*_converged`` says whether the certified
relative residual met ``tol`` (a False value is not to be read as a number).

    Returns
    -------
    tuple[Path, Path]
        The JSON and CSV paths.
    """
    if "regions" not in result or "provenance" not in result:
        raise ValueError(
            "Invalid result: expected the dict returned by region_curvature with keys "
            "'provenance' and 'regions'."
        )
    path = Path(path)
    csv_file = Path(csv_path) if csv_path is not None else path.with_suffix(".csv")
    if csv_file == path:
        raise ValueError(
            f"Invalid csv_path {csv_file}: it equals the JSON path; pick another name."
        )
    write_json(path, result)
    with atomic_path(csv_file) as tmp, tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(CSV_COLUMNS))
        writer.writeheader()
        for name, entry in result["regions"].items():
            tr = entry.get("trace_detail") or {}
            row = {
                "region": name,
                "num_samples": entry.get("num_samples"),
                "num_elements": entry.get("num_elements"),
                "loss": entry.get("loss"),
                "lambda_max": entry.get("lambda_max", ""),
                "lambda_max_residual": _residual(entry, "LA") if "lambda_max" in entry else "",
                "lambda_min": entry.get("lambda_min", ""),
                "lambda_min_residual": _residual(entry, "SA") if "lambda_min" in entry else "",
                "lambda_abs": entry.get("lambda_abs", ""),
                "trace": entry.get("trace", ""),
                "trace_se": entry.get("trace_se", ""),
                "trace_hvps": tr.get("num_matvecs", "") if "trace" in entry else "",
                "num_hvps": entry.get("num_hvps"),
                "seconds": entry.get("seconds"),
                "lambda_max_converged": _converged(entry, "LA"),
                "lambda_min_converged": _converged(entry, "SA"),
            }
            writer.writerow(
                {
                    k: ("nan" if isinstance(v, float) and math.isnan(v) else v)
                    for k, v in row.items()
                }
            )
    return path, csv_file
