r"""The reading of the balanced-flatness numbers, generated from them (never written by hand).

BSAM's claim is that it evens flatness out across the label space. With, per method, the mean,
sample standard deviation and count over seeds of two statistics of its per-bin sharpness profile
(:func:`analyses.sharpness.balanced_flatness`),

* the Spearman correlation :math:`\rho_S` between a bin's training count and its sharpness
  (balanced: 0), distance to balance :math:`|\rho_S|`;
* the few/many ratio :math:`r` of the mean few-shot to the mean many-shot sharpness
  (balanced: 1), distance :math:`|r - 1|`;

method A is *more balanced* than B on a statistic when its distance is smaller by more than the
combined spread :math:`\sqrt{s_A^2 + s_B^2}` of the two means over seeds (the standard deviations
that are known); a smaller difference is *within the spread*. :func:`balance_reading` states
whether BSAM is more balanced than SQINV (the paper's claim), and whether the gain is SAM's (the
sharpness-aware perturbation, present in SAM, ImbSAM and BSAM) or the balance weighting's (BSAM's
balance-weighted perturbation, compared with SAM's plain one and ImbSAM's tail-only one).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from analyses.reproduce.config import METHOD_LABELS

__all__ = ["STATISTICS", "compare", "balance_reading"]

#: The statistics, their names in the text and their balanced value.
STATISTICS: dict[str, tuple[str, float]] = {
    "spearman": ("Spearman correlation between training count and sharpness", 0.0),
    "few_many_ratio": ("few/many sharpness ratio", 1.0),
}


def _cell(stats: Mapping[str, Any], method: str, stat: str) -> tuple[float, float, int]:
    c = (stats.get(method) or {}).get(stat) or {}
    return float(c.get("mean", math.nan)), float(c.get("std", math.nan)), int(c.get("n", 0))


def compare(stats: Mapping[str, Mapping[str, Any]], a: str, b: str, stat: str) -> str:
    """Whether method ``a`` is more balanced than ``b`` on ``stat``.

    Parameters
    ----------
    stats:
        ``{method: {stat: {"mean", "std", "n"}}}`` (as in :func:`analyses.sharpness.balanced_flatness`).
    a, b:
        Method names.
    stat:
        A key of :data:`STATISTICS`.

    Returns
    -------
    str
        ``"closer"`` (``a`` nearer balance by more than the spread), ``"farther"``, ``"within"``
        (the difference is within the spread over seeds) or ``"unknown"`` (a mean is missing).
    """
    target = STATISTICS[stat][1]
    (ma, sa, _), (mb, sb, _) = _cell(stats, a, stat), _cell(stats, b, stat)
    da, db = abs(ma - target), abs(mb - target)
    if not (math.isfinite(da) and math.isfinite(db)):
        return "unknown"
    stds = [s for s in (sa, sb) if math.isfinite(s)]
    if stds and abs(da - db) < math.sqrt(sum(s * s for s in stds)):
        return "within"
    return "closer" if da < db else "farther" if da > db else "within"


def _fmt(stats: Mapping[str, Any], method: str, stat: str) -> str:
    mean, std, n = _cell(stats, method, stat)
    spread = f" ± {std:.2f}" if math.isfinite(std) else ""
    return f"{METHOD_LABELS.get(method, method)} {mean:.2f}{spread} (n={n})"


def _overall(verdicts: list[str]) -> str:
    if "unknown" in verdicts:
        return "unknown"
    if "farther" in verdicts:
        return "farther"
    return "closer" if "closer" in verdicts else "within"


_CLAIM = {
    "closer": "**agrees**: BSAM is more balanced than SQINV beyond the spread over seeds",
    "farther": "**does not agree**: BSAM is less balanced than SQINV on at least one statistic",
    "within": "**neither agrees nor disagrees**: the differences are within the spread over seeds",
    "unknown": "**not measured**: BSAM or SQINV has no profile",
}


def _attribution(stats: Mapping[str, Mapping[str, Any]], gain: str) -> str:
    """Is BSAM's gain over SQINV SAM's or the balance weighting's?"""
    if gain != "closer":
        return (
            "No balance gain of BSAM over SQINV beyond the spread, so none to attribute to "
            "SAM or to the balance weighting."
        )
    if "sam" not in stats:
        return "SAM was not profiled, so the gain cannot be attributed."
    vs_sam = _overall([compare(stats, "bsam", "sam", s) for s in STATISTICS])
    sam_gain = _overall([compare(stats, "sam", "sqinv", s) for s in STATISTICS])
    if vs_sam == "closer":
        text = (
            "BSAM is also more balanced than SAM (unweighted perturbation, same SQINV descent) "
            "beyond the spread: the balance weighting adds to what SAM does."
        )
    elif sam_gain == "closer":
        text = (
            "SAM without the balance weighting is more balanced than SQINV too, and BSAM is "
            + (
                "not more balanced than SAM beyond the spread"
                if vs_sam == "within"
                else "less balanced than SAM"
            )
            + ": the gain is SAM's, not the balance weighting's."
        )
    else:
        text = (
            "BSAM and SAM differ by less than the spread, and SAM is not more balanced than "
            "SQINV beyond it: these numbers cannot say whether the gain is SAM's or the "
            "balance weighting's."
        )
    if "imbsam" in stats:
        words = {
            "closer": "more balanced than",
            "farther": "less balanced than",
            "within": "within the spread of",
            "unknown": "not comparable with",
        }
        text += (
            f" BSAM is {words[_overall([compare(stats, 'bsam', 'imbsam', s) for s in STATISTICS])]}"
            " ImbSAM (tail-only perturbation)."
        )
    return text


def balance_reading(stats: Mapping[str, Mapping[str, Any]], measure: str) -> str:
    """Markdown paragraph: does BSAM balance ``measure`` better than SQINV, and is it SAM's doing?

    Parameters
    ----------
    stats:
        ``{method: {"spearman": {"mean", "std", "n"}, "few_many_ratio": {...}}}``, the balance
        summary of ``measure`` per method over its seeds.
    measure:
        The sharpness measure the numbers are of (named in the text).

    Returns
    -------
    str
        One paragraph of bullets; each comparison says when it is within the spread over seeds.
    """
    lines = []
    verdicts = []
    for stat, (name, target) in STATISTICS.items():
        v = compare(stats, "bsam", "sqinv", stat)
        verdicts.append(v)
        others = ", ".join(_fmt(stats, m, stat) for m in ("vanilla", "sam", "imbsam") if m in stats)
        lines.append(
            f"- {name} of {measure} (balanced: {target:g}): {_fmt(stats, 'bsam', stat)} vs "
            f"{_fmt(stats, 'sqinv', stat)}"
            + (f"; {others}" if others else "")
            + f" → BSAM {'is ' if v != 'unknown' else ''}"
            + {
                "closer": "closer to balance",
                "farther": "farther from balance",
                "within": "within the spread over seeds of SQINV",
                "unknown": "not comparable",
            }[v]
            + "."
        )
    gain = _overall(verdicts)
    lines.append(
        f"- BSAM's claim (correlation closer to 0 and ratio closer to 1 than SQINV's) → "
        f"{_CLAIM[gain]}."
    )
    lines.append(f"- {_attribution(stats, gain)}")
    return "\n".join(lines)
