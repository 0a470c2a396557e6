r"""Flatness of several models per shot region, side by side: one table and one figure.

:func:`compare_flatness` measures every model the same way, on the same data and regions:

* a 1D loss curve (and optionally a 2D surface) along filter-normalized random directions drawn
  with the same seed for every model (:func:`landscape.random_directions`, each normalized to
  that model's own weights, Li et al., NeurIPS 2018), evaluated by
  :func:`landscape.compute_surface`; summarised per region :math:`R` by the centre loss
  :math:`L_R(0)` and the *rise* :math:`\max_a L_R(a) - L_R(0)` over the grid;
* :math:`\lambda_{\max}` and :math:`\mathrm{tr}` of the region's curvature matrix by
  :func:`analyses.curvature.region_curvature` (one seed for every model).

Models that share a label (seeds of one method) are pooled: each cell of the table is the mean
and the sample standard deviation (``ddof=1``; NaN for one model) over them, with their number
``n``. Label a model by its key: a ``(label, seed)`` tuple (``{("BSAM", 0): m0, ("BSAM", 1):
m1, ("SQINV", 0): m2}``) or a plain string (one model per label), or pass ``label_of``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from torch import nn

__all__ = ["FlatnessComparison", "compare_flatness", "QUANTITIES", "default_label"]

#: Quantities of the table, in column order, with their headers.
QUANTITIES: dict[str, str] = {
    "loss": "loss at θ",
    "rise_1d": "1D rise",
    "rise_2d": "2D rise",
    "lambda_max": "λ_max",
    "trace": "Tr",
}


def default_label(key: Hashable) -> str:
    """The label of a model key: the first item of a tuple key, else ``str(key)``.

    Returns
    -------
    str
        ``"BSAM"`` for ``("BSAM", 0)`` and for ``"BSAM"``.
    """
    return str(key[0]) if isinstance(key, tuple) and key else str(key)


@dataclass
class FlatnessComparison:
    """What :func:`compare_flatness` computed.

    Attributes
    ----------
    rows:
        One dict per (label, region): ``label``, ``region``, ``n`` (models of the label) and, for
        every quantity of :attr:`columns` after ``n``, a ``(mean, std)`` tuple over the models.
    per_model:
        One dict per (model key, region) with the raw values: ``key``, ``label``, ``region`` and
        the quantities.
    columns:
        Column keys of :attr:`rows` (``label``, ``region``, ``n``, quantities).
    figure:
        Bars of every quantity per region, one bar per label, error bar = std.
    surfaces, curvature:
        Model key -> ``{"1d": SurfaceResult, "2d": SurfaceResult or None}`` and the
        :func:`~analyses.curvature.region_curvature` result.
    paths:
        Written files by kind (``md``, ``csv``, ``tex``, ``png``, ``pdf``); empty without ``out``.
    """

    rows: list[dict[str, Any]]
    per_model: list[dict[str, Any]]
    columns: list[str]
    figure: Figure
    surfaces: dict[Hashable, dict[str, Any]]
    curvature: dict[Hashable, dict[str, Any]]
    paths: dict[str, Path] = field(default_factory=dict)

    def markdown(self, floatfmt: str = ".4g") -> str:
        """The table as Markdown (``mean ± std`` cells).

        Returns
        -------
        str
            A GitHub-flavoured Markdown table of :attr:`rows`.
        """
        from analyses.tables import to_markdown

        return to_markdown(self.rows, self.columns, headers=QUANTITIES, floatfmt=floatfmt)


def _labeller(label_of: Mapping[Hashable, str] | Callable[[Hashable], str] | None):
    if label_of is None:
        return default_label
    if callable(label_of):
        return label_of
    table = dict(label_of)

    def lookup(key: Hashable) -> str:
        if key not in table:
            raise ValueError(
                f"Invalid label_of: model key {key!r} has no label; add it to label_of."
            )
        return str(table[key])

    return lookup


def _rise(loss: np.ndarray) -> float:
    centre = loss[tuple(i // 2 for i in loss.shape)]
    return float(np.nanmax(loss) - centre)


def _measure(model, data, regions, names, grid, direction_seed, loss, batch_size, curv) -> tuple:
    """Surfaces and curvature of one model; returns ``(surfaces, curvature, values by region)``."""
    import landscape
    from analyses.curvature import region_curvature

    dirs = landscape.random_directions(model, seed=direction_seed, dims=1 if grid[1] is None else 2)
    common = dict(regions=regions, directions=dirs, loss=loss, batch_size=batch_size, quiet=True)
    surfaces = {"1d": landscape.compute_surface(model, data, xcoords=grid[0], **common), "2d": None}
    if grid[1] is not None:
        surfaces["2d"] = landscape.compute_surface(
            model, data, xcoords=grid[1], ycoords=grid[1], **common
        )
    cur = region_curvature(
        model, data, regions, region_names=names, loss=loss, batch_size=batch_size, **curv
    )
    values = {}
    for name in names:
        entry = cur["regions"][name]
        values[name] = {
            "loss": float(surfaces["1d"].loss[name][len(grid[0]) // 2]),
            "rise_1d": _rise(surfaces["1d"].loss[name]),
            "lambda_max": float(entry.get("lambda_max", math.nan)),
            "trace": float(entry.get("trace", math.nan)),
        }
        if surfaces["2d"] is not None:
            values[name]["rise_2d"] = _rise(surfaces["2d"].loss[name])
    return surfaces, cur, values


def _spread(values: Sequence[float]) -> tuple[float, float]:
    arr = np.asarray(values, dtype=float)
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else math.nan


def _figure(rows: list[dict[str, Any]], quantities: list[str], names: Sequence[str]) -> Figure:
    """One panel per quantity: a group of bars per region, one bar per label (± std over its
    models); linear axes from 0, one colour per method, a label of one model marked ``n = 1``."""
    from analyses.plotting.style import legend_inside, method_color, method_order, seeds_note

    labels = method_order(r["label"] for r in rows)
    counts = {r["label"]: int(r["n"]) for r in rows}
    fig = Figure(figsize=(3.2 * len(quantities), 3.0), layout="constrained")
    axes = fig.subplots(1, len(quantities), squeeze=False)[0]
    width = 0.8 / len(labels)
    cell = {(r["label"], r["region"]): r for r in rows}
    for ax, q in zip(axes, quantities):
        for j, label in enumerate(labels):
            stats = [cell[(label, n)][q] for n in names]
            x = np.arange(len(names)) + (j - (len(labels) - 1) / 2) * width
            means = [m for m, _ in stats]
            yerr = None if counts[label] < 2 else [0.0 if math.isnan(s) else s for _, s in stats]
            ax.bar(x, means, width, yerr=yerr, capsize=2, label=label, color=method_color(label))
            if counts[label] == 1:
                for xi, m in zip(x, means):
                    if math.isfinite(m):
                        ax.annotate("n = 1", (xi, m), ha="center", va="bottom", fontsize=6)
        ax.set_xticks(np.arange(len(names)), list(names))
        if all(m >= 0 for label in labels for m, _ in (cell[(label, n)][q] for n in names)):
            ax.set_ylim(bottom=0)
        ax.set_title(QUANTITIES[q])
    legend_inside(axes[0], title=seeds_note([counts[label] for label in labels]))
    return fig


def compare_flatness(
    models: Mapping[Hashable, nn.Module],
    data: Any,
    regions: Any,
    *,
    label_of: Mapping[Hashable, str] | Callable[[Hashable], str] | None = None,
    region_names: Sequence[str] = ("all", "many", "medium", "few"),
    span: float = 1.0,
    points_1d: int = 21,
    points_2d: int | None = None,
    direction_seed: int = 0,
    loss: str = "l1",
    batch_size: int = 256,
    curvature: Mapping[str, Any] | None = None,
    out: str | os.PathLike | None = None,
) -> FlatnessComparison:
    r"""Surfaces and curvature of several models per region, pooled by label (mean ± std, n).

    Parameters
    ----------
    models : mapping
        Model key -> ``nn.Module``. Keys ``(label, seed)`` pool the seeds of a label; a string
        key is its own label.
    data :
        The data every model is measured on: ``(X, y)`` tensors, a Dataset or a sequential
        DataLoader (as for :func:`landscape.compute_surface`).
    regions : bsam.ShotRegions
        Shot regions fitted on the *training* labels.
    label_of : mapping or callable, optional
        Model key -> label (default :func:`default_label`).
    region_names : sequence of str
        Regions of the table, in order.
    span, points_1d, points_2d :
        The grid ``linspace(-span, span, points)`` of the 1D curve and (when ``points_2d`` is
        given) of the square 2D surface; use odd numbers so that 0 is a grid point.
    direction_seed : int
        Seed of :func:`landscape.random_directions`, the same for every model.
    loss : str
        Loss of the surfaces and of the curvature (``"l1"``, ``"mse"``, ``"huber"``).
    batch_size : int
        Evaluation batch size.
    curvature : mapping, optional
        Keywords of :func:`analyses.curvature.region_curvature`; default
        ``{"metrics": ("lambda_max", "trace"), "curvature": "ggn", "seed": 0}`` (the
        Gauss-Newton matrix, as the reproduction's Table 8).
    out : str or path, optional
        Folder to write ``flatness.md|csv|tex`` and ``flatness.png|pdf`` into.

    Returns
    -------
    FlatnessComparison
        The table rows, the raw per-model values, the figure and the underlying results.
    """
    if not models:
        raise ValueError("Invalid models {}: pass at least one {key: nn.Module}.")
    for size, what in ((points_1d, "points_1d"), (points_2d, "points_2d")):
        if size is not None and (not isinstance(size, int) or size < 3 or size % 2 == 0):
            raise ValueError(f"Invalid {what} {size!r}; use an odd integer >= 3, so 0 is on the grid.")
    if not span > 0:
        raise ValueError(f"Invalid span {span!r}; use a positive grid half-width.")
    label = _labeller(label_of)
    names = list(region_names)
    curv = {"metrics": ("lambda_max", "trace"), "curvature": "ggn", "seed": 0, **dict(curvature or {})}
    grid = (
        np.linspace(-span, span, points_1d),
        None if points_2d is None else np.linspace(-span, span, points_2d),
    )
    surfaces, curvatures, per_model = {}, {}, []
    for key, model in models.items():
        surfaces[key], curvatures[key], values = _measure(
            model, data, regions, names, grid, direction_seed, loss, batch_size, curv
        )
        per_model += [{"key": key, "label": label(key), "region": n, **values[n]} for n in names]
    quantities = [q for q in QUANTITIES if q in per_model[0]]
    rows = []
    for lab in dict.fromkeys(r["label"] for r in per_model):
        for name in names:
            group = [r for r in per_model if r["label"] == lab and r["region"] == name]
            stats = {q: _spread([r[q] for r in group]) for q in quantities}
            rows.append({"label": lab, "region": name, "n": len(group), **stats})
    result = FlatnessComparison(
        rows=rows,
        per_model=per_model,
        columns=["label", "region", "n", *quantities],
        figure=_figure(rows, quantities, names),
        surfaces=surfaces,
        curvature=curvatures,
    )
    if out is not None:
        from analyses.plotting import save_figure
        from analyses.tables import write_table

        stem = Path(out) / "flatness"
        stem.parent.mkdir(parents=True, exist_ok=True)
        result.paths = write_table(stem, rows, result.columns, headers=QUANTITIES, floatfmt=".4g",
                                   caption="Flatness per region (mean ± std over models)")
        for path in save_figure(result.figure, stem):
            result.paths[path.suffix[1:]] = path
    return result
