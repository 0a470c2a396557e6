"""``bsam reproduce``: train every method, compute surfaces and Hessian metrics, write the report.

Data flow (each stage reads what the one before wrote, and skips what is already done)::

    data -> train runs (runs/) -> surfaces (surfaces/*.h5) -> Hessian metrics (hessian/*.json)
         -> per-bin sharpness profiles (sharpness/*.json)
         -> figures (figures/*.png|pdf) + tables (tables/*.md|csv|tex) -> report.md
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analyses.reproduce import results as res
from analyses.reproduce.config import ReproduceConfig, plan_runs
from analyses.reproduce.hessian_tables import few_shot_means
from analyses.reproduce.lock import output_lock
from analyses.reproduce.paper import paper_tables
from analyses.reproduce.processes import check_jobs
from analyses.reproduce.report import claims_from_results, write_report
from analyses.reproduce.stages import (
    RunOutput,
    hessian_stage,
    skipped_stages,
    surface_stage,
    train_stage,
)
from bsam._io import write_json
from bsam._version import __version__

__all__ = ["ReproduceResult", "reproduce", "STAGES"]

log = logging.getLogger("bsam.reproduce")

#: Stages in order; ``reproduce(stages=...)`` may stop early (the later ones need the earlier).
STAGES: tuple[str, ...] = ("train", "surface", "hessian", "sharpness", "report")


@dataclass
class ReproduceResult:
    """What :func:`reproduce` computed and wrote."""

    config: ReproduceConfig
    runs: dict[tuple[str, int], RunOutput] = field(default_factory=dict)
    surfaces: dict[str, dict[str, Path]] = field(default_factory=dict)
    hessian: dict[tuple[str, int, str], Path] = field(default_factory=dict)
    sharpness: dict[tuple[str, int], Path] = field(default_factory=dict)
    artefacts: dict[str, Path] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    #: ``{stage: reason}`` for the stages that do not apply to the data (dense targets).
    skipped: dict[str, str] = field(default_factory=dict)
    #: Training runs trained side by side (``--jobs``).
    jobs: int = 1

    @property
    def report(self) -> Path:
        """The report page."""
        return self.config.out_dir / "report.md"


def reproduce(
    cfg: ReproduceConfig,
    *,
    quiet: bool = False,
    stages: tuple[str, ...] = STAGES,
    jobs: int = 1,
) -> ReproduceResult:
    """Run the reproduction described by ``cfg`` into ``cfg.out`` (resuming what is there).

    ``jobs`` training runs (then surfaces, Hessian results and sharpness profiles) are computed
    side by side, each in its own process with its share of the cores
    (:mod:`analyses.reproduce.jobs`); the files written do not depend on it (``bsam
    reproduce`` passes ``--jobs auto``: :func:`~analyses.reproduce.processes.auto_jobs`). The
    per-sample stages (surface, hessian, sharpness) are skipped, with the reason in
    :attr:`ReproduceResult.skipped`, for dense targets
    (:func:`~analyses.reproduce.stages.skipped_stages`).

    The output folder is locked for the whole run (:func:`~analyses.reproduce.lock.output_lock`),
    so a second reproduction into the same folder stops at once instead of doing the work twice.

    Raises
    ------
    bsam.errors.OutputLockedError
        When another process is reproducing into ``cfg.out``.
    NotADirectoryError
        When ``cfg.out`` is an existing file.
    """
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise ValueError(f"Unknown stage(s) {unknown}; choose from {list(STAGES)}.")
    check_jobs(jobs)
    with output_lock(cfg.out_dir):
        return _reproduce(cfg, quiet=quiet, stages=stages, jobs=jobs)


def _reproduce(
    cfg: ReproduceConfig, *, quiet: bool, stages: tuple[str, ...], jobs: int
) -> ReproduceResult:
    out = cfg.out_dir
    write_json(out / "config.json", {"version": __version__, **cfg.to_dict()})
    write_json(out / "recipe.json", cfg.recipe.to_dict())
    result = ReproduceResult(cfg, jobs=jobs)
    clock = time.perf_counter

    t = clock()
    result.runs = train_stage(cfg, quiet=quiet, jobs=jobs)
    result.timings["train"] = clock() - t
    result.skipped = {s: why for s, why in skipped_stages(cfg).items() if s in stages}
    for stage, why in result.skipped.items():
        log.info("[%s] skipped: %s", stage, why)
        result.timings[stage] = 0.0
    stages = tuple(s for s in stages if s not in result.skipped)
    if "surface" in stages:
        t = clock()
        result.surfaces = surface_stage(cfg, result.runs, quiet=quiet, jobs=jobs)
        result.timings["surface"] = clock() - t
    if "hessian" in stages:
        t = clock()
        result.hessian = hessian_stage(cfg, result.runs, quiet=quiet, jobs=jobs)
        result.timings["hessian"] = clock() - t
    if "sharpness" in stages:
        from analyses.reproduce.sharpness_stage import sharpness_stage

        t = clock()
        result.sharpness = sharpness_stage(cfg, result.runs, quiet=quiet, jobs=jobs)
        result.timings["sharpness"] = clock() - t
    if "report" in stages:
        t = clock()
        result.artefacts = render(result)
        result.timings["report"] = clock() - t
    write_json(out / "timings.json", {**result.timings, "jobs": jobs})
    return result


def render(result: ReproduceResult) -> dict[str, Path]:
    """Write every figure and table (:mod:`analyses.reproduce.artefacts`) and the report page."""
    from analyses.reproduce.artefacts import build_all, main_methods

    cfg, runs = result.config, result.runs
    sections = build_all(result)
    names = main_methods(result)
    stats = {m: {r: res.mean_std([o.test_metric(r) for o in res.runs_of(runs, m)])
                 for r in res.REGION_COLUMNS} for m in names}
    mae_means = {m: {r: v[0] for r, v in cells.items()} for m, cells in stats.items()}
    mae_std = {m: {r: v[1] for r, v in cells.items()} for m, cells in stats.items()}
    hessian_few = few_shot_means(cfg, result.hessian) if result.hessian else None
    hessian_std = few_shot_means(cfg, result.hessian, std=True) if result.hessian else None
    claims = claims_from_results(mae_means, hessian_few, mae_std=mae_std, hessian_std=hessian_std,
                                 seeds={m: len(res.runs_of(runs, m)) for m in names})
    train_s = sum(float(o.metrics.get("train_seconds", math.nan)) for o in runs.values())
    r = cfg.recipe
    paper = res.paper_dataset(cfg.data)
    protocol = paper_tables()["protocol"]["depth" if paper == "NYUD2-DIR" else "age"]
    rho = ", ".join(f"{m} {v:g}" for m, v in sorted(r.rho_by_method.items())) or "none given"
    setup = [
        ("data", paper,
         f"{cfg.data} (same per-age counts)" if cfg.data.endswith("synth") else cfg.data),
        ("model", protocol.split(",")[0].removeprefix("RnC protocol: "), cfg.model),
        ("hardware", "GPU", f"device {cfg.device!r} (CPU unless a GPU was found)"),
        ("recipe", protocol,
         f"{r.name}: {r.optimizer.upper()} lr {r.lr:g}, batch {r.batch_size}, {r.epochs} epochs, "
         f"{r.schedule}, ρ ({rho}), {r.descent_loss.upper()} descent loss, best by validation "
         f"{r.select.upper()}"),
        ("seeds", "3 runs (Table 8)", _seeds_row(cfg)),
        ("training time", "–", _training_time(result, train_s)),
    ]
    notes = ["Quick mode: tiny settings for tests; these numbers mean nothing."] if cfg.quick else []
    if r.notes:
        notes.append(f"Recipe `{r.name}`: {r.notes}.")
    if result.skipped:
        notes.append(f"Loss surfaces, Hessian metrics and sharpness profiles: "
                     f"{next(iter(result.skipped.values()))}.")
    report = write_report(cfg.out_dir / "report.md", title="BSAM reproduction report", setup=setup,
                          sections=sections, claims=claims, notes=notes)
    artefacts = {"report": report}
    for folder in ("figures", "tables"):
        for path in sorted((cfg.out_dir / folder).glob("*")):
            if path.suffix in (".png", ".md"):
                artefacts[f"{folder}/{path.stem}"] = path
    return artefacts


def _training_time(result: ReproduceResult, train_s: float) -> str:
    """The report's training-time row: the runs' seconds summed, and the stage's wall time
    when the runs trained side by side."""
    text = f"{train_s:.0f} s over {len(result.runs)} runs"
    wall = result.timings.get("train")
    if result.jobs > 1 and wall is not None:
        text += f" (summed; {result.jobs} at a time: {wall:.0f} s wall)"
    return text


def _seeds_row(cfg: ReproduceConfig) -> str:
    """The report's seeds row: which runs of the plan get every seed and which one (n = 1)."""
    counts = Counter(spec.name for spec in plan_runs(cfg))
    many = [name for name, n in counts.items() if n == len(cfg.seeds)]
    one = [name for name, n in counts.items() if n < len(cfg.seeds)]
    text = f"{list(cfg.seeds)} for {', '.join(many)}"
    if one:
        text += f"; the first seed only (n = 1) for {', '.join(one)}"
    return text


def summary(result: ReproduceResult) -> dict[str, Any]:
    """A JSON-safe summary (for the CLI): timings, runs and artefacts."""
    return {
        "out": str(result.config.out_dir),
        "timings_s": result.timings,
        "jobs": result.jobs,
        "skipped": result.skipped,
        "runs": sorted(f"{n}-s{s}" for n, s in result.runs),
        "artefacts": {k: str(v) for k, v in result.artefacts.items()},
    }
