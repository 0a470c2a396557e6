"""The ``sharpness`` stage: per-bin sharpness profiles of every seed of the compared methods.

For each trained run of ``cfg.sharpness_methods`` (every seed that was trained),
:func:`analyses.sharpness.checkpoint_profiles` measures sharpness per target-bin window of the
test split, and each window's generalization gap on the training and test splits, and writes
``<out>/sharpness/<run>-<hash>.json`` (with a CSV beside it). Like the Hessian stage, a file is
keyed on the content hash of the ``best.pt`` it reads and on the settings, recorded in the
:class:`~analyses.reproduce.cache.StageCache`: an unchanged rerun skips it, a replaced checkpoint
recomputes it, and a killed stage resumes with the next model (one file per model).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from analyses.reproduce.cache import StageCache, stage_key
from analyses.reproduce.config import ReproduceConfig
from analyses.reproduce.processes import run_each
from analyses.reproduce.stages import RunOutput

__all__ = ["sharpness_settings", "sharpness_path", "sharpness_stage"]

log = logging.getLogger("bsam.reproduce")


def sharpness_settings(cfg: ReproduceConfig) -> dict[str, Any]:
    """The keyword arguments of :func:`analyses.sharpness.sharpness_profile` of the stage.

    Returns
    -------
    dict
        Measures, window size, loss, Gram budget, radius, directions, rho and ascent steps.
    """
    return {
        "methods": list(cfg.sharpness_measures),
        "min_samples": cfg.sharpness_min_samples,
        "loss": cfg.hessian_loss,
        "max_bytes": cfg.gram_max_bytes,
        "radius": cfg.sharpness_radius,
        "num_directions": cfg.sharpness_directions,
        "rho": cfg.sharpness_rho,
        "steps": cfg.sharpness_steps,
        "seed": 0,
    }


def sharpness_path(cfg: ReproduceConfig, run: RunOutput) -> Path:
    """``<out>/sharpness/<run>-<hash>.json``; the hash covers the settings and the checkpoint."""
    key = stage_key({**sharpness_settings(cfg), "checkpoint": run.checkpoint_hash})[:8]
    return cfg.out_dir / "sharpness" / f"{run.out_dir.name}-{key}.json"


def sharpness_stage(
    cfg: ReproduceConfig,
    runs: dict[tuple[str, int], RunOutput],
    *,
    quiet: bool = False,
    jobs: int = 1,
) -> dict[tuple[str, int], Path]:
    """Per-bin sharpness profile (test split, with the gap) of every run of the compared methods.

    With ``jobs > 1`` up to ``jobs`` models are profiled at once, each in its own process
    (:func:`analyses.reproduce.processes.run_tasks`); the files do not depend on ``jobs``.

    Returns
    -------
    dict
        ``{(method, seed): profile JSON}`` (:func:`analyses.sharpness.save_profiles` layout:
        ``{"profiles": [one profile], "balance": ...}``).
    """
    work = [(key, run) for key, run in sorted(runs.items()) if key[0] in cfg.sharpness_methods]
    run_each(jobs, [(f"sharpness of {run.out_dir.name}", _profile_of, (cfg, run, quiet))
                     for _, run in work])
    return {key: sharpness_path(cfg, run) for key, run in work}


def _profile_of(cfg: ReproduceConfig, run: RunOutput, quiet: bool) -> None:
    """One model's profile (skipped when its manifest says it is done)."""
    from analyses.sharpness import checkpoint_profiles, save_profiles

    cache = StageCache(cfg.out_dir)
    settings = sharpness_settings(cfg)
    path = sharpness_path(cfg, run)
    inputs = {"run": run.out_dir.name, "checkpoint": run.checkpoint_hash, **settings}
    stage = f"sharpness/{path.stem}"
    if not cache.is_done(stage, inputs):
        log.info("[sharpness] %s seed %d", run.spec.name, run.spec.seed)
        result = checkpoint_profiles(
            [run.checkpoint],
            split="test",
            root=cfg.root,
            device=cfg.device,
            gap=True,
            quiet=quiet,
            **settings,
        )
        csv_path = path.with_suffix(".csv")
        save_profiles(result, path, csv_path=csv_path)
        cache.mark_done(stage, inputs, [path, csv_path])
