"""Figures of a sharpness profile: sharpness against the target, training density underneath.

:func:`plot_profile` draws one method: the value of each window at its centre (with its error
bar; one line per profile when several seeds are given, their mean in bold) over a bar chart of
the training count of every bin, sharing the target axis. :func:`plot_profile_overlay` draws
several methods on one axis, each divided by its mean over the windows (so that their shapes can
be compared; the scales differ by orders of magnitude).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from analyses.plotting.style import region_color

__all__ = ["plot_profile", "plot_profile_overlay"]

_LABELS = {
    "lambda_max": r"$\lambda_{\max}$",
    "trace": "trace",
    "average": "average-case sharpness",
    "worst": r"worst-case $\rho$-sharpness (lower bound)",
    "adaptive": r"adaptive $\rho$-sharpness (lower bound)",
    "gap": "generalization gap",
}


def _as_list(profiles: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[Mapping]:
    return [profiles] if isinstance(profiles, Mapping) else list(profiles)


def _series(profile: Mapping[str, Any], method: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = profile["windows"]
    if rows and method not in rows[0]:
        raise ValueError(
            f"Invalid method {method!r}: the profile has no such column; available: "
            f"{[k for k in _LABELS if k in rows[0]]}."
        )
    x = np.array([w["center"] for w in rows], dtype=float)
    y = np.array([w[method] for w in rows], dtype=float)
    err = np.array([w.get(f"{method}_err", 0.0) for w in rows], dtype=float)
    return x, y, err


def _figure(profile: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5), layout="constrained")  # no pyplot state
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    bins = profile["bins"]
    counts = np.asarray(bins["train_counts"], dtype=float)
    left = bins["lower"] + bins["bin_width"] * np.arange(len(counts))
    colors = {r: region_color(r) for r in ("many", "medium", "few")}
    bottom.bar(
        left,
        counts,
        width=bins["bin_width"],
        align="edge",
        color=[colors[r] for r in bins["regions"]],
    )
    bottom.set_ylabel("train count")
    bottom.set_xlabel("target")
    return fig, top, bottom


def plot_profile(
    profiles: Mapping[str, Any] | Sequence[Mapping[str, Any]], method: str, *, title: str = ""
) -> Any:
    """One method's profile over the training density of the first profile's bins.

    Bars of the density are coloured by shot region (blue many, orange medium, red few).
    Returns the matplotlib ``Figure``.
    """
    profiles = _as_list(profiles)
    fig, top, _ = _figure(profiles[0])
    series = [_series(p, method) for p in profiles]
    for x, y, err in series:
        top.errorbar(
            x,
            y,
            yerr=np.nan_to_num(err),
            fmt="-",
            lw=1 if len(series) > 1 else 1.5,
            alpha=0.5 if len(series) > 1 else 1.0,
            capsize=2,
        )
    if len(series) > 1 and all(len(s[0]) == len(series[0][0]) for s in series):
        top.plot(
            series[0][0],
            np.mean([s[1] for s in series], axis=0),
            "k-",
            lw=2.5,
            label=f"mean of {len(series)}",
        )
        top.legend()
    top.set_ylabel(_LABELS.get(method, method))
    top.set_title(title or f"{_LABELS.get(method, method)} per target bin")
    return fig


def plot_profile_overlay(
    profile: Mapping[str, Any], methods: Sequence[str], *, title: str = ""
) -> Any:
    """Several methods of one profile, each divided by its mean over the windows."""
    fig, top, _ = _figure(profile)
    for m in methods:
        x, y, _ = _series(profile, m)
        scale = np.nanmean(np.abs(y))
        top.plot(x, y / scale if scale > 0 else y, "-", label=_LABELS.get(m, m))
    top.axhline(1.0, color="grey", lw=0.5)
    top.set_ylabel("sharpness / its mean")
    top.legend(fontsize="small")
    top.set_title(title or "sharpness per target bin (each method / its mean)")
    return fig
