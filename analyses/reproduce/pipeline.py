"""``bsam reproduce``: train every method, compute surfaces and Hessian metrics, write the report.

Data flow (each stage reads what the one before wrote, and skips what is already done)::

    data -> train runs (runs/) -> surfaces (surfaces/*.h5) -> Hessian metrics (hessian/*.json)
         -> figures (figures/*.png|pdf) + tables (tables/*.md|csv|tex) -> report.md
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analyses.plotting import save_figure
from analyses.reproduce import figures as figs
from analyses.reproduce import results as res
from analyses.reproduce.config import METHOD_LABELS, ReproduceConfig
from analyses.reproduce.hessian_tables import few_shot_means, flatness_rows, table8
from analyses.reproduce.report import Section, claims_from_results, write_report
from analyses.reproduce.stages import RunOutput, hessian_stage, surface_stage, train_stage
from analyses.tables import to_markdown, write_table
from bsam._io import read_json, write_json
from bsam._version import __version__

__all__ = ["ReproduceResult", "reproduce", "STAGES"]

log = logging.getLogger("bsam.reproduce")

#: Stages in order; ``reproduce(stages=...)`` may stop early (the later ones need the earlier).
STAGES: tuple[str, ...] = ("train", "surface", "hessian", "report")


@dataclass
class ReproduceResult:
    """What :func:`reproduce` computed and wrote."""

    config: ReproduceConfig
    runs: dict[tuple[str, int], RunOutput] = field(default_factory=dict)
    surfaces: dict[str, dict[str, Path]] = field(default_factory=dict)
    hessian: dict[tuple[str, int, str], Path] = field(default_factory=dict)
    artefacts: dict[str, Path] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def report(self) -> Path:
        """The report page."""
        return self.config.out_dir / "report.md"


def reproduce(
    cfg: ReproduceConfig, *, quiet: bool = False, stages: tuple[str, ...] = STAGES
) -> ReproduceResult:
    """Run the reproduction described by ``cfg`` into ``cfg.out`` (resuming what is there)."""
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise ValueError(f"Unknown stage(s) {unknown}; choose from {list(STAGES)}.")
    out = cfg.out_dir
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", {"version": __version__, **cfg.to_dict()})
    result = ReproduceResult(cfg)
    clock = time.perf_counter

    t = clock()
    result.runs = train_stage(cfg, quiet=quiet)
    result.timings["train"] = clock() - t
    if "surface" in stages:
        t = clock()
        result.surfaces = surface_stage(cfg, result.runs, quiet=quiet)
        result.timings["surface"] = clock() - t
    if "hessian" in stages:
        t = clock()
        result.hessian = hessian_stage(cfg, result.runs, quiet=quiet)
        result.timings["hessian"] = clock() - t
    if "report" in stages:
        t = clock()
        result.artefacts = render(result)
        result.timings["report"] = clock() - t
    write_json(out / "timings.json", result.timings)
    return result


def _save(fig, path: Path, artefacts: dict[str, Path], key: str) -> None:
    artefacts[key] = save_figure(fig, path)[0]


def render(result: ReproduceResult) -> dict[str, Path]:
    """Write every figure, table and the report from the stages' outputs."""
    cfg, runs = result.config, result.runs
    out = cfg.out_dir
    fig_dir, tab_dir = out / "figures", out / "tables"
    artefacts: dict[str, Path] = {}
    sections: list[Section] = []

    # -- MAE tables (Tables 1/4, 5, 6, 7) ----------------------------------------------------------
    main_names = [m for m in cfg.methods if res.runs_of(runs, m)]
    rows, cols = res.mae_table(runs, main_names, metrics=("mae", "gm", "bmae"))
    artefacts["table1"] = write_table(tab_dir / "table1_mae", rows, cols, caption="Test metrics per region")["md"]
    cmp_rows, cmp_cols = res.paper_comparison(runs, main_names)
    write_table(tab_dir / "table1_vs_paper", cmp_rows, cmp_cols, caption="Test MAE, ours vs paper")
    sections.append(Section(
        "MAE, GM and bMAE per region (the paper's Tables 1 and 4 layout)",
        "Test split, best-by-validation checkpoint, mean ± std over seeds (seeds column). "
        "Second table: our MAE beside the paper's (AgeDB-DIR, ResNet-18); '–' where the paper "
        "reports no value for that cell.",
        [to_markdown(rows, cols), to_markdown(cmp_rows, cmp_cols)],
    ))
    for key, builder, title, text in (
        ("table6", res.table6, "Table 6: SQINV combined with SAM, ImbSAM and BSAM",
         "Paper (MAE all): SQINV 6.391, +SAM 6.230, +ImbSAM 6.184, +BSAM 6.067."),
        ("table5", res.table5, "Table 5: BSAM with vanilla L1 descent",
         "BSAM's perturbation is balance-weighted in both rows; the descent loss is vanilla L1 "
         "(row 'BSAM (vanilla L1 descent)') or SQINV-weighted L1. The paper's values for this "
         "table are not recorded in this project."),
        ("table7", res.table7, "Table 7: INV vs SQINV perturbation weights",
         "The paper's values for this table are not recorded in this project."),
    ):
        rows_k, cols_k = builder(runs)
        if len(rows_k) > 1:
            artefacts[key] = write_table(tab_dir / key, rows_k, cols_k, caption=title)["md"]
            sections.append(Section(title, text, [to_markdown(rows_k, cols_k)]))

    # -- Figure 1 and 1D curves ---------------------------------------------------------------------
    if result.surfaces:
        images = []
        first = next(iter(result.surfaces))
        label = METHOD_LABELS.get(first, first)
        _save(figs.figure1(result.surfaces[first]["2d"], label=label), fig_dir / "figure1", artefacts, "figure1")
        images.append("figures/figure1.png")
        if len(result.surfaces) > 1:
            _save(figs.figure1_methods({m: p["2d"] for m, p in result.surfaces.items()}),
                  fig_dir / "figure1_methods", artefacts, "figure1_methods")
            images.append("figures/figure1_methods.png")
        _save(figs.curves_by_method({m: p["1d"] for m, p in result.surfaces.items()}),
              fig_dir / "surfaces_1d", artefacts, "surfaces_1d")
        images.append("figures/surfaces_1d.png")
        sections.append(Section(
            "Figure 1: loss landscapes over all and over few-shot test samples",
            f"2D surfaces of the L1 test loss at θ + a·d₁ + b·d₂ (filter-normalized random directions, "
            f"{cfg.surface_points_2d}×{cfg.surface_points_2d} grid over [-{cfg.surface_span:g}, "
            f"{cfg.surface_span:g}]²) of each method's first-seed model; panel titles give the region's "
            "size and MAE at the centre. All panels of a figure share one colour scale. The 1D curves "
            f"({cfg.surface_points_1d} points along d₁) overlay every region per method. Paper "
            f"(vanilla): all-sample MAE {6.67}, few-shot MAE {10.68}; the all-sample landscape is smooth, "
            "the few-shot one sharp.",
            images=images,
        ))

    # -- Table 8 and flatness across regions ---------------------------------------------------------
    hessian_few: dict[str, dict[str, float]] | None = None
    if result.hessian:
        t8_rows, t8_cols = table8(cfg, result.hessian)
        artefacts["table8"] = write_table(tab_dir / "table8", t8_rows, t8_cols, floatfmt=".4g",
                                          caption="Hessian metrics per region")["md"]
        fl_rows = flatness_rows(cfg, result.hessian)
        _save(figs.flatness_by_region(fl_rows, regions=cfg.hessian_regions), fig_dir / "flatness_regions",
              artefacts, "flatness_regions")
        hessian_few = few_shot_means(cfg, result.hessian)
        images = ["figures/flatness_regions.png"]
        dens = {m: read_json(p) for (m, seed, split), p in sorted(result.hessian.items())
                if seed == cfg.seeds[0] and split == "test"}
        dens = {m: d for m, d in dens.items() if any("density" in e for e in d["regions"].values())}
        if dens:
            _save(figs.density_by_method(dens), fig_dir / "spectral_density", artefacts, "spectral_density")
            images.append("figures/spectral_density.png")
        sections.append(Section(
            "Table 8: sharpness of the few-shot region (and every other region)",
            "λ_max is the largest *algebraic* eigenvalue and Tr(H) the trace (Hutch++, ± its standard "
            f"error over probes averaged in quadrature across seeds is not shown; ± is the std over seeds) of the "
            f"{cfg.curvature} of the {cfg.hessian_loss.upper()} loss, on the samples named in the 'data' column "
            "(few-shot *training* samples, as the paper's Table 8 most plausibly uses, and test samples per "
            "region). Paper (few-shot, mean of 3 runs): λ_max SQINV 141.21 vs BSAM 86.51; "
            "Tr(H) SQINV 653.53 vs BSAM 90.88. See docs/curvature.md for why this curvature.",
            [to_markdown(t8_rows, t8_cols, floatfmt=".4g")],
            images,
        ))

    # -- Figure 2 (rho ablation) --------------------------------------------------------------------
    if cfg.ablation_rho:
        abl_rows, abl_cols = res.rho_ablation(cfg, runs)
        write_table(tab_dir / "figure2_rho", abl_rows, abl_cols)
        _save(figs.rho_figure(abl_rows), fig_dir / "figure2_rho", artefacts, "figure2_rho")
        sections.append(Section("Figure 2: test MAE against ρ", "", [to_markdown(abl_rows, abl_cols)],
                                ["figures/figure2_rho.png"]))

    # -- report ---------------------------------------------------------------------------------------
    mae_means = {m: {r: res.mean_std([o.test_metric(r) for o in res.runs_of(runs, m)])[0]
                     for r in res.REGION_COLUMNS} for m in main_names}
    claims = claims_from_results(mae_means, hessian_few)
    train_s = sum(float(o.metrics.get("train_seconds", math.nan)) for o in runs.values())
    r = cfg.recipe
    setup = [
        ("data", "AgeDB-DIR (real faces, 12,208 / 2,140 / 2,140)",
         f"{cfg.data} (same per-age counts)" if cfg.data.endswith("synth") else cfg.data),
        ("model", "ResNet-18, 224×224", cfg.model),
        ("hardware", "GPU", f"{cfg.device} (CPU unless a GPU was found)"),
        ("recipe", "paper's (hundreds of epochs)",
         f"{r.optimizer.upper()} lr {r.lr:g}, batch {r.batch_size}, {r.epochs} epochs, {r.schedule}, ρ {r.rho:g}, "
         "L1 descent loss; chosen on validation MAE"),
        ("seeds", "3 runs (Table 8)", f"{list(cfg.seeds)} for {', '.join(cfg.multi_seed)}; first seed for the others"),
        ("training time", "–", f"{train_s:.0f} s over {len(runs)} runs"),
    ]
    notes = ["Quick mode: tiny settings for tests; these numbers mean nothing."] if cfg.quick else []
    artefacts["report"] = write_report(out / "report.md", title="BSAM reproduction report", setup=setup,
                                       sections=sections, claims=claims, notes=notes)
    return artefacts


def summary(result: ReproduceResult) -> dict[str, Any]:
    """A JSON-safe summary (for the CLI): timings, runs and artefacts."""
    return {
        "out": str(result.config.out_dir),
        "timings_s": result.timings,
        "runs": sorted(f"{n}-s{s}" for n, s in result.runs),
        "artefacts": {k: str(v) for k, v in result.artefacts.items()},
    }
