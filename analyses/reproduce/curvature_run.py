"""Curvature of a checkpoint per region, written to JSON/CSV: the reproduction's Hessian stage."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["checkpoint_curvature_file"]


def checkpoint_curvature_file(
    checkpoint: str | os.PathLike,
    *,
    out: str | os.PathLike,
    split: str,
    region_names: Sequence[str] | None = None,
    loss: str = "l1",
    curvature: str = "ggn",
    lanczos_iters: int = 40,
    trace_rel_se: float = 0.05,
    trace_max_matvecs: int = 300,
    density: bool = True,
    density_probes: int = 2,
    density_steps: int = 32,
    root: str | None = None,
    device: str = "auto",
    quiet: bool = True,
    seed: int = 0,
    batch_size: int = 4096,
    regions: Sequence[str] | None = None,
    max_trace_hvps: int | None = None,
) -> dict[str, Any]:
    """lambda_max/min, trace and (optionally) the SLQ density of each region of ``split``.

    Runs :func:`analyses.curvature.checkpoint_curvature` and writes ``out`` (JSON) plus a CSV
    beside it; returns the result dict. A region that fits in one ``batch_size`` batch keeps its
    first-order graph across Hessian-vector products (double backward with graph reuse), several
    times faster than rebuilding it per product. The old keywords ``regions=[names]`` and
    ``max_trace_hvps`` still work, with a ``DeprecationWarning`` (use ``region_names`` and
    ``trace_max_matvecs``).
    """
    from analyses.curvature import checkpoint_curvature, save_curvature
    from analyses.reproduce.config import renamed_keys
    from bsam.regions import region_arguments

    _, region_names = region_arguments(
        regions, region_names, where="checkpoint_curvature_file"
    )
    if max_trace_hvps is not None:
        trace_max_matvecs = renamed_keys({"max_trace_hvps": max_trace_hvps})["trace_max_matvecs"]

    metrics = ("lambda_max", "trace") + (("density",) if density else ())
    result = checkpoint_curvature(
        checkpoint, split=split, root=root, device=device,
        region_names=region_names, metrics=metrics, loss=loss, curvature=curvature,
        max_iter=lanczos_iters, trace_rel_se=trace_rel_se, trace_max_matvecs=trace_max_matvecs,
        density_probes=density_probes, density_steps=density_steps, seed=seed,
        batch_size=batch_size, quiet=quiet,
    )
    save_curvature(result, Path(out))
    return result
