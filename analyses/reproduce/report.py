"""The report page of the reproduction: every figure and table, the paper's numbers beside ours, and
a reading of where they agree, generated from the numbers (never written by hand).

:func:`paper_tables_section` sets every table of the paper that the run's data set reproduces
beside the paper's rows (Tables 1-8 and Figure 1's MAEs, :mod:`analyses.reproduce.paper`) and
writes each as ``tables/paper_<name>.md|csv|tex``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from analyses.reproduce.paper import PAPER, PAPER_SOURCE
from analyses.tables import format_cell, to_markdown, write_table
from bsam._io import atomic_path

if TYPE_CHECKING:
    from analyses.reproduce.pipeline import ReproduceResult

__all__ = [
    "Claim",
    "Section",
    "claims_from_results",
    "write_report",
    "PAPER_TABLE_HEADERS",
    "paper_table_specs",
    "paper_tables_section",
]


@dataclass
class Claim:
    """One claim of the paper, checked against our numbers."""

    text: str
    ours: str
    paper: str
    agrees: bool | None  # None: not measurable here
    within_noise: bool = False  # the difference is smaller than the spread over seeds

    def line(self) -> str:
        """One Markdown bullet."""
        verdict = {True: "**agrees**", False: "**does not agree**", None: "not measured"}[self.agrees]
        if self.within_noise and self.agrees is not None:
            verdict += " (the difference is within the spread over seeds)"
        return f"- {self.text} — ours: {self.ours}; paper: {self.paper} → {verdict}."


@dataclass
class Section:
    """A titled part of the report: text, tables (Markdown) and images (paths relative to the report)."""

    title: str
    text: str = ""
    tables: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        """Markdown of the section."""
        parts = [f"## {self.title}", ""]
        if self.text:
            parts += [self.text, ""]
        for table in self.tables:
            parts += [table, ""]
        for image in self.images:
            parts += [f"![{Path(image).stem}]({image})", ""]
        return "\n".join(parts)


def _ratio(a: float, b: float) -> float:
    return a / b if b and math.isfinite(a) and math.isfinite(b) else math.nan


def _noise(spread: Mapping[str, Mapping[str, float]] | None, a: tuple[str, str], b: tuple[str, str], diff: float) -> bool:
    """Whether ``|diff|`` is below the combined std over seeds of the two cells (when known)."""
    if not spread:
        return False
    sa = spread.get(a[0], {}).get(a[1], math.nan)
    sb = spread.get(b[0], {}).get(b[1], math.nan)
    stds = [s for s in (sa, sb) if math.isfinite(s)]
    return bool(stds) and abs(diff) < math.sqrt(sum(s * s for s in stds))


def claims_from_results(
    mae: Mapping[str, Mapping[str, float]],
    hessian_few: Mapping[str, Mapping[str, float]] | None = None,
    *,
    mae_std: Mapping[str, Mapping[str, float]] | None = None,
    hessian_std: Mapping[str, Mapping[str, float]] | None = None,
    seeds: Mapping[str, int] | None = None,
) -> list[Claim]:
    """Check the paper's headline claims against our means.

    ``mae[method][region]`` is our mean test MAE; ``hessian_few[method][metric]`` our mean few-shot
    lambda_max / trace (training samples), when computed. With the standard deviations over seeds
    (``mae_std``, ``hessian_std``), each of our numbers reads "mean ± std", and a claim whose
    difference is smaller than their combined spread is marked as such; with ``seeds`` (models
    per method) each also says over how many seeds, ``n = 1`` where there is no spread.
    """
    claims: list[Claim] = []
    p = PAPER["mae"]

    def get(method: str, region: str) -> float:
        return float(mae.get(method, {}).get(region, math.nan))

    def ours(method: str, value: float, spread: Mapping[str, Mapping[str, float]] | None,
             key: str, fmt: str = ".2f") -> str:
        """``mean ± std (n = k)`` of one of our cells, as far as the spread and count are known."""
        std = float((spread or {}).get(method, {}).get(key, math.nan))
        text = format_cell((value, std), fmt)
        n = (seeds or {}).get(method)
        return f"{text} (n = {n})" if n is not None and math.isfinite(value) else text

    def pair(a: str, b: str, region: str) -> str:
        return f"{ours(a, get(a, region), mae_std, region)} vs {ours(b, get(b, region), mae_std, region)}"

    v_few, v_many = get("vanilla", "few"), get("vanilla", "many")
    r = _ratio(v_few, v_many)
    claims.append(Claim(
        "Vanilla training is much worse on few-shot than on many-shot ages (few/many MAE ratio ≥ 1.5)",
        f"{format_cell(r, '.2f')} ({ours('vanilla', v_few, mae_std, 'few')} vs "
        f"{ours('vanilla', v_many, mae_std, 'many')})",
        f"{p['vanilla']['few'] / p['vanilla']['many']:.2f} ({p['vanilla']['few']} vs {p['vanilla']['many']})",
        None if math.isnan(r) else r >= 1.5,
    ))
    for method, other in (("sqinv", "vanilla"), ("bsam", "sqinv")):
        a, b = get(method, "few"), get(other, "few")
        claims.append(Claim(
            f"{method.upper()} lowers few-shot MAE compared with {other.upper()}",
            pair(method, other, "few"),
            f"{p[method]['few']} vs {p[other]['few']}",
            None if math.isnan(a - b) else a < b,
            _noise(mae_std, (method, "few"), (other, "few"), a - b),
        ))
    a, b = get("bsam", "all"), get("sqinv", "all")
    claims.append(Claim("BSAM lowers overall MAE compared with SQINV", pair("bsam", "sqinv", "all"),
                        f"{p['bsam']['all']} vs {p['sqinv']['all']}", None if math.isnan(a - b) else a < b,
                        _noise(mae_std, ("bsam", "all"), ("sqinv", "all"), a - b)))
    best = [(get(m, "all"), m) for m in ("sam", "imbsam", "bsam")]
    if all(math.isfinite(v) for v, _ in best):
        (low, winner), (second, runner_up) = sorted(best)[:2]
        claims.append(Claim("Among SQINV+SAM, +ImbSAM and +BSAM, BSAM has the lowest overall MAE",
                            ", ".join(f"{m} {ours(m, v, mae_std, 'all')}" for v, m in best),
                            f"sam {p['sam']['all']}, imbsam {p['imbsam']['all']}, bsam {p['bsam']['all']}",
                            winner == "bsam",
                            _noise(mae_std, (winner, "all"), (runner_up, "all"), low - second)))
    def flatter(text: str, other: str, metric: str, paper: str) -> Claim:
        """BSAM's few-shot ``metric`` below ``other``'s."""
        a = float(hessian_few.get("bsam", {}).get(metric, math.nan))
        b = float(hessian_few.get(other, {}).get(metric, math.nan))
        return Claim(text, f"{ours('bsam', a, hessian_std, metric, '.3g')} vs "
                     f"{ours(other, b, hessian_std, metric, '.3g')}", paper,
                     None if math.isnan(a - b) else a < b,
                     _noise(hessian_std, ("bsam", metric), (other, metric), a - b))

    if hessian_few:
        t8 = PAPER["table8"]
        for metric, name in (("lambda_max", "λ_max"), ("trace", "trace")):
            claims.append(flatter(f"BSAM has a flatter few-shot region than SQINV ({name} smaller)",
                                  "sqinv", metric, f"{t8['bsam'][metric]} vs {t8['sqinv'][metric]}"))
        if "sam" in hessian_few:  # the control: is the flatness the balance's or SAM's?
            claims.append(flatter(
                "Control (not in the paper): BSAM has a flatter few-shot region than SQINV + SAM "
                "(λ_max smaller), i.e. its flatness is more than SAM's",
                "sam", "lambda_max", "not reported"))
    return claims


def write_report(
    path: str | Path,
    *,
    title: str,
    setup: Sequence[tuple[str, str, str]],
    sections: Sequence[Section],
    claims: Sequence[Claim],
    notes: Sequence[str] = (),
) -> Path:
    """Write the Markdown report atomically.

    ``setup`` rows are ``(aspect, paper, ours)``; the claims become the "Reading" section.
    """
    lines = [f"# {title}", "", f"Paper: {PAPER_SOURCE}. Ours: see the set-up table; numbers are "
             "not expected to match the paper's, the *direction* of each effect is what we compare.", ""]
    lines += [to_markdown([{"aspect": a, "paper": p, "ours": o} for a, p, o in setup], ["aspect", "paper", "ours"]), ""]
    lines += ["## Reading", "", "Generated from the numbers below.", ""]
    lines += [c.line() for c in claims] + [""]
    lines += [f"- {n}" for n in notes] + ([""] if notes else [])
    for section in sections:
        lines.append(section.markdown())
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return path


_METRIC_NAMES = {"mae": "MAE", "gm": "GM", "bmae": "bMAE", "rmse": "RMSE", "delta1": "δ1"}
#: Column headers of the paper-beside-ours tables.
PAPER_TABLE_HEADERS: dict[str, str] = {
    **{f"{m}_{r}": f"{name} {r}" for m, name in _METRIC_NAMES.items()
       for r in ("all", "many", "medium", "few")},
    "source": "source",
    "matrix": "matrix",
}


def paper_table_specs(
    result: ReproduceResult,
) -> list[tuple[str, str, Callable[[], tuple[list[dict], list[str]]]]]:
    """``(file name, title, rows builder)`` of every paper table the run's data set reproduces.

    Age data (AgeDB-DIR, and ``agedb-synth``): Tables 1, 4, 5, 6, 7, 8 and Figure 1;
    IMDB-WIKI-DIR: Tables 2 and 4, and Tables 5-8 and Figure 1 beside the paper's AgeDB-DIR rows
    (the paper gives them for AgeDB-DIR only); NYUD2-DIR: Table 3.
    """
    from analyses.reproduce import results as res
    from analyses.reproduce.hessian_tables import table8_vs_paper

    cfg, runs = result.config, result.runs
    dataset = res.paper_dataset(cfg.data)
    main = [m for m in cfg.methods if res.runs_of(runs, m)]
    number = {"AgeDB-DIR": 1, "IMDB-WIKI-DIR": 2, "NYUD2-DIR": 3}[dataset]
    what = "RMSE and δ1" if dataset == "NYUD2-DIR" else "MAE and GM"
    specs = [(f"paper_table{number}", f"Table {number} ({dataset}): {what} per region",
              lambda: res.dir_table_vs_paper(runs, cfg.data, main))]
    if dataset == "NYUD2-DIR":
        return specs
    specs += [
        ("paper_table4", f"Table 4 ({dataset}): bMAE per region",
         lambda: res.table4_vs_paper(runs, cfg.data)),
        ("paper_table5", "Table 5 (AgeDB-DIR): BSAM with vanilla L1 descent, MAE",
         lambda: res.table5_vs_paper(runs, cfg.data)),
        ("paper_table6", "Table 6 (AgeDB-DIR): SQINV with SAM, ImbSAM and BSAM, MAE",
         lambda: res.table6_vs_paper(runs, cfg.data)),
        ("paper_table7", "Table 7 (AgeDB-DIR): INV vs SQINV perturbation weights, MAE",
         lambda: res.table7_vs_paper(runs, cfg.data)),
        ("paper_table8", "Table 8 (AgeDB-DIR): few-shot λ_max and trace, training samples",
         lambda: table8_vs_paper(cfg, result.hessian)),
        ("paper_figure1", "Figure 1 (AgeDB-DIR): the vanilla model's MAE, all and few-shot",
         lambda: res.figure1_vs_paper(runs, cfg.data)),
    ]
    return specs


def paper_tables_section(result: ReproduceResult) -> Section | None:
    """Every reproduced table beside the paper's rows, one Markdown table each, also written as
    ``<out>/tables/paper_<name>.md|csv|tex``; ``None`` when no run was trained.

    Rows are marked by the ``source`` column: ``paper, <data set>`` (the paper's quoted
    baselines keep their ``(quoted)`` label) and ``ours, <data>``. Cells neither gives are "–"
    (empty in the CSV), never filled in.
    """
    if not result.runs:
        return None
    headers = {**PAPER_TABLE_HEADERS, "lambda_max": "λ_max", "trace": "Tr(matrix)"}
    tables = []
    for name, title, build in paper_table_specs(result):
        rows, cols = build()
        if not any(r["source"].startswith("ours") for r in rows):
            continue
        write_table(result.config.out_dir / "tables" / name, rows, cols, headers=headers,
                    caption=title)
        tables.append(f"**{title}**\n\n" + to_markdown(rows, cols, headers=headers))
    if not tables:
        return None
    return Section(
        "The paper's tables beside ours",
        f"Each table sets the paper's rows (source 'paper, <data set>'; '(quoted)' rows are the "
        f"numbers the paper quotes from other papers, '(reproduced)' its own runs) beside ours "
        f"(source 'ours, {result.config.data}', mean ± std over seeds). Our data is "
        f"{result.config.data}; the paper's tables of the data set it copies are shown. '–': "
        "no value (the paper prints none, or our run did not report it).",
        tables,
    )
