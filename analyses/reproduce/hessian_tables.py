"""Table 8 and the flatness-across-regions data, from the Hessian stage's JSON files.

An eigenvalue is trusted only if its certified relative residual is at most the tolerance it was
computed with (:func:`certified`); a cell with an unconverged seed is :class:`NotConverged` in
Table 8 (shown as ``n/c``) and NaN in the flatness data and the few-shot claims, never a number.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

from analyses.reproduce.config import METHOD_LABELS, ReproduceConfig
from analyses.reproduce.paper import paper_tables
from analyses.reproduce.results import mean_std
from analyses.tables import NotConverged
from bsam._io import read_json

__all__ = [
    "table8",
    "table8_vs_paper",
    "flatness_rows",
    "few_shot_means",
    "certified",
    "HESSIAN_METRICS",
    "COMPUTED_BY",
]

HESSIAN_METRICS: tuple[str, ...] = ("lambda_max", "lambda_min", "trace")
_DATA_LABEL = {"train": "train (few-shot samples)", "test": "test"}
_WHICH = {"lambda_max": "LA", "lambda_min": "SA"}


def certified(entry: Mapping, metric: str, tol: float) -> bool:
    """Whether ``entry``'s ``metric`` (lambda_max/lambda_min) has relative residual <= ``tol``.

    The residual rule decides, not a stored flag (files from before the certified residuals
    could say converged at relative residual 260); the entry's own ``tol`` wins over ``tol``.
    Other metrics, and entries without eigen details, count as certified.
    """
    eigen = (entry.get("eigen") or {}).get(_WHICH.get(metric, ""))
    if not eigen:
        return True
    rel = eigen.get("relative_residuals") or [math.nan]
    tol = float(eigen.get("tol") or tol)
    return all(float(r) <= tol for r in rel[:1])


def _collect(
    hessian: Mapping[tuple[str, int, str], Path],
) -> dict[tuple[str, str, str], dict[str, list[float]]]:
    """``{(method, split, region): {metric: [value per seed]}}``."""
    table: dict[tuple[str, str, str], dict[str, list[float]]] = {}
    for (method, _seed, split), path in sorted(hessian.items()):
        data = read_json(path)
        tol = float(((data.get("provenance") or {}).get("settings") or {}).get("tol", 1e-3))
        for region, entry in data["regions"].items():
            cell = table.setdefault(
                (method, split, region), {m: [] for m in (*HESSIAN_METRICS, "trace_se", "computed")}
            )
            cell["computed"].append(entry.get("method", "lanczos"))
            for metric in (*HESSIAN_METRICS, "trace_se"):
                value = entry.get(metric)
                value = math.nan if value is None else float(value)
                cell[metric].append(value if certified(entry, metric, tol) else NotConverged(value))
    return table


#: How a Table 8 cell was computed, by the ``method`` of its seeds' entries.
COMPUTED_BY: dict[str, str] = {
    "gram": "exact (Gram)",
    "lanczos": "Lanczos + Hutch++",
    "lanczos-exact-trace": "Lanczos + exact trace",
}


def _computed(methods: list[str]) -> str:
    """``exact (Gram)``, ``Lanczos + Hutch++``, or both joined when the seeds differ."""
    return " / ".join(COMPUTED_BY.get(m, m) for m in sorted(set(methods)))


def _cell(values: list[float], *, mark: bool) -> tuple[float, float]:
    """``mean_std`` of the seeds; with an unconverged seed: ``n/c`` (``mark``) or NaN."""
    mean, std = mean_std([float(v) for v in values])
    if any(isinstance(v, NotConverged) for v in values):
        return (NotConverged(mean), std) if mark else (math.nan, math.nan)
    return mean, std


def table8(
    cfg: ReproduceConfig, hessian: Mapping[tuple[str, int, str], Path]
) -> tuple[list[dict], list[str]]:
    """Rows (region, data, method) with lambda_max, lambda_min and the trace (Tr(G) for ggn) as mean ± std over seeds.

    The last column, ``computed``, says how the row's numbers were made: exactly from the Gram
    matrix (no stochastic error) or by Lanczos + Hutch++ (:data:`COMPUTED_BY`).

    The few-shot rows come first (training samples, then test samples), as in the paper's
    Table 8; then the other regions on the test split.
    """
    collected = _collect(hessian)
    order = [("few", "train"), ("few", "test")] + [
        (r, "test") for r in cfg.hessian_regions if r != "few"
    ]
    rows = []
    for region, split in order:
        for method in cfg.hessian_methods:
            cell = collected.get((method, split, region))
            if cell is None:
                continue
            rows.append(
                {
                    "region": region,
                    "data": _DATA_LABEL[split],
                    "method": METHOD_LABELS.get(method, method),
                    "seeds": len(cell["trace"]),
                    **{m: _cell(cell[m], mark=True) for m in HESSIAN_METRICS},
                    "computed": _computed(cell["computed"]),
                }
            )
    return rows, ["region", "data", "method", "seeds", *HESSIAN_METRICS, "computed"]


def flatness_rows(cfg: ReproduceConfig, hessian: Mapping[tuple[str, int, str], Path]) -> list[dict]:
    """``{"method", "region", "seeds", "lambda_max", "trace"}`` rows (test split, mean ± std over
    ``seeds`` seeds)."""
    collected = _collect(hessian)
    rows = []
    for method in cfg.hessian_methods:
        for region in cfg.hessian_regions:
            cell = collected.get((method, "test", region))
            if cell is not None:
                rows.append(
                    {
                        "method": method,
                        "region": region,
                        "seeds": len(cell["trace"]),
                        **{m: _cell(cell[m], mark=False) for m in ("lambda_max", "trace")},
                    }
                )
    return rows


def few_shot_means(
    cfg: ReproduceConfig, hessian: Mapping[tuple[str, int, str], Path], *, std: bool = False
) -> dict[str, dict[str, float]]:
    """Mean (or, with ``std``, standard deviation over seeds) of the few-shot lambda_max and trace
    on the training samples, per method (Table 8's claim)."""
    collected = _collect(hessian)
    out = {}
    for method in cfg.hessian_methods:
        cell = collected.get((method, "train", "few"))
        if cell is not None:
            out[method] = {m: _cell(cell[m], mark=False)[int(std)] for m in ("lambda_max", "trace")}
    return out


def table8_vs_paper(
    cfg: ReproduceConfig, hessian: Mapping[tuple[str, int, str], Path]
) -> tuple[list[dict], list[str]]:
    """Table 8 beside ours: the paper's few-shot lambda_max and Tr(H) (AgeDB-DIR, mean of 3 runs)
    and ours on the few-shot *training* samples (mean ± std over seeds; ``n/c`` where a seed did
    not converge), with the matrix each row measures (``H`` for the paper; ours is
    ``cfg.curvature``'s, so the trace of a ``ggn`` run is Tr(G), not Tr(H))."""
    collected = _collect(hessian)
    rows: list[dict] = [
        {"source": "paper, AgeDB-DIR", "method": label, "seeds": 3, "matrix": "H",
         "lambda_max": values.get("lambda_max"), "trace": values.get("trace")}
        for label, values in paper_tables()["table8_few_shot_hessian_agedb_mean_of_3"].items()
    ]
    matrix = {"hessian": "H", "ggn": "G"}.get(cfg.curvature, cfg.curvature)
    for method in cfg.hessian_methods:
        cell = collected.get((method, "train", "few"))
        if cell is None:
            continue
        rows.append({"source": f"ours, {cfg.data}", "method": METHOD_LABELS.get(method, method),
                     "seeds": len(cell["trace"]), "matrix": matrix,
                     **{m: _cell(cell[m], mark=True) for m in ("lambda_max", "trace")}})
    return rows, ["source", "method", "seeds", "matrix", "lambda_max", "trace"]
