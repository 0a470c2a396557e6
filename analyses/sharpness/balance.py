r"""Balanced flatness: how strongly sharpness follows the training density, over seeds.

For one profile (one trained model) and a method :math:`m`, with :math:`n_b` the training count of
a window's centre bin and :math:`S_b` its sharpness,

* ``spearman``: the Spearman rank correlation :math:`\rho_S(n_b, S_b)` over the windows
  (:func:`scipy.stats.spearmanr`); a model sharper where data are scarce has
  :math:`\rho_S < 0`, a balanced one :math:`\rho_S \approx 0`;
* ``few_many_ratio``: :math:`\bar S_\text{few} / \bar S_\text{many}`, the mean sharpness of the
  few-shot windows over that of the many-shot windows (1 = balanced).

:func:`balanced_flatness` reports both per profile and their mean and sample standard deviation
over the profiles (seeds). Windows with a NaN value are left out.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["balance_statistics", "balanced_flatness"]


def balance_statistics(profile: Mapping[str, Any], method: str) -> dict[str, float]:
    """``spearman``, its ``p_value``, ``few_many_ratio`` and ``num_windows`` of one profile."""
    from scipy.stats import spearmanr

    rows = [w for w in profile["windows"] if method in w and not math.isnan(float(w[method]))]
    if not rows and profile["windows"] and method not in profile["windows"][0]:
        raise ValueError(
            f"Invalid method {method!r}: the profile has no such column; compute it with "
            f"sharpness_profile(methods=[..., {method!r}])."
        )
    counts = np.array([w["train_count"] for w in rows], dtype=float)
    values = np.array([w[method] for w in rows], dtype=float)
    nan = float("nan")
    if len(rows) >= 3 and np.ptp(counts) > 0 and np.ptp(values) > 0:
        res = spearmanr(counts, values)
        rho, p = float(res.statistic), float(res.pvalue)
    else:
        rho, p = nan, nan
    few = [v for w, v in zip(rows, values) if w["region"] == "few"]
    many = [v for w, v in zip(rows, values) if w["region"] == "many"]
    ratio = float(np.mean(few) / np.mean(many)) if few and many and np.mean(many) != 0 else nan
    return {"spearman": rho, "p_value": p, "few_many_ratio": ratio, "num_windows": len(rows)}


def _spread(values: list[float]) -> dict[str, float]:
    ok = [v for v in values if not math.isnan(v)]
    mean = statistics.fmean(ok) if ok else float("nan")
    std = statistics.stdev(ok) if len(ok) > 1 else float("nan")
    return {"mean": mean, "std": std, "n": len(ok)}


def balanced_flatness(
    profiles: Sequence[Mapping[str, Any]], methods: Sequence[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Spearman correlation and few/many ratio of every method, per profile and over profiles.

    Parameters
    ----------
    profiles:
        Results of :func:`~analyses.sharpness.profile.sharpness_profile`, one per seed.
    methods:
        Methods to summarise (default: the profiles' ``provenance["methods"]``).

    Returns
    -------
    dict
        ``{method: {"per_seed": [balance_statistics...], "spearman": {"mean", "std", "n"},
        "few_many_ratio": {"mean", "std", "n"}}}``.
    """
    if not profiles:
        raise ValueError("Invalid profiles: the sequence is empty; pass one profile per seed.")
    methods = list(methods or profiles[0]["provenance"]["methods"])
    out: dict[str, dict[str, Any]] = {}
    for m in methods:
        per = [balance_statistics(p, m) for p in profiles]
        out[m] = {
            "per_seed": per,
            "spearman": _spread([s["spearman"] for s in per]),
            "few_many_ratio": _spread([s["few_many_ratio"] for s in per]),
        }
    return out
