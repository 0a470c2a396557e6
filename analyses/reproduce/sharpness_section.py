"""The report's "Sharpness across the label space": figures, balanced-flatness table and reading.

Built from the ``sharpness`` stage's files (:mod:`analyses.reproduce.sharpness_stage`): one
profile per trained run, grouped by method. The figures are drawn by
:func:`analyses.sharpness.plot_profile` (sharpness per target bin over the training density):
one per method (every seed, their mean in bold) and one overlaying the methods' means over
seeds. The table gives, per method and measure, the Spearman correlation between a bin's training
count and its sharpness and the few/many ratio, mean ± std over seeds
(:func:`analyses.sharpness.balanced_flatness`); :func:`~analyses.reproduce.sharpness_reading.balance_reading`
reads them.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from analyses.reproduce.config import METHOD_LABELS
from bsam._io import read_json

__all__ = [
    "profiles_by_method",
    "balance_summary",
    "balance_rows",
    "mean_profile",
    "method_figure",
    "overlay_figure",
    "MEASURE_LABELS",
]

#: Names of the measures in the report.
MEASURE_LABELS: dict[str, str] = {
    "lambda_max": "λ_max (Gauss-Newton)",
    "trace": "trace (Gauss-Newton)",
    "average": "average-case sharpness",
    "worst": "worst-case ρ-sharpness",
    "adaptive": "adaptive ρ-sharpness",
    "gap": "generalization gap",
}


def profiles_by_method(files: Mapping[tuple[str, int], Path]) -> dict[str, list[dict[str, Any]]]:
    """``{method: [profile per seed, in seed order]}`` from the stage's ``{(method, seed): json}``."""
    out: dict[str, list[dict[str, Any]]] = {}
    for (method, _seed), path in sorted(files.items()):
        out.setdefault(method, []).extend(read_json(path)["profiles"])
    return out


def measures_of(profiles: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[str]:
    """The measures the profiles hold, plus ``gap`` when every window has one."""
    first = next(iter(profiles.values()))[0]
    extra = ["gap"] if first["windows"] and "gap" in first["windows"][0] else []
    return list(first["provenance"]["methods"]) + extra


def balance_summary(
    profiles: Mapping[str, Sequence[Mapping[str, Any]]], measures: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """``{method: balanced_flatness(its profiles, measures)}``: per measure, the statistics over seeds."""
    from analyses.sharpness import balanced_flatness

    return {m: balanced_flatness(list(p), list(measures)) for m, p in profiles.items()}


def balance_rows(
    summary: Mapping[str, Mapping[str, Any]], measures: Sequence[str]
) -> tuple[list[dict[str, Any]], list[str], dict[str, str]]:
    """Table rows (method, seeds, ``<measure>_spearman``, ``<measure>_ratio`` as (mean, std)).

    Returns
    -------
    (rows, columns, headers)
    """
    rows = []
    for method, per in summary.items():
        row: dict[str, Any] = {
            "method": METHOD_LABELS.get(method, method),
            "seeds": len(per[measures[0]]["per_seed"]),
        }
        for m in measures:
            for stat, short in (("spearman", "spearman"), ("few_many_ratio", "ratio")):
                row[f"{m}_{short}"] = (per[m][stat]["mean"], per[m][stat]["std"])
        rows.append(row)
    cols = ["method", "seeds"] + [f"{m}_{s}" for m in measures for s in ("spearman", "ratio")]
    headers = {
        f"{m}_{s}": f"{m} {'ρ_S' if s == 'spearman' else 'few/many'}"
        for m in measures
        for s in ("spearman", "ratio")
    }
    return rows, cols, headers


def mean_profile(profiles: Sequence[Mapping[str, Any]], measure: str) -> dict[str, Any]:
    """The first profile with ``measure`` (and its ``_err``) replaced by the mean (std) over profiles.

    The profiles must share their windows (same test split and regions: the same bins).
    """
    out = copy.deepcopy(dict(profiles[0]))
    values = np.array([[w[measure] for w in p["windows"]] for p in profiles], dtype=float)
    std = values.std(axis=0, ddof=1) if len(profiles) > 1 else np.zeros(values.shape[1])
    for w, v, s in zip(out["windows"], values.mean(axis=0), std):
        w[measure], w[f"{measure}_err"] = float(v), float(s)
    return out


def method_figure(profiles: Sequence[Mapping[str, Any]], measure: str, method: str) -> Any:
    """One method's profile of ``measure``: every seed, their mean in bold, training density below."""
    from analyses.sharpness import plot_profile

    label = METHOD_LABELS.get(method, method)
    title = f"{label}: {MEASURE_LABELS.get(measure, measure)} per test bin ({len(profiles)} seeds)"
    return plot_profile(list(profiles), measure, title=title)


def overlay_figure(profiles: Mapping[str, Sequence[Mapping[str, Any]]], measure: str) -> Any:
    """The methods' mean profiles of ``measure`` on one axis (error bars: std over seeds)."""
    from analyses.sharpness import plot_profile

    means = {m: mean_profile(p, measure) for m, p in profiles.items()}
    first, *rest = means
    fig = plot_profile(
        means[first],
        measure,
        title=f"{MEASURE_LABELS.get(measure, measure)} per test bin, mean over seeds",
    )
    top = fig.axes[0]
    top.containers[0].set_label(METHOD_LABELS.get(first, first))
    for m in rest:
        x = np.array([w["center"] for w in means[m]["windows"]])
        y = np.array([w[measure] for w in means[m]["windows"]])
        err = np.array([w[f"{measure}_err"] for w in means[m]["windows"]])
        top.errorbar(x, y, yerr=err, fmt="-", capsize=2, label=METHOD_LABELS.get(m, m))
    top.legend(fontsize="small")
    return fig
