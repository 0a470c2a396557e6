"""Surfaces of a bsam checkpoint: the library call behind ``bsam surface``.

A direction file is reused only when it was made for this request: its recorded ``model_hash``
must be the checkpoint's (filter-normalized directions belong to the weights they were scaled
to), and each of ``seed`` and ``norm`` that the caller names must equal the recorded one. A
mismatch is refused naming both values; ``overwrite=True`` (``--overwrite``) makes new ones.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from bsam._io import check_output_file
from bsam._state import state_hash
from bsam.regions import ALL_REGIONS, ShotRegions, region_arguments
from landscape import distributed
from landscape.directions import Directions, load_directions, random_directions, save_directions
from landscape.store import SurfaceResult, check_output_surface
from landscape.surface import compute_surface

_DIR_FIX = "pass --overwrite to make new directions there, or choose another --dir-file"

__all__ = ["parse_grid", "checkpoint_surface"]


def _axis(spec: str) -> np.ndarray:
    parts = spec.split(":")
    try:
        lo, hi, n = float(parts[0]), float(parts[1]), int(parts[2])
        if len(parts) != 3:
            raise ValueError
    except (ValueError, IndexError):
        raise ValueError(f"Invalid grid axis {spec!r}; write MIN:MAX:NUM, e.g. -1:1:51.") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo and n >= 2):
        raise ValueError(f"Invalid grid axis {spec!r}; need MIN < MAX and NUM >= 2.")
    return np.linspace(lo, hi, n)


def parse_grid(text: str, dims: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Parse ``"MIN:MAX:NUM"`` (or ``"X,Y"`` of two such axes) into grid coordinates.

    ``-1:1:51`` gives ``numpy.linspace(-1, 1, 51)``; in 2D a single axis is used for both
    directions, ``-1:1:51,-0.5:0.5:21`` gives a 51 x 21 grid.
    """
    if dims not in (1, 2):
        raise ValueError(f"Invalid dims {dims!r}; a surface has 1 or 2 dimensions.")
    axes = [a.strip() for a in str(text).split(",")]
    if len(axes) > dims:
        raise ValueError(f"Invalid grid {text!r}: {len(axes)} axes for a {dims}D surface.")
    x = _axis(axes[0])
    if dims == 1:
        return x, None
    return x, (_axis(axes[1]) if len(axes) == 2 else x.copy())


def _mismatch(dirs: Directions, model_hash: str, request: dict[str, Any], dims: int) -> str | None:
    """What makes ``dirs`` unfit for the request, or ``None``; warns when it cannot be checked."""
    where = f"Direction file {dirs.source}"
    recorded = dirs.info.get("model_hash")
    if recorded is None:
        warnings.warn(
            f"{where} records no model hash (made by loss-landscape or an older version): it "
            "cannot be checked against this checkpoint's weights; pass --overwrite to remake it.",
            stacklevel=3,
        )
    elif recorded != model_hash:
        return (
            f"{where} was normalized to other weights: model_hash is {recorded!r} in the file "
            f"but {model_hash!r} for this checkpoint"
        )
    for key, wanted in request.items():
        if wanted is not None and dirs.info.get(key) != wanted:
            shown = dirs.info.get(key, f"not recorded (method {dirs.info.get('method')!r})")
            return f"{where} was made with {key} {shown!r} but {key} {wanted!r} was asked"
    if dirs.dims < dims:
        return f"{where} holds 1 direction but dims={dims} needs 2"
    return None


def _check_early(region_names: Sequence[str] | None, batch_size: int) -> None:
    # What compute_surface would refuse, refused before a direction file is written.
    unknown = [r for r in (region_names or ()) if r not in ALL_REGIONS]
    if unknown:
        raise ValueError(
            f"Invalid region name(s) {unknown}; choose from {list(ALL_REGIONS)} (--regions)."
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"Invalid batch_size {batch_size!r}; it must be an int >= 1.")


