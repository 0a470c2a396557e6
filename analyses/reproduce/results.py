"""Tables of the reproduction, built from the runs' ``metrics.json`` (the paper's Tables 1-7).

Every table is a list of row dicts; numbers over several seeds are ``(mean, std)`` tuples (sample
standard deviation, ``ddof=1``; NaN with one seed).

The ``*_vs_paper`` builders set our runs beside the paper's rows (:mod:`analyses.reproduce.paper`)
in one table with a ``source`` column: ``paper, <data set>`` for the paper's rows (its quoted
baselines keep their ``(quoted)`` mark) and ``ours, <data>`` for ours. The paper's data set of a
run is the one its data copies (:func:`paper_dataset`: ``agedb-synth`` -> AgeDB-DIR, whose
counts it copies). A value that neither the paper nor a run gives is ``None`` (shown as "–" in
Markdown, an empty CSV cell), never filled in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from analyses.reproduce.config import ABLATION_RHOS, METHOD_LABELS, ReproduceConfig
from analyses.reproduce.paper import paper_mae, paper_tables, region_values
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
    "PAPER_DATASETS",
    "paper_dataset",
    "test_metric_or_none",
    "paper_rows",
    "our_rows",
    "dir_table_vs_paper",
    "table4_vs_paper",
    "table5_vs_paper",
    "table6_vs_paper",
    "table7_vs_paper",
    "figure1_vs_paper",
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
            name = method if rho == cfg.recipe.rho_by_method.get(method) else f"{method}-rho{rho:g}"
            run = runs.get((name, seed))
            for region in ("all", "few"):
                row[f"{method}_{region}"] = run.test_metric(region) if run else math.nan
        for region in ("all", "few"):
            row[f"sqinv_{region}"] = base.test_metric(region) if base else math.nan
        rows.append(row)
    columns = ["rho"] + [f"{m}_{r}" for m in ("sqinv", "sam", "imbsam", "bsam") for r in ("all", "few")]
    return rows, columns


# -- the paper's tables beside ours ---------------------------------------------------------------
#: The paper's DIR data sets: name -> (its per-region table key in the data file, its metrics).
PAPER_DATASETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "AgeDB-DIR": ("table1_agedb_dir", ("mae", "gm")),
    "IMDB-WIKI-DIR": ("table2_imdb_wiki_dir", ("mae", "gm")),
    "NYUD2-DIR": ("table3_nyud2_dir", ("rmse", "delta1")),
}


def paper_dataset(data: str) -> str:
    """The paper's data set whose tables a run on ``data`` is set beside.

    ``imdb-*`` (``imdb-wiki-dir``, and ``imdb-synth`` which copies its counts) -> IMDB-WIKI-DIR,
    ``nyud2-*`` -> NYUD2-DIR, everything else (``agedb-dir``, ``agedb-synth``, which copies
    AgeDB-DIR's per-age counts) -> AgeDB-DIR.
    """
    name = data.lower()
    if name.startswith("imdb"):
        return "IMDB-WIKI-DIR"
    if name.startswith("nyud"):
        return "NYUD2-DIR"
    return "AgeDB-DIR"


def test_metric_or_none(run: RunOutput, region: str, metric: str) -> float | None:
    """A run's test ``metric`` on ``region``, or ``None`` when its report has no such key."""
    try:
        value = run.metrics["best"]["test"][region][metric]
    except (KeyError, TypeError):
        return None
    return None if value is None else float(value)


def _columns(metrics: Sequence[str], *, seeds: bool = True) -> list[str]:
    return ["source", "method"] + (["seeds"] if seeds else []) + [
        f"{m}_{r}" for m in metrics for r in REGION_COLUMNS
    ]


def paper_rows(
    rows: dict[str, dict[str, list] | list], metrics: Sequence[str], dataset: str
) -> list[dict]:
    """Rows of one of the paper's tables: ``{"source": "paper, <dataset>", "method": label,
    "<metric>_<region>": value or None}``.

    ``rows`` maps each row label to ``{metric: [all, many, medium, few]}`` (Tables 1-3) or, for
    a single-metric table (Tables 4-7), to the list itself (then ``metrics`` has one entry). The
    paper's own method, marked ``(ours)`` in the data file, is labelled ``(paper's method)``
    here, so that "ours" means this project's runs only.
    """
    out = []
    for label, values in rows.items():
        per_metric = values if isinstance(values, dict) else {metrics[0]: values}
        label = label.replace("(ours)", "(paper's method)")
        row: dict = {"source": f"paper, {dataset}", "method": label, "seeds": None}
        for metric in metrics:
            for region, value in region_values(per_metric.get(metric)).items():
                row[f"{metric}_{region}"] = value
        out.append(row)
    return out


def our_rows(
    runs: dict[tuple[str, int], RunOutput],
    names: Sequence[str],
    metrics: Sequence[str],
    data: str,
    *,
    require_values: bool = False,
) -> list[dict]:
    """Rows of our runs named ``names`` (those trained): ``source`` ``ours, <data>``, mean ± std
    over seeds of every ``<metric>_<region>`` (``None`` where no run reports it). With
    ``require_values`` a run name none of whose cells has a value gets no row."""
    out = []
    for name in names:
        outs = runs_of(runs, name)
        if not outs:
            continue
        row: dict = {"source": f"ours, {data}", "method": METHOD_LABELS.get(name, name),
                     "seeds": len(outs)}
        for metric in metrics:
            for region in REGION_COLUMNS:
                cell = mean_std([test_metric_or_none(o, region, metric) for o in outs])
                row[f"{metric}_{region}"] = None if math.isnan(cell[0]) else cell
        if require_values and all(row[f"{m}_{r}"] is None for m in metrics for r in REGION_COLUMNS):
            continue
        out.append(row)
    return out


def _trained(runs: dict[tuple[str, int], RunOutput]) -> list[str]:
    return sorted({name for name, _ in runs}, key=lambda n: (n not in METHOD_LABELS, n))


def dir_table_vs_paper(
    runs: dict[tuple[str, int], RunOutput], data: str, names: Sequence[str] | None = None
) -> tuple[list[dict], list[str]]:
    """Table 1 (AgeDB-DIR), 2 (IMDB-WIKI-DIR) or 3 (NYUD2-DIR), by :func:`paper_dataset`: every
    row of the paper (MAE and GM, or RMSE and delta1, per region) and then our runs ``names``
    (default: every trained run name). Rows of Table 3 are read from the test reports' ``rmse``
    and ``delta1`` keys; a run without them gets no row."""
    dataset = paper_dataset(data)
    key, metrics = PAPER_DATASETS[dataset]
    paper = paper_rows(paper_tables()[key]["rows"], metrics, dataset)
    names = _trained(runs) if names is None else names
    ours = our_rows(runs, names, metrics, data, require_values=dataset == "NYUD2-DIR")
    return paper + ours, _columns(metrics)


def table4_vs_paper(
    runs: dict[tuple[str, int], RunOutput], data: str
) -> tuple[list[dict], list[str]]:
    """Table 4: bMAE per region, the paper's SQINV and BSAM rows of the run's data set (AgeDB-DIR
    or IMDB-WIKI-DIR; none for NYUD2-DIR) and ours for SQINV and SQINV + BSAM."""
    dataset = paper_dataset(data)
    paper = paper_rows(paper_tables()["table4_bmae"].get(dataset, {}), ["bmae"], dataset)
    ours = our_rows(runs, ["sqinv", "bsam"], ["bmae"], data)
    return (paper + ours if paper else []), _columns(["bmae"])


def _agedb_mae_table(
    runs: dict[tuple[str, int], RunOutput], data: str, key: str, names: Sequence[str]
) -> tuple[list[dict], list[str]]:
    """One of Tables 5-7 (AgeDB-DIR MAE per region only): the paper's rows, then our ``names``."""
    paper = paper_rows(paper_tables()[key], ["mae"], "AgeDB-DIR")
    return paper + our_rows(runs, names, ["mae"], data), _columns(["mae"])


def table5_vs_paper(runs: dict[tuple[str, int], RunOutput], data: str) -> tuple[list[dict], list[str]]:
    """Table 5: Vanilla and Vanilla + BSAM (vanilla L1 descent, balanced perturbation), MAE."""
    return _agedb_mae_table(runs, data, "table5_vanilla_descent_agedb_mae",
                            ["vanilla", "bsam-vanilla-descent", "sqinv", "bsam"])


def table6_vs_paper(runs: dict[tuple[str, int], RunOutput], data: str) -> tuple[list[dict], list[str]]:
    """Table 6: SQINV alone and with SAM, ImbSAM and BSAM, MAE (ours also ``imbsam-mean``)."""
    return _agedb_mae_table(runs, data, "table6_sam_variants_agedb_mae",
                            ["sqinv", "sam", "imbsam", "imbsam-mean", "bsam"])


def table7_vs_paper(runs: dict[tuple[str, int], RunOutput], data: str) -> tuple[list[dict], list[str]]:
    """Table 7: BSAM's perturbation weights, INV vs SQINV (and SQINV alone), MAE."""
    return _agedb_mae_table(runs, data, "table7_perturbation_weights_agedb_mae",
                            ["sqinv", "bsam-inv", "bsam"])


def figure1_vs_paper(runs: dict[tuple[str, int], RunOutput], data: str) -> tuple[list[dict], list[str]]:
    """Figure 1's MAEs: the vanilla model on all and on few-shot test samples, paper and ours."""
    paper = paper_tables()["figure1_agedb_vanilla_mae"]
    rows: list[dict] = [{"source": "paper, AgeDB-DIR", "method": "Vanilla", "seeds": None,
                         "mae_all": paper.get("all"), "mae_few": paper.get("few")}]
    rows += [{k: r[k] for k in ("source", "method", "seeds", "mae_all", "mae_few")}
             for r in our_rows(runs, ["vanilla"], ["mae"], data)]
    return rows, ["source", "method", "seeds", "mae_all", "mae_few"]
