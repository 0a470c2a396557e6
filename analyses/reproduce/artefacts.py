"""The paper's artefacts, each built from a :class:`~analyses.reproduce.pipeline.ReproduceResult`.

Every builder writes its files (figures as PNG+PDF under ``<out>/figures``, tables as
Markdown/CSV/LaTeX under ``<out>/tables``) and returns a report :class:`Section`, or ``None`` when
the stages it needs were not run. The report and the scripts in ``figures/`` call the same
builders, so a figure looks the same wherever it is made.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from analyses.plotting import save_figure
from analyses.reproduce import figures as figs
from analyses.reproduce import results as res
from analyses.reproduce.config import METHOD_LABELS
from analyses.reproduce.hessian_tables import flatness_rows, table8
from analyses.reproduce.report import Section, paper_tables_section
from analyses.tables import curvature_headers, to_markdown, write_table
from bsam._io import read_json

if TYPE_CHECKING:
    from analyses.reproduce.pipeline import ReproduceResult

__all__ = [
    "mae_tables",
    "table5",
    "table6",
    "table7",
    "figure1",
    "table8_section",
    "figure2",
    "sharpness_section",
    "BUILDERS",
    "HEADERS",
]

#: Column headers of the tables.
HEADERS: dict[str, str] = {
    **{f"{m}_{r}": f"{m.upper() if m != 'bmae' else 'bMAE'} {r}"
       for m in ("mae", "gm", "bmae") for r in res.REGION_COLUMNS},
    **{f"{w}_{r}": f"{w} {r}" for w in ("ours", "paper") for r in res.REGION_COLUMNS},
    "lambda_max": "λ_max", "lambda_min": "λ_min", "trace": "Tr(H)", "computed": "computed by",
}


def _figure(result: ReproduceResult, fig, name: str) -> str:
    """Save ``fig`` as ``figures/<name>.png|pdf``; return the PNG path relative to the output."""
    save_figure(fig, result.config.out_dir / "figures" / name)
    return f"figures/{name}.png"


def _table(result: ReproduceResult, name: str, rows, cols, *, caption: str, floatfmt: str = ".3f",
           headers: dict[str, str] | None = None) -> str:
    """Write ``tables/<name>.md|csv|tex``; return the Markdown text."""
    headers = {**HEADERS, **(headers or {})}
    write_table(result.config.out_dir / "tables" / name, rows, cols, headers=headers,
                floatfmt=floatfmt, caption=caption)
    return to_markdown(rows, cols, headers=headers, floatfmt=floatfmt)


def main_methods(result: ReproduceResult) -> list[str]:
    """The configured methods that were trained."""
    return [m for m in result.config.methods if res.runs_of(result.runs, m)]


def mae_tables(result: ReproduceResult) -> Section | None:
    """Tables 1 and 4: MAE, GM and bMAE per region for every method, and our MAE beside the paper's."""
    names = main_methods(result)
    if not names:
        return None
    rows, cols = res.mae_table(result.runs, names, metrics=("mae", "gm", "bmae"))
    cmp_rows, cmp_cols = res.paper_comparison(result.runs, names)
    return Section(
        "MAE, GM and bMAE per region (the paper's Tables 1 and 4 layout)",
        "Test split, best-by-validation checkpoint, mean ± std over seeds (seeds column). "
        "Second table: our MAE beside the paper's (AgeDB-DIR, ResNet-18); '–' where the paper "
        "reports no value for that cell.",
        [_table(result, "table1_mae", rows, cols, caption="Test metrics per region"),
         _table(result, "table1_vs_paper", cmp_rows, cmp_cols, caption="Test MAE, ours vs paper")],
    )


#: Where the MAE sections send the reader for the paper's numbers (never typed in here: they come
#: from analyses/reproduce/data/paper_tables.json through paper_tables_section).
_PAPER_ROWS = "The paper's rows are set beside ours in the section 'The paper's tables beside ours'."


def _mae_section(result: ReproduceResult, name: str, builder: Callable, title: str, text: str) -> Section | None:
    rows, cols = builder(result.runs)
    if len(rows) < 2:
        return None
    return Section(title, text, [_table(result, name, rows, cols, caption=title)])


