"""Surfaces of a bsam checkpoint: the library call behind ``bsam surface``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bsam.regions import ShotRegions, region_arguments
from landscape import distributed
from landscape.directions import load_directions, random_directions, save_directions
from landscape.store import SurfaceResult
from landscape.surface import compute_surface

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
    norm: str = "filter",
    seed: int = 0,
    batch_size: int = 256,
    device: str = "auto",
    quiet: bool = False,
    overwrite: bool = False,
) -> SurfaceResult:
    """Compute the per-region loss surface of a checkpoint written by ``bsam train``.

    The model comes from :func:`bsam.checkpoint.load_model`, the data from
    :func:`bsam.data.get_dataset` (default: the checkpoint's data set), the shot regions from the
    checkpoint (fitted on its training split). Directions are read from ``dir_file`` when it
    exists, otherwise made by :func:`landscape.random_directions` with ``seed`` and ``norm`` and
    saved there (default: ``out`` with suffix ``.dirs.h5``). Under torchrun the grid is sharded
    over the ranks. ``region_names`` picks the reported regions (default all four); ``regions``
    (a :class:`~bsam.regions.ShotRegions`) replaces the checkpoint's own. Names passed as
    ``regions=[...]`` still work, with a ``DeprecationWarning``. See
    :func:`landscape.compute_surface` for the rest.
    """
    from bsam.checkpoint_data import load_checkpoint_data
    from bsam.device import resolve_device

    regions, region_names = region_arguments(regions, region_names, where="checkpoint_surface")
    xs, ys = parse_grid(grid, dims)
    dev = resolve_device(device)
    distributed.init_from_env(dev)
    if dev.type == "cuda" and distributed.world()[1] > 1:
        dev = resolve_device(f"cuda:{os.environ.get('LOCAL_RANK', '0')}")
    loaded = load_checkpoint_data(checkpoint, split, data=data, root=root, device=dev)
    model, dataset = loaded.model, loaded.dataset
    shot = loaded.regions if regions is None else regions

    out = Path(out)
    dir_path = Path(dir_file) if dir_file is not None else out.with_suffix(".dirs.h5")
    if dir_path.is_file():
        directions = load_directions(dir_path, model)
        if directions.dims < dims:
            raise ValueError(
                f"Direction file {dir_path} holds 1 direction but dims={dims}; pass another "
                "--dir-file or delete it to make new directions."
            )
        if directions.dims > dims:
            directions.y = None
    else:
        directions = random_directions(model, seed=seed, norm=norm, dims=dims)
        if distributed.world()[0] == 0:
            save_directions(dir_path, directions)
        directions.source = str(dir_path)
    provenance = {k: loaded.data_info[k] for k in ("dataset", "split", "checkpoint", "checkpoint_hash")}
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
