"""Per-region regression metrics with the semantics of the DIR benchmarks (Yang et al., 2021).

For the elements (samples, or pixels of dense targets) of a region :math:`R` with absolute errors
:math:`e_i = |\\hat y_i - y_i|`:

- ``mae`` :math:`= \\frac{1}{|R|}\\sum_{i\\in R} e_i` and ``mse`` :math:`= \\frac{1}{|R|}\\sum e_i^2`
  are pooled over the region's elements, ``rmse`` :math:`= \\sqrt{\\text{mse}}`;
- ``gm`` is the geometric mean of the errors, :math:`\\exp(\\frac{1}{|R|}\\sum \\log e_i)`. As in the
  DIR code (``scipy.stats.gmean``), one exact zero error makes it 0; pass ``gm_eps > 0`` to raise
  errors below ``gm_eps`` to ``gm_eps`` first;
- ``bmae`` is the balanced MAE: the unweighted mean, over the bins of the region that hold at least
  one evaluated element, of each bin's MAE;
- ``delta1`` (depth) is the fraction of elements with :math:`\\max(\\hat y/y, y/\\hat y) < 1.25`.

An empty region yields ``n = 0``, NaN for every metric and a :class:`RuntimeWarning`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import torch

from bsam.losses import align
from bsam.regions import ShotRegions, region_arguments

__all__ = ["regression_report", "bin_mae", "format_report", "METRIC_NAMES"]

METRIC_NAMES: tuple[str, ...] = ("mae", "mse", "rmse", "gm", "bmae")


def bin_mae(errors: torch.Tensor, bins: torch.Tensor, num_bins: int) -> tuple[torch.Tensor, torch.Tensor]:
    """MAE and element count of every bin: ``(mae[num_bins], count[num_bins])``; empty bins give NaN."""
    errors = errors.flatten().to(torch.float64)
    bins = bins.flatten()
    total = torch.zeros(num_bins, dtype=torch.float64, device=errors.device).index_add_(0, bins, errors)
    count = torch.bincount(bins, minlength=num_bins).to(torch.float64)
    mae = torch.where(count > 0, total / count.clamp(min=1), torch.full_like(total, math.nan))
    return mae, count


def _region_metrics(
    err: torch.Tensor,
    bins: torch.Tensor,
    num_bins: int,
    gm_eps: float,
    ratio: torch.Tensor | None,
) -> dict[str, float]:
    n = int(err.numel())
    if n == 0:
        out = {"n": 0, **{k: math.nan for k in METRIC_NAMES}}
        if ratio is not None:
            out["delta1"] = math.nan
        return out
    mse = float(err.square().mean())
    gm_err = err.clamp(min=gm_eps) if gm_eps > 0 else err
    with torch.no_grad():
        if bool((gm_err == 0).any()):
            gm = 0.0
        else:
            gm = float(torch.exp(torch.log(gm_err).mean()))
    per_bin, _ = bin_mae(err, bins, num_bins)
    out = {
        "n": n,
        "mae": float(err.mean()),
        "mse": mse,
        "rmse": math.sqrt(mse),
        "gm": gm,
        "bmae": float(per_bin[~torch.isnan(per_bin)].mean()),
    }
    if ratio is not None:
        out["delta1"] = float((ratio < 1.25).to(torch.float64).mean())
    return out


def regression_report(
    pred: torch.Tensor,
    target: torch.Tensor,
    regions: ShotRegions,
    *,
    delta1: bool = False,
    gm_eps: float = 0.0,
    region_names: Sequence[str] | None = None,
    names: Sequence[str] | None = None,
) -> dict[str, dict[str, float]]:
    """Metrics of ``pred`` against ``target`` for every region.

    Parameters
    ----------
    pred, target:
        Predictions and targets; ``pred`` may carry a trailing singleton dimension (``(N, 1)``).
    regions:
        Shot regions fitted on the training labels; each target element takes its bin's region.
    delta1:
        Also report the depth accuracy :math:`\\delta_1` (targets must be positive).
    gm_eps:
        Floor applied to errors in the geometric mean (0 keeps the DIR convention).
    region_names:
        Regions to report, in order (default ``"all", "many", "medium", "few"``); ``names=`` is
        the old, deprecated spelling.

    Returns
    -------
    dict
        ``{"all"|"many"|"medium"|"few": {"n", "mae", "mse", "rmse", "gm", "bmae"[, "delta1"]}}``.
    """
    pred = align(pred.detach(), target.detach())
    target = target.detach()
    if not bool(torch.isfinite(pred).all()):
        raise ValueError("pred contains NaN/inf values; the model diverged or the input is broken.")
    err = (pred.to(torch.float64) - target.to(torch.float64)).abs().flatten()
    _, region_names = region_arguments(None, region_names, names=names, where="regression_report")
    bins = regions.bin_index(target).flatten().to(err.device)
    masks = regions.masks(target, region_names)
    ratio = None
    if delta1:
        p, t = pred.to(torch.float64).flatten(), target.to(torch.float64).flatten()
        if bool((t <= 0).any()) or bool((p <= 0).any()):
            raise ValueError("delta1 needs positive predictions and targets (depth); clamp predictions first.")
        ratio = torch.maximum(p / t, t / p)
    report: dict[str, dict[str, float]] = {}
    for name in region_names:
        mask = masks[name].flatten().to(err.device)
        if not bool(mask.any()):
            warnings.warn(
                f"Region {name!r} has no evaluated element; its metrics are NaN.",
                RuntimeWarning,
                stacklevel=2,
            )
        report[name] = _region_metrics(
            err[mask], bins[mask], regions.num_bins, gm_eps, None if ratio is None else ratio[mask]
        )
    return report


def format_report(report: dict[str, dict[str, float]], *, title: str = "") -> str:
    """Render a report as a fixed-width text table (rows: regions, columns: metrics)."""
    columns = ["n", *METRIC_NAMES]
    if any("delta1" in row for row in report.values()):
        columns.append("delta1")
    lines = [title] if title else []
    lines.append(f"{'region':<8}" + "".join(f"{c:>10}" for c in columns))
    for name, row in report.items():
        cells = []
        for c in columns:
            v = row.get(c, math.nan)
            cells.append(f"{v:>10d}" if c == "n" else f"{v:>10.3f}")
        lines.append(f"{name:<8}" + "".join(cells))
    return "\n".join(lines)