def _directions(
    model: nn.Module, path: Path, *, seed, norm, dims: int, overwrite: bool
) -> Directions:
    """The directions of ``path`` when they fit the request; otherwise refused or (overwrite) new."""
    if path.is_file():
        try:
            dirs = load_directions(path, model)
        except ValueError:
            if not overwrite:
                raise
        else:
            why = _mismatch(dirs, state_hash(model), {"seed": seed, "norm": norm}, dims)
            if why is None:
                if dirs.dims > dims:
                    dirs.y = None
                return dirs
            if not overwrite:
                raise ValueError(f"{why}; {_DIR_FIX}.")
    dirs = random_directions(
        model, seed=0 if seed is None else seed, norm=norm or "filter", dims=dims
    )
    if distributed.world()[0] == 0:
        save_directions(path, dirs)
    dirs.source = str(path)
    return dirs


def checkpoint_surface(
    checkpoint: str | os.PathLike,
    *,
    out: str | os.PathLike,
    dims: int = 2,
    grid: str = "-1:1:51",
    regions: ShotRegions | Sequence[str] | None = None,
    region_names: Sequence[str] | None = None,
    loss: str = "l1",
    split: str = "test",
    data: str | None = None,
    root: str | os.PathLike | None = None,
    dir_file: str | os.PathLike | None = None,
    norm: str | None = None,
    seed: int | None = None,
    batch_size: int = 256,
    device: str = "auto",
    quiet: bool = False,
    overwrite: bool = False,
) -> SurfaceResult:
    """Compute the per-region loss surface of a checkpoint written by ``bsam train``.

    The model comes from :func:`bsam.checkpoint.load_model`, the data from
    :func:`bsam.data.get_dataset` (default: the checkpoint's data set), the shot regions from the
    checkpoint (fitted on its training split). Directions are read from ``dir_file`` (default:
    ``out`` with suffix ``.dirs.h5``) when it exists and fits (its model hash is the checkpoint's;
    ``seed`` and ``norm``, where given, are the recorded ones; a mismatch raises ``ValueError``
    naming both values, and ``overwrite=True`` replaces the file), otherwise made by
    :func:`landscape.random_directions` with ``seed`` (default 0) and ``norm`` (default
    ``"filter"``) and saved there. ``out`` is checked (not a folder, a writable place, a surface
    file or absent unless ``overwrite``) before anything is loaded. Under torchrun the grid is sharded
    over the ranks. ``region_names`` picks the reported regions (default all four); ``regions``
    (a :class:`~bsam.regions.ShotRegions`) replaces the checkpoint's own. Names passed as
    ``regions=[...]`` still work, with a ``DeprecationWarning``. See
    :func:`landscape.compute_surface` for the rest.
    """
    from bsam.checkpoint_data import load_checkpoint_data
    from bsam.device import resolve_device

    regions, region_names = region_arguments(regions, region_names, where="checkpoint_surface")
    xs, ys = parse_grid(grid, dims)
    _check_early(region_names, batch_size)
    out = check_output_surface(check_output_file(out), overwrite=overwrite)
    dir_path = Path(dir_file) if dir_file is not None else out.with_suffix(".dirs.h5")
    check_output_file(dir_path, flag="--dir-file")
    if dir_path == out:
        raise ValueError(f"Invalid --dir-file {dir_path}: it is the --out file; choose another.")
    dev = resolve_device(device)
    distributed.init_from_env(dev)
    if dev.type == "cuda" and distributed.world()[1] > 1:
        dev = resolve_device(f"cuda:{os.environ.get('LOCAL_RANK', '0')}")
    loaded = load_checkpoint_data(checkpoint, split, data=data, root=root, device=dev)
    model, dataset = loaded.model, loaded.dataset
    shot = loaded.regions if regions is None else regions

    directions = _directions(model, dir_path, seed=seed, norm=norm, dims=dims, overwrite=overwrite)
    provenance = {
        k: loaded.data_info[k] for k in ("dataset", "split", "checkpoint", "checkpoint_hash")
    }
    return compute_surface(
        model,
        dataset,
        regions=shot,
        xcoords=xs,
        ycoords=ys,
        directions=directions,
        loss=loss,
        out=out,
        batch_size=batch_size,
        device=dev,
        quiet=quiet,
        region_names=region_names,
        overwrite=overwrite,
        provenance=provenance,
    )
