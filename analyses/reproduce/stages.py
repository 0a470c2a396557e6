"""The compute stages of the reproduction: training runs, loss surfaces and Hessian metrics.

Every stage reads what the stage before wrote. A run folder or result file is named after the hash
of everything that determines it, so a changed input gives a new file instead of reusing a stale
one, and an unchanged one is skipped (training runs resume or no-op, surfaces resume point by
point, Hessian results are recorded in the :class:`~analyses.reproduce.cache.StageCache`). The
surface and Hessian stages are keyed on the *content* of the checkpoint they read
(:func:`bsam.checkpoint.file_hash` of ``best.pt``), not on its folder's name: a replaced
``best.pt`` recomputes them, an unchanged one recomputes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analyses.reproduce.cache import StageCache, stage_key
from analyses.reproduce.config import ReproduceConfig, RunSpec, plan_runs
from analyses.reproduce.processes import run_each
from bsam.checkpoint import file_hash
from bsam.train import TrainConfig

__all__ = [
    "RunOutput",
    "train_config",
    "run_dir",
    "train_stage",
    "DENSE_DATA",
    "PER_SAMPLE_STAGES",
    "skipped_stages",
    "surface_paths",
    "surface_stage",
    "hessian_path",
    "hessian_stage",
]

log = logging.getLogger("bsam.reproduce")


@dataclass
class RunOutput:
    """A finished training run: its spec, folder and ``metrics.json`` content."""

    spec: RunSpec
    out_dir: Path
    metrics: dict[str, Any]
    already_done: bool

    @property
    def checkpoint(self) -> Path:
        """The best-by-validation checkpoint, used by every later stage."""
        return self.out_dir / "best.pt"

    @property
    def checkpoint_hash(self) -> str:
        """Content hash of :attr:`checkpoint` (:func:`bsam.checkpoint.file_hash`): the key of
        every stage that reads it."""
        return file_hash(self.checkpoint)

    def test_metric(self, region: str, metric: str = "mae") -> float:
        """Test metric of the best checkpoint."""
        return float(self.metrics["best"]["test"][region][metric])


def train_config(cfg: ReproduceConfig, spec: RunSpec) -> TrainConfig:
    """The :class:`~bsam.train.TrainConfig` of one run: the recipe (:class:`bsam.recipes.Recipe`)
    plus the run's overrides.

    The recipe gives model, optimizer, schedule, loss, weights, checkpoint metric, thresholds
    and the run's rho (:meth:`~bsam.recipes.Recipe.rho_for`); ``img_size`` goes to the data set.
    Fields the recipe leaves open (``momentum`` of Adam, the thresholds of NYUD2-DIR) keep
    TrainConfig's defaults, so the default ``synth`` runs resolve as before recipes existed.
    """
    r = cfg.recipe
    data_kwargs = dict(r.data_kwargs)
    if r.img_size is not None:
        data_kwargs["img_size"] = r.img_size
    fields: dict[str, Any] = {
        "data": cfg.data,
        "root": cfg.root,
        "data_kwargs": data_kwargs,
        "model": r.model,
        "model_kwargs": dict(r.model_kwargs),
        "method": spec.method,
        "descent_loss": r.descent_loss,
        "weights": r.weights,
        "epochs": r.epochs,
        "lr": r.lr,
        "batch_size": r.batch_size,
        "optimizer": r.optimizer,
        "weight_decay": r.weight_decay,
        "schedule": r.schedule,
        "lr_min_factor": r.lr_min_factor,
        "select": r.select,
        "channels_last": r.channels_last,
        "seed": spec.seed,
        "device": cfg.device,
    }
    optional = {"momentum": r.momentum, "many": r.many, "few": r.few}
    fields.update({k: v for k, v in optional.items() if v is not None})
    if "rho" not in spec.overrides:
        fields["rho"] = r.rho_for(spec.method)
    fields.update(spec.overrides)
    return TrainConfig(**fields)


def run_dir(cfg: ReproduceConfig, spec: RunSpec) -> Path:
    """``<out>/runs/<name>-s<seed>-<hash>``: the hash covers the resolved training config."""
    resolved = train_config(cfg, spec).resolve().to_dict()
    for runtime in ("device", "eval_batch_size"):
        resolved.pop(runtime, None)
    return cfg.out_dir / "runs" / f"{spec.name}-s{spec.seed}-{stage_key(resolved)[:8]}"


def train_stage(
    cfg: ReproduceConfig, *, quiet: bool = False, jobs: int = 1
) -> dict[tuple[str, int], RunOutput]:
    """Train every run of :func:`~analyses.reproduce.config.plan_runs` (finished runs are skipped),
    up to ``jobs`` side by side in child processes (:func:`analyses.reproduce.jobs.train_runs`)."""
    from analyses.reproduce.jobs import train_runs

    return train_runs(cfg, plan_runs(cfg), jobs=jobs, quiet=quiet)


# -- which stages apply ---------------------------------------------------------------------------
#: Data sets whose targets are dense maps (a depth per pixel, the paper's Table 3).
DENSE_DATA: frozenset[str] = frozenset({"nyud2-dir"})

#: The stages that read one scalar prediction per sample (its loss, its output Jacobian row).
PER_SAMPLE_STAGES: tuple[str, ...] = ("surface", "hessian", "sharpness")


def skipped_stages(cfg: ReproduceConfig) -> dict[str, str]:
    """``{stage: reason}`` for the stages that do not apply to ``cfg.data``.

    The per-sample analyses (:data:`PER_SAMPLE_STAGES`) need one scalar target per sample:
    their regions, Gram matrices and per-bin profiles are built on it. For dense targets
    (:data:`DENSE_DATA`) they are not computed; training and the MAE tables still are.
    """
    if cfg.data not in DENSE_DATA:
        return {}
    reason = (f"not computed for dense targets ({cfg.data}: one depth per pixel); the "
              "per-sample analyses need one scalar target per sample")
    return dict.fromkeys(PER_SAMPLE_STAGES, reason)


# -- surfaces -------------------------------------------------------------------------------------
def surface_paths(cfg: ReproduceConfig, run: RunOutput) -> dict[str, Path]:
    """Files of a run's surfaces: ``{"dirs", "1d", "2d"}`` under ``<out>/surfaces``.

    The name hashes the grid, the regions and the content of the run's ``best.pt``, so a new
    checkpoint gets new directions (normalized to its own weights) and new surface files.
    """
    key = stage_key({"run": run.out_dir.name, "span": cfg.surface_span, "n1": cfg.surface_points_1d,
                     "n2": cfg.surface_points_2d, "regions": cfg.hessian_regions,
                     "checkpoint": run.checkpoint_hash})[:8]
    base = cfg.out_dir / "surfaces" / f"{run.out_dir.name}-{key}"
    return {"dirs": base.with_name(base.name + ".dirs.h5"),
            "1d": base.with_name(base.name + "-1d.h5"),
            "2d": base.with_name(base.name + "-2d.h5")}


def surface_stage(
    cfg: ReproduceConfig,
    runs: dict[tuple[str, int], RunOutput],
    *,
    quiet: bool = False,
    jobs: int = 1,
) -> dict[str, dict[str, Path]]:
    """1D and 2D filter-normalized surfaces of each surface method's first-seed model (test split).

    Both surfaces share one pair of random directions (seed 0), so the 1D curve is the 2D surface's
    ``y = 0`` line computed on a finer grid. With ``jobs > 1`` up to ``jobs`` models are done at
    once, each in its own process (:func:`analyses.reproduce.processes.run_tasks`). Returns
    ``{method: {"1d": path, "2d": path}}``.
    """
    work = [(m, runs[(m, cfg.seeds[0])]) for m in cfg.surface_methods if (m, cfg.seeds[0]) in runs]
    run_each(jobs, [(f"surface of {run.out_dir.name}", _surfaces_of, (cfg, method, run, quiet))
                     for method, run in work])
    return {method: {k: surface_paths(cfg, run)[k] for k in ("1d", "2d")} for method, run in work}


def _surfaces_of(cfg: ReproduceConfig, method: str, run: RunOutput, quiet: bool) -> None:
    """The 2D and then the 1D surface of one model (skipping what its manifests say is done)."""
    from landscape.from_checkpoint import checkpoint_surface

    cache = StageCache(cfg.out_dir)
    span = cfg.surface_span
    paths = surface_paths(cfg, run)
    # 2D first: it makes the pair of directions; the 1D surface then walks along the first.
    for dims, n in (("2d", cfg.surface_points_2d), ("1d", cfg.surface_points_1d)):
        grid = f"{-span}:{span}:{n}" if dims == "1d" else f"{-span}:{span}:{n},{-span}:{span}:{n}"
        name = f"surface/{paths[dims].stem}"
        inputs = {"run": run.out_dir.name, "grid": grid, "dirs": paths["dirs"].name,
                  "checkpoint": run.checkpoint_hash}
        if not cache.is_done(name, inputs):
            log.info("[surface] %s %s grid %s", method, dims, grid)
            checkpoint_surface(
                run.checkpoint, out=paths[dims], dims=int(dims[0]), grid=grid,
                region_names=cfg.hessian_regions, loss="l1", split="test", root=cfg.root,
                dir_file=paths["dirs"], seed=0, device=cfg.device, quiet=quiet,
            )
            cache.mark_done(name, inputs, [paths[dims]])


# -- Hessian --------------------------------------------------------------------------------------
def hessian_path(cfg: ReproduceConfig, run: RunOutput, split: str) -> Path:
    """``<out>/hessian/<run>-<split>-<hash>.json``."""
    key = stage_key(_hashed(_hessian_settings(cfg, split, run.spec.seed, run.spec.name)))[:8]
    return cfg.out_dir / "hessian" / f"{run.out_dir.name}-{split}-{key}.json"


def _hessian_settings(cfg: ReproduceConfig, split: str, seed: int, method: str) -> dict[str, Any]:
    # Table 8's few-shot region for every seed (train and test samples); the larger regions
    # (every test sample, many-shot) cost up to 15x more per product, so the first seed of the
    # region methods only.
    first = seed == cfg.seeds[0] and method in cfg.hessian_region_methods
    regions = list(cfg.hessian_regions) if split == "test" and first else ["few"]
    return {
        "split": split,
        "region_names": regions,
        "loss": cfg.hessian_loss,
        "curvature": cfg.curvature,
        "lanczos_iters": cfg.lanczos_iters,
        "trace_rel_se": cfg.trace_rel_se,
        "trace_max_matvecs": cfg.trace_max_matvecs,
        "density": cfg.density and split == "test" and first,
        "density_probes": cfg.density_probes,
        "density_steps": cfg.density_steps,
        # only when on, so that results made before the exact Gram values keep their key
        **({"gram_max_bytes": cfg.gram_max_bytes} if cfg.gram_max_bytes else {}),
        # with the Gram values on (gram_max_bytes=0 keeps Lanczos + Hutch++ everywhere)
        **({"exact_trace": True}
           if cfg.exact_trace and cfg.curvature == "ggn" and cfg.gram_max_bytes else {}),
    }


#: Settings hashed under the names they had when the stage was written, so that renaming an
#: argument does not recompute finished Hessian results (their file names and manifests).
_HASHED_AS: dict[str, str] = {"region_names": "regions", "trace_max_matvecs": "max_trace_hvps"}


def _hashed(settings: dict[str, Any]) -> dict[str, Any]:
    return {_HASHED_AS.get(k, k): v for k, v in settings.items()}


def hessian_stage(
    cfg: ReproduceConfig,
    runs: dict[tuple[str, int], RunOutput],
    *,
    quiet: bool = False,
    jobs: int = 1,
) -> dict[tuple[str, int, str], Path]:
    """lambda_max and the trace per region for the Hessian methods' models.

    For every seed of ``cfg.hessian_methods``: the few-shot *training* samples (what the paper's
    Table 8 most plausibly reports) and the few-shot test samples. For the first seed of
    ``cfg.hessian_region_methods`` also every other region of ``cfg.hessian_regions`` on the
    test split, with the spectral density. With ``jobs > 1`` up
    to ``jobs`` of these (model, split) results are computed at once, each in its own process.
    Returns ``{(method, seed, split): json}``.
    """
    work = [(name, seed, split, run) for (name, seed), run in sorted(runs.items())
            if name in cfg.hessian_methods for split in ("test", "train")]
    run_each(jobs, [(f"hessian of {run.out_dir.name} ({split})", _hessian_of,
                      (cfg, run, split, quiet)) for _, _, split, run in work])
    return {(name, seed, split): hessian_path(cfg, run, split) for name, seed, split, run in work}


def _hessian_of(cfg: ReproduceConfig, run: RunOutput, split: str, quiet: bool) -> None:
    """One model's curvature on one split (skipped when its manifest says it is done)."""
    from analyses.reproduce.curvature_run import checkpoint_curvature_file

    cache = StageCache(cfg.out_dir)
    path = hessian_path(cfg, run, split)
    settings = _hessian_settings(cfg, split, run.spec.seed, run.spec.name)
    inputs = {"run": run.out_dir.name, "checkpoint": run.checkpoint_hash, **_hashed(settings)}
    stage = f"hessian/{path.stem}"
    if not cache.is_done(stage, inputs):
        log.info("[hessian] %s seed %d %s regions %s", run.spec.name, run.spec.seed, split,
                 settings["region_names"])
        checkpoint_curvature_file(run.checkpoint, out=path, device=cfg.device, quiet=quiet,
                                  root=cfg.root, **settings)
        cache.mark_done(stage, inputs, [path])
