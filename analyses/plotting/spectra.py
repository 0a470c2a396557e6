"""Plots of Hessian spectra per region: SLQ densities and eigenvalue/trace bars.

Both functions take the dict returned by :func:`analyses.curvature.region_curvature` (or read back
from its JSON) and draw on a given ``Axes`` or a new :class:`~matplotlib.figure.Figure` (no pyplot
state). Save with :func:`analyses.plotting.save_figure`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from analyses.plotting.style import legend_inside, region_color
from bsam.regions import region_arguments

__all__ = [
    "plot_density",
    "plot_curvature_bars",
    "plot_hessian_file",
    "hessian_kinds",
    "BAR_QUANTITIES",
    "ERROR_NOTES",
    "HESSIAN_KINDS",
]

#: Quantities :func:`plot_curvature_bars` can draw, with the error bar each one carries.
BAR_QUANTITIES: dict[str, str] = {
    "lambda_max": "residual of the Ritz pair",
    "lambda_min": "residual of the Ritz pair",
    "lambda_abs": "residual of the Ritz pair",
    "trace": "standard error",
}
#: What each quantity's error bar is, as its legend says it.
ERROR_NOTES: dict[str, str] = {
    "lambda_max": "± certified residual ‖Hu − θu‖",
    "lambda_min": "± certified residual ‖Hu − θu‖",
    "lambda_abs": "± certified residual ‖Hu − θu‖",
    "trace": "± SE of the trace estimator",
}
_LABELS = {
    "lambda_max": r"$\lambda_{\max}$",
    "lambda_min": r"$\lambda_{\min}$",
    "lambda_abs": r"$\lambda_{|\max|}$",
    "trace": r"$\mathrm{tr}(H)$",
}


def _fig_ax(ax: Axes | None, size: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.add_subplot()


def _regions(
    result: Mapping[str, Any], region_names: Sequence[str] | None, regions: Any, where: str
) -> dict[str, Any]:
    _, region_names = region_arguments(regions, region_names, default=None, where=where)
    if not isinstance(result, Mapping) or "regions" not in result:
        raise ValueError(
            "Invalid result: expected the dict returned by region_curvature (with 'regions')."
        )
    entries = result["regions"]
    names = list(entries) if region_names is None else list(region_names)
    unknown = [n for n in names if n not in entries]
    if unknown:
        raise ValueError(f"Invalid region_names {unknown}; the result holds {list(entries)}.")
    return {n: entries[n] for n in names}


def plot_density(
    result: Mapping[str, Any],
    *,
    region_names: Sequence[str] | None = None,
    ax: Axes | None = None,
    log: bool = True,
    floor: float = 1e-8,
    title: str | None = None,
    regions: Sequence[str] | None = None,
) -> Figure:
    r"""Draw the SLQ spectral density :math:`\phi_\sigma(t)` of each region on one axis.

    Parameters
    ----------
    result:
        Output of :func:`analyses.curvature.region_curvature` with the ``"density"`` metric.
    region_names:
        Regions to draw (default: all with a density; empty regions are skipped). ``regions=``
        is the old, deprecated spelling.
    ax:
        Axis to draw on (default: a new figure).
    log:
        Logarithmic density axis (as in Ghorbani et al. 2019), values clipped below at ``floor``.
    floor:
        Smallest density drawn on a log axis.
    title:
        Axis title.

    Returns
    -------
    Figure
        The figure holding the axis; one line per region, labelled with its name.
    """
    entries = _regions(result, region_names, regions, "plot_density")
    fig, ax = _fig_ax(ax, (5.0, 3.5))
    drawn = 0
    for name, entry in entries.items():
        dens = entry.get("density")
        if "density" not in entry:
            raise ValueError(
                f"Invalid result: region {name!r} has no density; compute it with "
                "metrics=(..., 'density')."
            )
        if dens is None:  # empty region
            continue
        grid = np.asarray(dens["grid"], dtype=float)
        d = np.asarray(dens["density"], dtype=float)
        if log:
            d = np.maximum(d, floor)
        ax.plot(grid, d, label=name, color=region_color(name), lw=1.2)
        drawn += 1
    if drawn == 0:
        raise ValueError("Invalid result: no density to draw, every region is empty.")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("eigenvalue")
    ax.set_ylabel("density")
    prov = result.get("provenance", {})
    if title is None and prov:
        title = f"{prov.get('curvature', '')} of the {prov.get('loss', '')} loss"
    if title:
        ax.set_title(title)
    legend_inside(ax)
    return fig


def plot_curvature_bars(
    result: Mapping[str, Any],
    quantity: str = "lambda_max",
    *,
    region_names: Sequence[str] | None = None,
    ax: Axes | None = None,
    regions: Sequence[str] | None = None,
) -> Figure:
    r"""Bar chart of one curvature quantity per region, with its error bar.

    Eigenvalues carry the certified residual :math:`\|Hu - \theta u\|` (an eigenvalue lies
    within it), the trace the standard error of its estimator; the legend says which
    (:data:`ERROR_NOTES`). Bars are on a linear axis from 0. Empty regions (NaN) are gaps, and a
    value without an error estimate carries no error bar (never a zero-length one).

    Parameters
    ----------
    result:
        Output of :func:`analyses.curvature.region_curvature`.
    quantity:
        A key of :data:`BAR_QUANTITIES`.
    region_names:
        Regions to draw, in order (default: all in the result). ``regions=`` is the old,
        deprecated spelling.
    ax:
        Axis to draw on (default: a new figure).

    Returns
    -------
    Figure
        The figure holding the axis (one bar per region).
    """
    if quantity not in BAR_QUANTITIES:
        raise ValueError(f"Invalid quantity {quantity!r}; choose from {list(BAR_QUANTITIES)}.")
    entries = _regions(result, region_names, regions, "plot_curvature_bars")
    which = {"lambda_max": "LA", "lambda_min": "SA", "lambda_abs": "LM"}.get(quantity)
    values, errors = [], []
    for name, entry in entries.items():
        if quantity not in entry:
            raise ValueError(
                f"Invalid result: region {name!r} has no {quantity!r}; compute the metric "
                f"{'trace' if quantity == 'trace' else 'lambda_max'}."
            )
        values.append(float(entry[quantity]))
        if quantity == "trace":
            errors.append(float(entry.get("trace_se", np.nan)))
        else:
            eig = entry.get("eigen")
            errors.append(float(eig[which]["residuals"][0]) if eig else np.nan)
    fig, ax = _fig_ax(ax, (4.0, 3.0))
    x = np.arange(len(values))
    ax.bar(x, values, color=[region_color(n) for n in entries])
    errors = np.asarray(errors, dtype=float)
    shown = np.isfinite(errors) & np.isfinite(values)
    if shown.any():
        ax.errorbar(
            x[shown],
            np.asarray(values)[shown],
            yerr=errors[shown],
            fmt="none",
            ecolor="black",
            capsize=3,
            label=ERROR_NOTES[quantity],
        )
    ax.set_xticks(x, list(entries))
    ax.axhline(0.0, color="0.5", lw=0.6)
    label = _LABELS[quantity]
    if quantity == "trace" and (result.get("provenance") or {}).get("curvature") == "ggn":
        label = r"$\mathrm{tr}(G)$, $G = J^\top J / M$"  # the Gauss-Newton matrix, not H
    ax.set_ylabel(label)
    legend_inside(ax)
    return fig


#: What :func:`plot_hessian_file` draws: the density and one bar chart per quantity.
HESSIAN_KINDS: tuple[str, ...] = ("density", *BAR_QUANTITIES)


def hessian_kinds(result: Mapping[str, Any]) -> list[str]:
    """The kinds of :data:`HESSIAN_KINDS` that ``result`` holds data for, in that order.

    ``density`` when some region has a density; a bar quantity when some region has a finite
    value of it.
    """
    entries = result["regions"].values()
    found = [k for k in ("density",) if any(e.get("density") for e in entries)]
    for q in BAR_QUANTITIES:
        if any(isinstance(e.get(q), (int, float)) and np.isfinite(e[q]) for e in entries):
            found.append(q)
    return found


def plot_hessian_file(
    path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    kinds: Sequence[str] | None = None,
    overwrite: bool = True,
) -> list[Path]:
    """Draw the figures of a curvature JSON (:func:`analyses.curvature.save_curvature`).

    Parameters
    ----------
    path:
        The JSON written by ``bsam hessian`` (``{"provenance", "regions"}``).
    out_dir:
        Output folder; files ``<stem>_density`` and ``<stem>_<quantity>`` (PNG+PDF).
    kinds:
        From :data:`HESSIAN_KINDS` (or ``"all"``); default: every kind the file holds
        (:func:`hessian_kinds`). A kind the file does not hold is refused, naming those it does.
    overwrite:
        Replace existing figures (``False``: ``FileExistsError`` before drawing).

    Returns
    -------
    list of Path
        The files written.
    """
    from analyses.plotting.surfaces import save_figure
    from bsam._io import check_output_dir, read_json

    path = Path(path)
    result = read_json(path)
    if not isinstance(result, Mapping) or not isinstance(result.get("regions"), Mapping):
        raise ValueError(
            f"{path} is not a curvature result: expected a JSON object with 'regions' (written "
            "by `bsam hessian`)."
        )
    held = hessian_kinds(result)
    if not held:
        raise ValueError(f"Nothing to plot in {path}: no region has a density or a finite value.")
    wanted = held if kinds is None or "all" in kinds else list(dict.fromkeys(kinds))
    unknown = [k for k in wanted if k not in HESSIAN_KINDS]
    if unknown:
        raise ValueError(
            f"Invalid kind(s) {unknown} for a curvature file; choose from {list(HESSIAN_KINDS)}."
        )
    missing = [k for k in wanted if k not in held]
    if missing:
        raise ValueError(f"Invalid kind(s) {missing}: {path} holds no such data; it holds {held}.")
    out = Path(out_dir)
    bases = {k: out / f"{path.stem}_{k}" for k in wanted}
    files = [b.with_name(f"{b.name}.{e}") for b in bases.values() for e in ("png", "pdf")]
    check_output_dir(out, files, overwrite=overwrite)
    written: list[Path] = []
    for kind, base in bases.items():
        if kind == "density":
            fig = plot_density(result, region_names=_with(result, "density"))
        else:
            fig = plot_curvature_bars(result, kind, region_names=_with(result, kind))
        written += save_figure(fig, base)
    return written


def _with(result: Mapping[str, Any], key: str) -> list[str]:
    # Regions whose entry has the key (an empty region still has it, as NaN or None).
    return [n for n, e in result["regions"].items() if key in e]
