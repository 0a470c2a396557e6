"""Tables of the reproduction, built from the runs' ``metrics.json`` (the paper's Tables 1, 5, 6, 7).

Every table is a list of row dicts; numbers over several seeds are ``(mean, std)`` tuples (sample
standard deviation, ``ddof=1``; NaN with one seed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from analyses.reproduce.config import ABLATION_RHOS, METHOD_LABELS, ReproduceConfig
from analyses.reproduce.paper import paper_mae
from analyses.reproduce.stages import RunOutput

__all__ = [
    "mean_std",
    "runs_of",
    "mae_table",
    "paper_comparison",
    "table5",
    "table6",
    "table7",
    "rho_ablation",
    "REGION_COLUMNS",
]

REGION_COLUMNS: tuple[str, ...] = ("all", "many", "medium", "few")


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """``(mean, sample std)`` of ``values`` (std NaN for a single value, both NaN for none)."""
    arr = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if arr.size == 0:
        return (math.nan, math.nan)
    return (float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else math.nan)


def runs_of(runs: dict[tuple[str, int], RunOutput], name: str) -> list[RunOutput]:
    """The runs named ``name`` (every seed), in seed order."""
    return [runs[k] for k in sorted(runs) if k[0] == name]


def _row(label: str, outs: list[RunOutput], metrics: Sequence[str]) -> dict:
    row: dict = {"method": label, "seeds": len(outs)}
    for metric in metrics:
        for region in REGION_COLUMNS:
            values = [o.test_metric(region, metric) for o in outs]
            row[f"{metric}_{region}"] = mean_std(values)
    return row


def mae_table(
    runs: dict[tuple[str, int], RunOutput],
    names: Sequence[str],
    metrics: Sequence[str] = ("mae", "gm"),
) -> tuple[list[dict], list[str]]:
    """Test metrics per region for each run name (mean ± std over seeds): the paper's Table 1 layout.

    Returns the rows and the column keys (``method``, ``seeds``, then ``<metric>_<region>``).
    """
    rows = [_row(METHOD_LABELS.get(n, n), runs_of(runs, n), metrics) for n in names if runs_of(runs, n)]
    columns = ["method", "seeds"] + [f"{m}_{r}" for m in metrics for r in REGION_COLUMNS]
    return rows, columns


def paper_comparison(runs: dict[tuple[str, int], RunOutput], names: Sequence[str]) -> tuple[list[dict], list[str]]:
    """Our test MAE next to the paper's (AgeDB-DIR, ResNet-18) per region, where the paper has one."""
    rows = []
    for name in names:
        outs = runs_of(runs, name)
        if not outs:
            continue
        row: dict = {"method": METHOD_LABELS.get(name, name)}
        for region in REGION_COLUMNS:
            row[f"ours_{region}"] = mean_std([o.test_metric(region) for o in outs])
            paper = paper_mae(name, region)
            row[f"paper_{region}"] = math.nan if paper is None else paper
        rows.append(row)
    columns = ["method"] + [f"{w}_{r}" for r in REGION_COLUMNS for w in ("ours", "paper")]
    return rows, columns


def table5(runs: dict[tuple[str, int], RunOutput]) -> tuple[list[dict], list[str]]:
    """Table 5: descent loss of BSAM: vanilla L1 vs SQINV-weighted L1 (both with SQINV perturbation)."""
    return mae_table(runs, ["vanilla", "bsam-vanilla-descent", "sqinv", "bsam"], metrics=("mae",))


def table6(runs: dict[tuple[str, int], RunOutput]) -> tuple[list[dict], list[str]]:
    """Table 6: SQINV combined with SAM, ImbSAM and BSAM."""
    return mae_table(runs, ["sqinv", "sam", "imbsam", "bsam"], metrics=("mae", "gm"))


def table7(runs: dict[tuple[str, int], RunOutput]) -> tuple[list[dict], list[str]]:
    """Table 7: BSAM's perturbation weights, INV vs SQINV."""
    return mae_table(runs, ["bsam-inv", "bsam"], metrics=("mae", "gm"))


def rho_ablation(cfg: ReproduceConfig, runs: dict[tuple[str, int], RunOutput]) -> tuple[list[dict], list[str]]:
    """Figure 2's data: test MAE (all, few) against rho for SAM, ImbSAM, BSAM, and the SQINV baseline."""
    seed = cfg.seeds[0]
    rows = []
    base = runs.get(("sqinv", seed))
    for rho in ABLATION_RHOS:
        row: dict = {"rho": rho}
        for method in ("sam", "imbsam", "bsam"):
            name = method if rho == cfg.recipe.rho else f"{method}-rho{rho:g}"
            run = runs.get((name, seed))
            for region in ("all", "few"):
                row[f"{method}_{region}"] = run.test_metric(region) if run else math.nan
        for region in ("all", "few"):
            row[f"sqinv_{region}"] = base.test_metric(region) if base else math.nan
        rows.append(row)
    columns = ["rho"] + [f"{m}_{r}" for m in ("sqinv", "sam", "imbsam", "bsam") for r in ("all", "few")]
    return rows, columns