def table5(result: ReproduceResult) -> Section | None:
    """Table 5: BSAM with vanilla L1 descent (balanced perturbation only) against the other rows."""
    return _mae_section(
        result, "table5", res.table5, "Table 5: BSAM with vanilla L1 descent",
        "BSAM's perturbation is balance-weighted in both BSAM rows; the descent loss is vanilla L1 "
        "(row 'BSAM (vanilla L1 descent)') or SQINV-weighted L1 ('SQINV + BSAM'). " + _PAPER_ROWS)


def table6(result: ReproduceResult) -> Section | None:
    """Table 6: SQINV combined with SAM, ImbSAM and BSAM."""
    return _mae_section(
        result, "table6", res.table6, "Table 6: SQINV combined with SAM, ImbSAM and BSAM",
        "Test MAE per region. " + _PAPER_ROWS)


def table7(result: ReproduceResult) -> Section | None:
    """Table 7: INV against SQINV perturbation weights in BSAM."""
    return _mae_section(
        result, "table7", res.table7, "Table 7: INV vs SQINV perturbation weights",
        "Both rows use the SQINV-weighted L1 descent loss; only BSAM's perturbation weights differ. "
        + _PAPER_ROWS)


def figure1(result: ReproduceResult) -> Section | None:
    """Figure 1 (first surface method, all vs few), the same pair for every surface method on one
    colour scale, and the 1D curves of every region per method."""
    surfaces, cfg = result.surfaces, result.config
    if not surfaces:
        return None
    first = next(iter(surfaces))
    label, quick = METHOD_LABELS.get(first, first), cfg.quick
    images = [_figure(result, figs.figure1(surfaces[first]["2d"], label=label, quick=quick), "figure1"),
              _figure(result, figs.figure1_rise(surfaces[first]["2d"], label=label, quick=quick), "figure1_rise")]
    if len(surfaces) > 1:
        images.append(_figure(result, figs.figure1_methods({m: p["2d"] for m, p in surfaces.items()}, quick=quick),
                              "figure1_methods"))
    images.append(_figure(result, figs.curves_by_method({m: p["1d"] for m, p in surfaces.items()}, quick=quick),
                          "surfaces_1d"))
    n, span = cfg.surface_points_2d, cfg.surface_span
    return Section(
        "Figure 1: loss landscapes over all and over few-shot test samples",
        f"2D surfaces of the L1 test loss at θ + a·d₁ + b·d₂ (filter-normalized random directions, "
        f"{n}×{n} grid over [-{span:g}, {span:g}]²) of each method's first-seed model; panel titles "
        "give the region's size and MAE at the centre. All panels of a figure share one colour "
        "scale; the rise view (figure1_rise) shows each region's loss above its own centre value "
        f"on one shared scale, so it compares sharpness, not loss level. The 1D curves ({cfg.surface_points_1d} points along d₁) overlay every region per "
        "method. Paper (vanilla): all-sample MAE 6.67, few-shot MAE 10.68; the all-sample "
        "landscape is smooth, the few-shot one sharp.",
        images=images,
    )


def table8_section(result: ReproduceResult) -> Section | None:
    """Table 8 (lambda_max and Tr per region, SQINV vs BSAM), the flatness-across-regions figure and
    the spectral densities of the first seed."""
    cfg, hessian = result.config, result.hessian
    if not hessian:
        return None
    rows, cols = table8(cfg, hessian)
    names = curvature_headers(cfg.curvature)
    md = _table(result, "table8", rows, cols, caption="Curvature per region", floatfmt=".4g", headers=names)
    images = [_figure(result, figs.flatness_by_region(flatness_rows(cfg, hessian), region_names=cfg.hessian_regions,
                                                      quick=cfg.quick, curvature=cfg.curvature),
                      "flatness_regions")]
    dens = {m: read_json(p) for (m, seed, split), p in sorted(hessian.items())
            if seed == cfg.seeds[0] and split == "test"}
    dens = {m: d for m, d in dens.items() if any("density" in e for e in d["regions"].values())}
    if dens:
        images.append(_figure(result, figs.density_by_method(dens, quick=cfg.quick), "spectral_density"))
    if cfg.curvature == "ggn":
        what = ("Gauss-Newton matrix G = JᵀJ/M (the output-Jacobian Gram matrix, positive "
                "semi-definite; it does not depend on the loss's residuals)")
    else:
        what = f"Hessian of the {cfg.hessian_loss.upper()} loss"
    tr = names["trace"]
    return Section(
        "Table 8: sharpness of the few-shot region (and of every other region)",
        f"Curvature: the {what} — the choice that reproduces "
        "Table 8's positive λ_max ≤ trace most plausibly (the L1 Hessian itself is indefinite; "
        f"docs/curvature.md). λ_max is the largest eigenvalue and {tr} the trace, computed exactly "
        "from the eigenvalues of the Gram matrix JJᵀ/M (zero stochastic error) wherever it fits "
        f"in {cfg.gram_max_bytes / 2**20:.0f} MiB, else by Lanczos (residual-based stop) and "
        "Hutch++; the 'computed by' column says which. ± is the std over seeds. The 'data' column says which samples: the "
        "few-shot *training* samples (what the paper's Table 8 most plausibly uses) and the "
        "few-shot test samples for every seed; the other test regions for the first seed only. "
        "Paper (few-shot, mean of 3 runs): λ_max SQINV 141.21 vs BSAM 86.51; Tr(H) SQINV 653.53 "
        f"vs BSAM 90.88 (the paper's Tr(H); ours is {tr}).",
        [md],
        images,
    )


