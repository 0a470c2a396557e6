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
- depth metrics (``depth=True``), as NYUD2-DIR's ``Evaluator.evaluate`` computes them
  (``nyud2-dir/util.py``, github.com/YyzHarry/imbalanced-regression): ``delta1``, ``delta2``,
  ``delta3`` are the fractions of elements with :math:`\\max(\\hat y/y, y/\\hat y) \\le 1.25^k`
  (``<=``, as ``torch.le`` there), ``absrel`` :math:`= \\frac{1}{|R|}\\sum |\\hat y - y| / y` and
  ``log10`` :math:`= \\frac{1}{|R|}\\sum |\\log_{10}\\hat y - \\log_{10} y|`. Targets must be
  positive; predictions must be too, unless ``min_depth`` is given: the ratio metrics
  (``delta*``, ``log10``) then use :math:`\\max(\\hat y, \\text{min\\_depth})` (DIR's code has no such
  floor: a negative prediction there counts as accurate in ``delta*`` and makes ``log10`` NaN).

``mask`` (a boolean tensor of the targets' shape, e.g. NYUD2-DIR's balanced test pixels
``test_balanced_mask.npy``) restricts every metric, ``"all"`` included, to its true elements.

An empty region yields ``n = 0``, NaN for every metric and a :class:`RuntimeWarning`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import torch

from bsam.losses import align
from bsam.regions import ShotRegions, region_arguments

__all__ = ["regression_report", "bin_mae", "format_report", "METRIC_NAMES", "DEPTH_METRIC_NAMES"]

METRIC_NAMES: tuple[str, ...] = ("mae", "mse", "rmse", "gm", "bmae")
#: Metrics added by ``regression_report(..., depth=True)`` (NYUD2-DIR's ``Evaluator``).
DEPTH_METRIC_NAMES: tuple[str, ...] = ("delta1", "delta2", "delta3", "absrel", "log10")


def bin_mae(errors: torch.Tensor, bins: torch.Tensor, num_bins: int) -> tuple[torch.Tensor, torch.Tensor]:
    """MAE and element count of every bin: ``(mae[num_bins], count[num_bins])``; empty bins give NaN."""
    errors = errors.flatten().to(torch.float64)
    bins = bins.flatten()
    total = torch.zeros(num_bins, dtype=torch.float64, device=errors.device).index_add_(0, bins, errors)
    count = torch.bincount(bins, minlength=num_bins).to(torch.float64)
    mae = torch.where(count > 0, total / count.clamp(min=1), torch.full_like(total, math.nan))
    return mae, count


def _depth_metrics(
    err: torch.Tensor, ratio: torch.Tensor, target: torch.Tensor, log_err: torch.Tensor
) -> dict[str, float]:
    return {
        "delta1": float((ratio <= 1.25).to(torch.float64).mean()),
        "delta2": float((ratio <= 1.25**2).to(torch.float64).mean()),
        "delta3": float((ratio <= 1.25**3).to(torch.float64).mean()),
        "absrel": float((err / target).mean()),
        "log10": float(log_err.mean()),
    }


def _region_metrics(
    err: torch.Tensor,
    bins: torch.Tensor,
    num_bins: int,
    gm_eps: float,
    depth: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None,
    depth_keys: tuple[str, ...],
) -> dict[str, float]:
    n = int(err.numel())
    if n == 0:
        return {"n": 0, **{k: math.nan for k in METRIC_NAMES}, **{k: math.nan for k in depth_keys}}
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
    if depth is not None:
        values = _depth_metrics(err, *depth)
        out.update({k: values[k] for k in depth_keys})
    return out


def regression_report(
    pred: torch.Tensor,
    target: torch.Tensor,
    regions: ShotRegions,
    *,
    delta1: bool = False,
    depth: bool = False,
    mask: torch.Tensor | None = None,
    min_depth: float | None = None,
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
    depth:
        Report every depth metric (:data:`DEPTH_METRIC_NAMES`; implies ``delta1``).
    mask:
        Boolean tensor of ``target``'s shape: evaluate only its true elements (module docstring).
    min_depth:
        Floor of the predictions in the ratio metrics; ``None``: a non-positive prediction raises.
    gm_eps:
        Floor applied to errors in the geometric mean (0 keeps the DIR convention).
    region_names:
        Regions to report, in order (default ``"all", "many", "medium", "few"``); ``names=`` is
        the old, deprecated spelling.

    Returns
    -------
    dict
        ``{"all"|"many"|"medium"|"few": {"n", "mae", "mse", "rmse", "gm", "bmae"[, "delta1"]}}``;
        with ``depth=True`` every region also has ``delta1``, ``delta2``, ``delta3``, ``absrel``
        and ``log10``.
    """
    pred = align(pred.detach(), target.detach())
    target = target.detach()
    if not bool(torch.isfinite(pred).all()):
        raise ValueError("pred contains NaN/inf values; the model diverged or the input is broken.")
    if mask is not None:
        mask = mask.to(torch.bool)
        if tuple(mask.shape) != tuple(target.shape):
            raise ValueError(
                f"mask has shape {tuple(mask.shape)}, target {tuple(target.shape)}; give one flag "
                "per target element."
            )
        mask = mask.to(target.device)
        pred, target = pred[mask], target[mask]
    p, t = pred.to(torch.float64).flatten(), target.to(torch.float64).flatten()
    err = (p - t).abs()
    _, region_names = region_arguments(None, region_names, names=names, where="regression_report")
    bins = regions.bin_index(t).to(err.device)
    masks = regions.masks(t, region_names)
    depth_keys = DEPTH_METRIC_NAMES if depth else ("delta1",) if delta1 else ()
    extra = None
    if depth_keys:
        if bool((t <= 0).any()):
            raise ValueError("Depth metrics need positive targets; mask out pixels without depth.")
        if min_depth is not None:
            p = p.clamp(min=float(min_depth))
        elif bool((p <= 0).any()):
            raise ValueError(
                "Depth metrics need positive predictions; clamp predictions first or pass min_depth."
            )
        ratio = torch.maximum(p / t, t / p)
        extra = (ratio, t, (torch.log10(p) - torch.log10(t)).abs())
    report: dict[str, dict[str, float]] = {}
    for name in region_names:
        keep = masks[name].to(err.device)
        if not bool(keep.any()):
            warnings.warn(
                f"Region {name!r} has no evaluated element; its metrics are NaN.",
                RuntimeWarning,
                stacklevel=2,
            )
        part = None if extra is None else tuple(v[keep] for v in extra)
        report[name] = _region_metrics(err[keep], bins[keep], regions.num_bins, gm_eps, part, depth_keys)
    return report


def format_report(report: dict[str, dict[str, float]], *, title: str = "") -> str:
    """Render a report as a fixed-width text table (rows: regions, columns: metrics)."""
    columns = ["n", *METRIC_NAMES]
    columns += [k for k in DEPTH_METRIC_NAMES if any(k in row for row in report.values())]
    lines = [title] if title else []
    lines.append(f"{'region':<8}" + "".join(f"{c:>10}" for c in columns))
    for name, row in report.items():
        cells = []
        for c in columns:
            v = row.get(c, math.nan)
            cells.append(f"{v:>10d}" if c == "n" else f"{v:>10.3f}")
        lines.append(f"{name:<8}" + "".join(cells))
    return "\n".join(lines)
