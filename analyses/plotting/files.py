"""Figures of a whole surface file: what ``bsam plot file.h5`` draws.

:func:`plot_surface_file` plans every file it will write first (so that a bad output folder or
an existing figure is refused before anything is drawn), skips regions without samples with a
warning naming them, and refuses a rendering that does not apply to the surface's dimension.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

from bsam._io import check_output_dir
from landscape.store import SurfaceResult

__all__ = ["FILE_KINDS", "KINDS_1D", "KINDS_2D_FILE", "plan_surface_files", "plot_surface_file"]

#: Renderings :func:`plot_surface_file` knows.
FILE_KINDS: tuple[str, ...] = ("curves", "panels", "contour", "filled", "heatmap", "3d", "vtp")
#: Renderings that apply to a 1D and to a 2D surface.
KINDS_1D: tuple[str, ...] = ("curves", "panels", "vtp")
KINDS_2D_FILE: tuple[str, ...] = ("panels", "contour", "filled", "heatmap", "3d", "vtp")
_PER_REGION = ("contour", "filled", "heatmap", "vtp")


def _kinds(result: SurfaceResult, kinds: Sequence[str] | None) -> list[str]:
    fits = KINDS_1D if result.dims == 1 else KINDS_2D_FILE
    if kinds is None:
        return ["curves", "panels"] if result.dims == 1 else ["panels", "contour", "3d"]
    kinds = list(kinds)
    unknown = [k for k in kinds if k not in FILE_KINDS and k != "all"]
    if unknown:
        raise ValueError(f"Invalid kind(s) {unknown}; choose from {list(FILE_KINDS)} or 'all'.")
    if "all" in kinds:
        return list(fits)
    wrong = [k for k in kinds if k not in fits]
    if wrong:
        raise ValueError(
            f"Invalid kind(s) {wrong} for a {result.dims}D surface; choose from {list(fits)}."
        )
    return list(dict.fromkeys(kinds))


def plan_surface_files(
    result: SurfaceResult, out_dir: str | os.PathLike, kinds: Sequence[str] | None, stem: str
) -> list[tuple[str, str | None, Path]]:
    """The renderings to make: ``(kind, region or None, base path without extension)``.

    Regions that hold nothing to draw (:func:`analyses.plotting.surfaces.empty_reason`) are
    left out of the per-region renderings, with a ``UserWarning`` saying why.
    """
    from analyses.plotting.surfaces import empty_reason

    out = Path(out_dir)
    plan: list[tuple[str, str | None, Path]] = []
    reasons = {r: empty_reason(result, r) for r in result.region_names}
    for kind in _kinds(result, kinds):
        if kind == "3d":
            plan.append((kind, "all", out / f"{stem}_3d"))
        elif kind in _PER_REGION:
            for region in result.region_names:
                if reasons[region] is not None:
                    warnings.warn(f"{kind}: {reasons[region]}; not plotted.", stacklevel=3)
                    continue
                name = f"{stem}_{region}" if kind == "vtp" else f"{stem}_{kind}_{region}"
                plan.append((kind, region, out / name))
        else:
            plan.append((kind, None, out / f"{stem}_{kind}"))
    return plan


def _files(plan: list[tuple[str, str | None, Path]], formats: Sequence[str]) -> list[Path]:
    files = []
    for kind, _, base in plan:
        exts = ["vtp"] if kind == "vtp" else list(formats)
        files += [base.with_name(f"{base.name}.{e}") for e in exts]
    return files


def plot_surface_file(
    path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    kinds: Sequence[str] | None = None,
    quantity: str = "loss",
    log: bool = False,
    overwrite: bool = True,
) -> list[Path]:
    """Draw a surface file's figures into ``out_dir`` (PNG+PDF; ``.vtp`` for ``"vtp"``).

    Parameters
    ----------
    path:
        A surface file (ours, current or legacy layout, or loss-landscape's).
    out_dir:
        Output folder (created).
    kinds:
        From :data:`FILE_KINDS` (or ``"all"``: every rendering that fits the surface); default
        ``curves`` and ``panels`` in 1D, ``panels``, ``contour`` (per region) and ``3d`` (region
        ``all``) in 2D. A rendering that does not fit the surface's dimension is refused.
    quantity, log:
        ``"loss"`` or ``"mae"``; :math:`\\log_{10}` of the values.
    overwrite:
        Replace existing figures (``False``: refuse with ``FileExistsError`` before drawing).

    Returns
    -------
    list of Path
        The files written, named ``<stem>_<kind>[_<region>]``.
    """
    from analyses.plotting import surfaces as sf
    from analyses.plotting.vtp import write_vtp
    from landscape.store import read_surface

    result = read_surface(path)
    result.grid(result.region_names[0], quantity)  # an unavailable quantity fails here
    plan = plan_surface_files(result, out_dir, kinds, Path(path).stem)
    check_output_dir(out_dir, _files(plan, ("png", "pdf")), overwrite=overwrite)
    written: list[Path] = []
    for kind, region, base in plan:
        if kind == "vtp":
            written.append(write_vtp(result, base, region=region, quantity=quantity, log=log))
            continue
        if kind == "curves":
            fig = sf.plot_curves(result, quantity=quantity, log=log)
        elif kind == "panels":
            fig = sf.plot_region_panels(result, quantity=quantity, log=log)
        elif kind == "3d":
            fig = sf.plot_surface_3d(result, region, quantity=quantity, log=log)
        else:
            fig = sf.plot_contour(result, region, kind=kind, quantity=quantity, log=log)
        written += sf.save_figure(fig, base)
    return written
