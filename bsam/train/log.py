"""The per-epoch log of a run: ``log.csv`` columns and its atomic writer."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from bsam._io import atomic_path
from bsam.regions import ALL_REGIONS

__all__ = ["LOG_COLUMNS", "VAL_METRICS", "write_log", "epoch_row"]

#: Validation metrics logged per region.
VAL_METRICS: tuple[str, ...] = ("mae", "bmae")
#: Columns of ``log.csv``.
LOG_COLUMNS: tuple[str, ...] = (
    "epoch",
    "step",
    "lr",
    "train_loss",
    *(f"val_{m}_{r}" for m in VAL_METRICS for r in ALL_REGIONS),
    "seconds",
    "eval_seconds",
)


def epoch_row(
    epoch: int,
    step: int,
    lr: float,
    train_loss: float,
    val: dict[str, dict[str, float]],
    *,
    seconds: float,
    eval_seconds: float,
) -> dict[str, float]:
    """One ``log.csv`` row: epoch, global step, first learning rate of the epoch, mean training
    loss, validation MAE/bMAE per region (``val`` is a region report), seconds (epoch total, of
    which evaluation)."""
    return {
        "epoch": epoch,
        "step": step,
        "lr": lr,
        "train_loss": train_loss,
        **{f"val_{m}_{r}": val[r][m] for m in VAL_METRICS for r in ALL_REGIONS},
        "seconds": seconds,
        "eval_seconds": eval_seconds,
    }


def write_log(path: Path, history: list[dict[str, float]]) -> None:
    """Write ``history`` (rows of :func:`epoch_row`) to ``path`` as CSV, atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(LOG_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: row.get(k, "") for k in LOG_COLUMNS})
    with atomic_path(path) as tmp:
        tmp.write_text(buf.getvalue())
