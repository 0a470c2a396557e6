"""Loss surfaces per region: one pass over the data per grid point, every region at once.

For directions :math:`d_x, d_y` and the model's weights :math:`\\theta`, the surface at grid point
:math:`(a, b)` is, for every region :math:`R`,

.. math::

    L_R(a, b) = \\frac{1}{|R|} \\sum_{e \\in R} \\ell\\big(f(x_e; \\theta + a d_x + b d_y), y_e\\big),

the mean over the region's target elements (samples for scalar targets, pixels for dense ones),
with the network in eval mode (Li et al., NeurIPS 2018). The per-element losses are computed once
per point and reduced into all regions in the same pass (:mod:`landscape.reduce`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bsam._state import preserved, state_hash, tensors_hash
from bsam._version import __version__
from bsam.batches import Batches
from bsam.checkpoint import file_hash
from bsam.device import resolve_device
from bsam.losses import align, get_loss
from bsam.progress import progress
from bsam.regions import ALL_REGIONS, ShotRegions
from landscape import distributed
from landscape._data import make_source
from landscape._params import target_tensors
from landscape.directions import Directions, load_directions
from landscape.reduce import Groups, build_groups, group_means, reduce_batch
from landscape.result import grid_shape
from landscape.store import SurfaceResult, SurfaceStore, read_surface

__all__ = ["compute_surface", "check_coords", "Evaluator"]


def check_coords(coords: Any, name: str) -> np.ndarray:
    """Return ``coords`` as a float64 array after checking it is a finite increasing 1-D grid."""
    arr = np.asarray(coords, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"Invalid {name}: shape {arr.shape}; pass a non-empty 1-D sequence.")
    if not np.all(np.isfinite(arr)) or np.any(np.diff(arr) <= 0):
        raise ValueError(
            f"Invalid {name} {arr.tolist()[:6]}...: coordinates must be finite and strictly "
            "increasing (e.g. numpy.linspace(-1, 1, 51))."
        )
    return arr


class Evaluator:
    """Evaluates the per-region sums of a model at points :math:`\\theta + a d_x + b d_y`.

    Meant to be used inside :func:`bsam._state.preserved` (it overwrites the weights).

    Parameters
    ----------
    model:
        The network, on ``source.device``, in eval mode.
    directions:
        Directions on the model's devices and dtypes.
    source:
        The data.
    groups:
        Group codes of the data's target elements.
    loss_fn:
        Per-element loss ``(pred, target, reduction="none")``.
    """

    def __init__(
        self,
        model: nn.Module,
        directions: Directions,
        source: Batches,
        groups: Groups,
        loss_fn,
    ) -> None:
        self.model = model
        self.source = source
        self.groups = groups
        self.loss_fn = loss_fn
        targets = target_tensors(model, states=directions.states)
        ys = directions.y if directions.y is not None else [None] * len(targets)
        self.active = []
        for (_, t), dx, dy in zip(targets, directions.x, ys):
            if not t.is_floating_point():
                continue
            dx = dx.to(t.device, t.dtype)
            dy = None if dy is None else dy.to(t.device, t.dtype)
            if not bool(dx.any()) and (dy is None or not bool(dy.any())):
                continue  # not perturbed: leave the tensor untouched
            self.active.append((t, t.detach().clone(), dx, dy))
        self.codes = groups.codes.to(source.device)
        self.partitions = groups.codes.shape[-1]
        self.sums = torch.zeros(groups.num_groups + 1, 2, dtype=torch.float64, device=source.device)

    def set_point(self, a: float, b: float = 0.0) -> None:
        """Set the weights to :math:`\\theta + a d_x + b d_y` (from the saved :math:`\\theta`)."""
        with torch.no_grad():
            for t, base, dx, dy in self.active:
                t.copy_(base)
                t.add_(dx, alpha=a)
                if dy is not None:
                    t.add_(dy, alpha=b)

    def sums_at(self, a: float, b: float = 0.0) -> torch.Tensor:
        """Per-group sums of (loss, absolute error) at :math:`(a, b)`: ``(G, 2)`` float64."""
        self.set_point(a, b)
        sums = self.sums.zero_()
        with torch.inference_mode():
            for start, stop, x, y in self.source:
                pred = align(self.model(x), y)
                values = torch.stack(
                    [
                        self.loss_fn(pred, y, reduction="none").reshape(-1),
                        (pred - y).abs().reshape(-1),
                    ],
                    dim=1,
                )
                reduce_batch(sums, values, self.codes[start:stop].reshape(-1), self.partitions)
        return sums[:-1].clone()


def _loss_name(loss: Any) -> str:
    return loss if isinstance(loss, str) else getattr(loss, "__name__", type(loss).__name__)


def _model_device(model: nn.Module) -> torch.device | None:
    for t in list(model.parameters()) + list(model.buffers()):
        return t.device
    return None


def _result_from_arrays(
    means: np.ndarray, done: np.ndarray, groups: Groups, x, y, attrs: dict, bin_edges
) -> SurfaceResult:
    shape = done.shape
    n = len(groups.names)
    loss = {name: means[:, g, 0].reshape(shape) for g, name in enumerate(groups.names)}
    mae = {name: means[:, g, 1].reshape(shape) for g, name in enumerate(groups.names)}
    count = {name: int(groups.counts[g]) for g, name in enumerate(groups.names)}
    per_bin = None
    if groups.num_bins:
        per_bin = {
            "loss": means[:, n:, 0].reshape(shape + (groups.num_bins,)),
            "mae": means[:, n:, 1].reshape(shape + (groups.num_bins,)),
            "count": groups.counts[n:].cpu().numpy(),
            "edges": bin_edges,
        }
    return SurfaceResult(x, y, loss, mae, count, done, attrs, per_bin, None)


def compute_surface(
    model: nn.Module,
    data: Any,
    *,
    regions: ShotRegions | None,
    xcoords: Sequence[float] | np.ndarray,
    ycoords: Sequence[float] | np.ndarray | None = None,
    directions: Directions | str | os.PathLike,
    loss: str = "l1",
    out: str | os.PathLike | None = None,
    batch_size: int = 256,
    device: str | torch.device = "auto",
    quiet: bool = False,
    masks: Mapping[str, torch.Tensor] | None = None,
    per_bin: bool = False,
    region_names: Sequence[str] = ALL_REGIONS,
    chunk_size: int = 16,
    overwrite: bool = False,
    provenance: Mapping[str, Any] | None = None,
) -> SurfaceResult:
    """Evaluate a 1D or 2D loss surface of ``model`` on ``data``, for every region in one pass.

    At each grid point :math:`(a, b)` the weights are set to :math:`\\theta + a d_x + b d_y`, the
    per-element losses of the whole dataset are computed once, in eval mode, and reduced into
    every region: :math:`L_R(a,b) = \\frac{1}{|R|}\\sum_{e\\in R} \\ell_e` (exact pooled mean,
    float64 sums), and the mean absolute error likewise. The model's parameters, buffers, training
    modes and ``requires_grad`` flags are restored bit for bit afterwards, also on error.

    Parameters
    ----------
    model:
        Any ``nn.Module`` mapping a batch of inputs to one prediction per target element.
    data:
        ``(inputs, targets)`` tensors, an object with ``tensors()``, a Dataset of ``(input,
        target)`` pairs or a sequential DataLoader. Data that fits in memory is batched once and
        kept, so grid points skip the loader.
    regions:
        Shot regions fitted on the training labels (``None``: only ``"all"`` and ``masks``).
    xcoords, ycoords:
        Increasing grid coordinates along ``d_x`` (and ``d_y`` for a 2D surface; any ``nx x ny``).
        A 2D result's grids have shape ``(ny, nx)``: ``loss[r][j, i]`` is the point
        ``(xcoords[i], ycoords[j])`` (loss-landscape's layout).
    directions:
        :class:`~landscape.directions.Directions` or the path of a direction file.
    loss:
        ``"l1"``, ``"mse"`` or ``"huber"`` (:mod:`bsam.losses`), or a callable
        ``(pred, target, reduction="none")``.
    out:
        HDF5 file to write; an existing file for the same request is resumed (points already
        done are not recomputed), one for another request is refused.
    batch_size:
        Evaluation batch size (DataLoaders keep their own).
    device:
        ``"auto"``, ``"cpu"``, ``"cuda:N"``; the model is moved there for the run and back.
    quiet:
        No progress bar.
    masks:
        Extra regions: name -> bool tensor over the samples (``(N,)``) or target elements.
    per_bin:
        Also reduce into every label bin of ``regions`` (``result.per_bin``).
    region_names:
        Which of ``"all", "many", "medium", "few"`` to report (``"all"`` always is).
    chunk_size:
        Points per rank between two writes of ``out``: a kill loses at most one chunk.
    overwrite:
        Replace ``out`` instead of resuming it.
    provenance:
        Extra attributes for ``out``; ``dataset``, ``split`` and ``checkpoint_hash`` take part in
        the resume check, the others (``checkpoint``, ...) are informational.

    Returns
    -------
    SurfaceResult
        The whole surface (with previously done points when resuming), on every rank.
    """
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"Invalid chunk_size {chunk_size!r}; it must be a positive integer.")
    x = check_coords(xcoords, "xcoords")
    y = None if ycoords is None else check_coords(ycoords, "ycoords")
    dev = resolve_device(device)
    if isinstance(directions, (str, os.PathLike)):
        directions = load_directions(directions, model)
    if not isinstance(directions, Directions):
        raise ValueError(
            f"Invalid directions of type {type(directions).__name__}; pass landscape.Directions "
            "or a direction file path."
        )
    directions.check(model)
    if y is not None and directions.y is None:
        raise ValueError("A 2D surface (ycoords given) needs 2 directions; these hold only x.")
    loss_fn = get_loss(loss)
    rank, size = distributed.world()
    provenance = dict(provenance or {})

    original_device = _model_device(model)
    with preserved(model):
        model.eval()
        if original_device is not None and original_device != dev:
            model.to(dev)
        identity = {
            "model_hash": state_hash(model),
            "directions_hash": directions.content_hash(),
            "loss": _loss_name(loss),
            "dims": 1 if y is None else 2,
            "version": __version__,
        }
        for key in ("dataset", "split", "checkpoint_hash"):
            if key in provenance:
                identity[key] = provenance.pop(key)
        source = make_source(data, batch_size=batch_size, device=dev)
        groups = build_groups(
            source.targets, regions=regions, region_names=region_names, masks=masks, per_bin=per_bin
        )
        identity["data_hash"] = tensors_hash([source.targets]) + f"-n{source.num_samples}"
        identity["regions"] = json.dumps(groups.definition, sort_keys=True)
        info = {
            "directions_info": json.dumps(directions.info, sort_keys=True),
            "dir_file": directions.source or "",
            "batch_size": batch_size,
            **{k: v if isinstance(v, str) else json.dumps(v) for k, v in provenance.items()},
        }
        if directions.source and Path(directions.source).is_file():
            info["dir_file_hash"] = file_hash(directions.source)
        bin_edges = regions.binning.edges if per_bin else None
        shape = grid_shape(x, y)  # (nx,) or (ny, nx): row = y index, as loss-landscape
        total = int(np.prod(shape))
        means = np.full((total, groups.num_groups, 2), np.nan)

        plan: tuple[str, Any]
        store = None
        if rank == 0:
            try:
                if out is not None:
                    store = SurfaceStore(
                        out,
                        identity=identity,
                        info=info,
                        xcoords=x,
                        ycoords=y,
                        names=groups.names,
                        counts=groups.counts.cpu().numpy(),
                        bin_edges=bin_edges,
                        overwrite=overwrite,
                    )
                    plan = ("ok", store.pending())
                else:
                    plan = ("ok", np.arange(total))
            except (ValueError, FileNotFoundError) as err:
                plan = ("error", str(err))
                distributed.broadcast_object(plan)
                raise
        else:
            plan = None
        plan = distributed.broadcast_object(plan)
        if plan[0] == "error":
            raise ValueError(f"rank 0 could not open the surface file: {plan[1]}")
        pending = np.asarray(plan[1], dtype=np.int64)

        evaluator = Evaluator(model, directions, source, groups, loss_fn)
        step = chunk_size * size
        chunks = [pending[i : i + step] for i in range(0, len(pending), step)]
        bar = progress(
            range(len(pending)), desc="surface", total=len(pending), quiet=quiet or rank != 0
        )
        ticks = iter(bar)
        for chunk in chunks:
            block = torch.zeros(len(chunk), groups.num_groups, 2, dtype=torch.float64, device=dev)
            for k in distributed.shard(len(chunk)):
                ij = np.unravel_index(int(chunk[k]), shape)
                a = float(x[ij[-1]])
                b = 0.0 if y is None else float(y[ij[0]])
                block[k] = evaluator.sums_at(a, b)
                next(ticks, None)
            distributed.sum_to_rank0(block)
            if rank == 0:
                chunk_means = np.stack(
                    [group_means(block[k], groups.counts) for k in range(len(chunk))]
                )
                means[chunk] = chunk_means
                if store is not None:
                    store.write(chunk, chunk_means)
        if hasattr(bar, "close"):
            bar.close()

    result: SurfaceResult | None = None
    if rank == 0:
        if out is not None:
            result = read_surface(out)
        else:
            done = np.zeros(total, dtype=bool)
            done[pending] = True
            attrs = {**identity, **info}
            result = _result_from_arrays(means, done.reshape(shape), groups, x, y, attrs, bin_edges)
    return distributed.broadcast_object(result)
