"""Render result tables as Markdown, CSV and LaTeX from one list of rows.

A table is a list of dicts (one per row) plus the column keys to show; numbers are formatted with
``floatfmt``, NaN is shown as an en dash, and a ``(mean, std)`` tuple as ``mean ± std``. A value
that failed its certificate (a Ritz value whose certified relative residual exceeds its tolerance)
is wrapped in :class:`NotConverged` and shown as ``n/c`` in every format (Markdown, CSV, LaTeX),
never as a number; Markdown and LaTeX then end with the footnote :data:`NC_NOTE`.

Curvature columns are named for the matrix they measure (:func:`curvature_headers`): ``Tr(H)``
for the Hessian, ``Tr(G)`` for the Gauss-Newton matrix ``G = J^T J / M`` (the output-Jacobian
Gram matrix, which does not depend on the L1 loss), with :func:`curvature_note` as the caption.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from bsam._io import atomic_path

__all__ = [
    "format_cell",
    "to_markdown",
    "to_csv",
    "to_latex",
    "write_table",
    "NotConverged",
    "NC_MARK",
    "NC_NOTE",
    "CURVATURE_SYMBOLS",
    "curvature_headers",
    "curvature_note",
]

#: How a :class:`NotConverged` cell is shown, in every format.
NC_MARK = "n/c"
#: The footnote of a table with an ``n/c`` cell.
NC_NOTE = "n/c: not converged (certified relative residual above tol); the value is withheld."


#: The symbol of each curvature matrix (``curvature=`` / ``--curvature``) in headers.
CURVATURE_SYMBOLS: dict[str, str] = {"hessian": "H", "ggn": "G"}
_CURVATURE_NOTES: dict[str, str] = {
    "hessian": "H: the Hessian of the region's mean loss.",
    "ggn": "G = J^T J / M: the Gauss-Newton matrix of the region's M samples (J: the Jacobian "
    "of the outputs), i.e. the output-Jacobian Gram matrix, the Gauss-Newton matrix of the "
    "squared error; it does not depend on the L1 loss or its residuals.",
}


def _symbol(curvature: str) -> str:
    if curvature not in CURVATURE_SYMBOLS:
        raise ValueError(
            f"Invalid curvature {curvature!r}: choose one of {list(CURVATURE_SYMBOLS)} (the "
            "curvature= of the result, recorded in its provenance)"
        )
    return CURVATURE_SYMBOLS[curvature]


def curvature_headers(curvature: str) -> dict[str, str]:
    """Column headers of the curvature metrics of a result computed with ``curvature``.

    The trace is ``Tr(H)`` for the Hessian and ``Tr(G)`` for the Gauss-Newton matrix
    ``G = J^T J / M`` (never ``Tr(H)`` over a Gauss-Newton trace); the eigenvalues keep the
    paper's ``λ_max`` / ``λ_min``, and ``λ_|max|`` is the one of largest magnitude.

    Raises
    ------
    ValueError
        ``curvature`` is not a key of :data:`CURVATURE_SYMBOLS`.
    """
    s = _symbol(curvature)
    return {
        "lambda_max": "λ_max",
        "lambda_min": "λ_min",
        "lambda_abs": "λ_|max|",
        "trace": f"Tr({s})",
        "trace_se": f"SE of Tr({s})",
    }


def curvature_note(curvature: str) -> str:
    """One sentence saying which matrix ``curvature`` is, for a caption or a footnote.

    Raises
    ------
    ValueError
        ``curvature`` is not a key of :data:`CURVATURE_SYMBOLS`.
    """
    _symbol(curvature)
    return _CURVATURE_NOTES[curvature]


class NotConverged(float):
    """A number that failed its certificate: shown as :data:`NC_MARK`, still a float underneath."""

    def __repr__(self) -> str:
        return f"NotConverged({float(self)!r})"


def _is_nc(value: object) -> bool:
    if isinstance(value, tuple) and len(value) == 2:
        return isinstance(value[0], NotConverged)
    return isinstance(value, NotConverged)


def _has_nc(rows: Sequence[Mapping[str, object]], columns: Sequence[str]) -> bool:
    return any(_is_nc(row.get(c)) for row in rows for c in columns)


def format_cell(value: object, floatfmt: str = ".3f") -> str:
    """Text of one cell: floats with ``floatfmt``, NaN as "–", ``(mean, std)`` as "mean ± std",
    a :class:`NotConverged` value (or a pair whose mean is one) as "n/c"."""
    if _is_nc(value):
        return NC_MARK
    if isinstance(value, tuple) and len(value) == 2:
        mean, std = value
        if std is None or (isinstance(std, float) and math.isnan(std)):
            return format_cell(mean, floatfmt)
        return f"{format_cell(mean, floatfmt)} ± {format_cell(std, floatfmt)}"
    if value is None:
        return "–"
    if isinstance(value, float):
        return "–" if math.isnan(value) else format(value, floatfmt)
    return str(value)


def _headers(columns: Sequence[str], headers: Mapping[str, str] | None) -> list[str]:
    headers = headers or {}
    return [headers.get(c, c) for c in columns]


def to_markdown(
    rows: Sequence[Mapping[str, object]],
    columns: Sequence[str],
    *,
    headers: Mapping[str, str] | None = None,
    floatfmt: str = ".3f",
) -> str:
    """A GitHub-flavoured Markdown table (first column left-aligned, the others right-aligned)."""
    head = _headers(columns, headers)
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join([":---"] + ["---:"] * (len(columns) - 1)) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(format_cell(row.get(c), floatfmt) for c in columns) + " |")
    if _has_nc(rows, columns):
        lines += ["", NC_NOTE]
    return "\n".join(lines)


def to_csv(rows: Sequence[Mapping[str, object]], columns: Sequence[str]) -> str:
    """CSV text with full-precision numbers; ``(mean, std)`` cells become ``<col>_mean``/``<col>_std``;
    a :class:`NotConverged` cell is ``n/c`` (its std left empty)."""
    flat_cols: list[str] = []
    for c in columns:
        if any(isinstance(r.get(c), tuple) for r in rows):
            flat_cols += [f"{c}_mean", f"{c}_std"]
        else:
            flat_cols.append(c)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(flat_cols)
    for row in rows:
        out = []
        for c in columns:
            v = row.get(c)
            if _is_nc(v):
                out += [NC_MARK, ""] if f"{c}_mean" in flat_cols else [NC_MARK]
            elif f"{c}_mean" in flat_cols:
                out += list(v) if isinstance(v, tuple) else [v, ""]
            else:
                out.append(v)
        writer.writerow(["" if v is None else v for v in out])
    return buf.getvalue()


def to_latex(
    rows: Sequence[Mapping[str, object]],
    columns: Sequence[str],
    *,
    headers: Mapping[str, str] | None = None,
    floatfmt: str = ".2f",
    caption: str = "",
) -> str:
    """A ``booktabs`` LaTeX tabular (with ``$\\pm$`` for standard deviations)."""
    def esc(text: str) -> str:
        return text.replace("_", r"\_").replace("%", r"\%").replace("±", r"$\pm$").replace("–", "--")

    spec = "l" + "r" * (len(columns) - 1)
    lines = [r"\begin{table}[t]", r"\centering"]
    if caption:
        lines.append(rf"\caption{{{esc(caption)}}}")
    lines += [rf"\begin{{tabular}}{{{spec}}}", r"\toprule", " & ".join(esc(h) for h in _headers(columns, headers)) + r" \\", r"\midrule"]
    for row in rows:
        lines.append(" & ".join(esc(format_cell(row.get(c), floatfmt)) for c in columns) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if _has_nc(rows, columns):
        lines.append(rf"\\[2pt] {{\footnotesize {esc(NC_NOTE)}}}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def write_table(
    stem: str | Path,
    rows: Sequence[Mapping[str, object]],
    columns: Sequence[str],
    *,
    headers: Mapping[str, str] | None = None,
    floatfmt: str = ".3f",
    caption: str = "",
) -> dict[str, Path]:
    """Write ``stem.md``, ``stem.csv`` and ``stem.tex`` atomically; return the paths by format."""
    stem = Path(stem)
    texts = {
        "md": to_markdown(rows, columns, headers=headers, floatfmt=floatfmt) + "\n",
        "csv": to_csv(rows, columns),
        "tex": to_latex(rows, columns, headers=headers, floatfmt=floatfmt, caption=caption),
    }
    paths = {}
    for ext, text in texts.items():
        path = stem.with_suffix(f".{ext}")
        with atomic_path(path) as tmp:
            tmp.write_text(text)
        paths[ext] = path
    return paths