def figure2(result: ReproduceResult) -> Section | None:
    """Figure 2: test MAE against rho for SAM, ImbSAM and BSAM, with SQINV as baseline."""
    if not result.config.ablation_rho:
        return None
    rows, cols = res.rho_ablation(result.config, result.runs)
    md = _table(result, "figure2_rho", rows, cols, caption="Test MAE against rho")
    return Section("Figure 2: test MAE against ρ", "", [md],
                   [_figure(result, figs.rho_figure(rows, quick=result.config.quick), "figure2_rho")])


def sharpness_section(result: ReproduceResult) -> Section | None:
    """Sharpness across the label space: per-bin profiles of every method and their balance."""
    from analyses.reproduce import sharpness_section as sh
    from analyses.reproduce.sharpness_reading import balance_reading

    if not result.sharpness:
        return None
    cfg = result.config
    profiles = sh.profiles_by_method(result.sharpness)
    measures = sh.measures_of(profiles)
    summary = sh.balance_summary(profiles, measures)
    rows, cols, headers = sh.balance_rows(summary, measures)
    write_table(cfg.out_dir / "tables" / "sharpness_balance", rows, cols, headers=headers,
                floatfmt=".3g", caption="Balanced flatness per method")
    primary = cfg.sharpness_primary
    images = [_figure(result, sh.overlay_figure(profiles, primary), "sharpness_methods")]
    images += [_figure(result, sh.method_figure(p, primary, m), f"sharpness_{m}")
               for m, p in profiles.items()]
    stats = {m: per[primary] for m, per in summary.items()}
    label = sh.MEASURE_LABELS.get(primary, primary)
    text = (
        f"Sharpness per target bin of the test split (windows of at least "
        f"{cfg.sharpness_min_samples} test samples; docs/sharpness.md) for every trained seed of "
        f"{', '.join(METHOD_LABELS.get(m, m) for m in profiles)}; the figures show {label} over "
        "the training density (bars: blue many-, orange medium-, red few-shot bins). The table "
        "gives, per measure, the Spearman correlation ρ_S between a bin's training count and its "
        "sharpness (0: balanced; negative: sharper where data are scarce) and the few/many ratio "
        "of the mean sharpness (1: balanced), mean ± std over seeds. The paper reports neither, "
        "nor SAM and ImbSAM's curvature: BSAM's flatness gain could be the sharpness-aware "
        "perturbation's (SAM's) rather than the balance weighting's; the comparison with SAM and "
        "ImbSAM is that control.\n\n" + balance_reading(stats, label)
    )
    md = to_markdown(rows, cols, headers=headers, floatfmt=".3g")
    return Section("Sharpness across the label space", text, [md], images)


#: Builders in report order.
BUILDERS: tuple[Callable[[ReproduceResult], Section | None], ...] = (
    mae_tables, table6, table5, table7, figure1, table8_section, sharpness_section, figure2,
    paper_tables_section,
)


def build_all(result: ReproduceResult) -> list[Section]:
    """Run every builder; return the sections of those whose stages ran."""
    return [s for s in (b(result) for b in BUILDERS) if s is not None]


def report_path(result: ReproduceResult) -> Path:
    """The report page of ``result``."""
    return result.config.out_dir / "report.md"
