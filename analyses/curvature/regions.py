r"""Curvature per shot region in one call, with provenance, to JSON and CSV.

For each region :math:`\mathcal R` (all, many-, medium-, few-shot, or any user mask) the curvature
matrix :math:`C_\mathcal R` of the region's mean loss (see :mod:`analyses.curvature.hvp`) is
summarised by

* ``"lambda_max"``: :math:`\lambda_{\max}` (largest algebraic), :math:`\lambda_{\min}` (smallest
  algebraic) and :math:`\lambda_{|\max|}` (the signed eigenvalue of largest magnitude, what power
  iteration and PyHessian return), from one Lanczos run (:func:`lanczos_extremes`);
* ``"trace"``: :math:`\mathrm{tr}(C_\mathcal R)` with its standard error (Hutch++ by default);
* ``"density"``: the smoothed spectral density by stochastic Lanczos quadrature.

The Hessian of the L1 loss, :math:`\frac1M \sum_i \mathrm{sign}(r_i) \nabla^2 f_i`, is indefinite,
so the three eigenvalues differ in general; which one a table reports must be stated (see
:data:`TABLE8` and ``docs/curvature.md``). The model is restored bit for bit afterwards
(parameters, buffers, ``requires_grad``, train/eval mode of every module; :func:`bsam._state.preserved`)
and hashed by :func:`bsam._state.state_hash` (``model_hash``); an empty region yields NaN and a
warning.
"""

from __future__ import annotations

import os
import platform
import time
import warnings
import zlib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import torch
from torch import nn

from analyses.curvature.density import slq_density
from analyses.curvature.hutchinson1989 import hutchinson_trace
from analyses.curvature.hvp import CURVATURES, CurvatureOperator, ParamSpec
from analyses.curvature.lanczos import lanczos_extremes
from analyses.curvature.meyer2021hutchpp import hutchpp_trace
from analyses.curvature.save import CSV_COLUMNS as CSV_COLUMNS
from analyses.curvature.save import save_curvature as save_curvature
from bsam._state import preserved
from bsam._state import state_hash as model_hash
from bsam._version import __version__
from bsam.batches import Batches
from bsam.progress import progress
from bsam.regions import ALL_REGIONS, region_arguments

# Defined here; ``save_curvature``, ``CSV_COLUMNS`` (:mod:`analyses.curvature.save`) and
# ``model_hash`` (:func:`bsam._state.state_hash`) are re-exported for their old import path.
__all__ = ["region_curvature", "checkpoint_curvature", "METRICS", "TRACE_METHODS", "TABLE8"]

#: Metrics :func:`region_curvature` can compute.
METRICS: tuple[str, ...] = ("lambda_max", "trace", "density")
#: Trace estimators.
TRACE_METHODS: tuple[str, ...] = ("hutchpp", "hutchinson")
#: Settings used to reproduce the paper's Table 8 (few-shot lambda_max and trace): the
#: Gauss-Newton matrix G = J^T J / M (the output-Jacobian Gram matrix; it does not depend on the
#: L1 loss), whose lambda_max and Tr(G) are positive with Tr(G) >= lambda_max, as in both rows of
#: the table (label the column Tr(G), not Tr(H); ``bsam hessian --table8``). The paper's tool
#: (PyHessian) takes the Hessian of the L1 loss, which is indefinite (on our trained CNN its
#: spectrum is nearly symmetric and its trace is zero within its error bar); that quantity is
#: ``curvature="hessian"`` read from ``lambda_abs``. See docs/curvature.md for the measurements.
TABLE8: dict[str, Any] = {
    "loss": "l1",
    "curvature": "ggn",
    "eigenvalue": "lambda_max",
    "region_names": ("few",),
    "names": ("few",),  # old key of region_names, kept for old code
    "metrics": ("lambda_max", "trace"),
    "pyhessian_literal": {"loss": "l1", "curvature": "hessian", "eigenvalue": "lambda_abs"},
}
_EIGEN_KEY = {"LA": "lambda_max", "SA": "lambda_min", "LM": "lambda_abs"}


def _sub_seed(seed: int, region: str, metric: str) -> int:
    return (int(seed) * 1_000_003 + zlib.crc32(f"{region}/{metric}".encode())) % (2**31 - 1)


def _nan_entry(metrics: Sequence[str]) -> dict[str, Any]:
    nan = float("nan")
    out: dict[str, Any] = {"num_samples": 0, "num_elements": 0, "loss": nan}
    if "lambda_max" in metrics:
        out.update(lambda_max=nan, lambda_min=nan, lambda_abs=nan, eigen=None)
    if "trace" in metrics:
        out.update(trace=nan, trace_se=nan, trace_detail=None)
    if "density" in metrics:
        out["density"] = None
    out["num_hvps"] = 0
    out["seconds"] = 0.0
    return out


def _region_masks(
    source: Batches,
    regions: Any,
    masks: Mapping[str, torch.Tensor] | None,
    names: Sequence[str],
) -> dict[str, torch.Tensor | None]:
    """The mask of each named region: a user mask, else ``regions.masks`` (``None``: all)."""
    masks = dict(masks or {})
    need = [n for n in names if n not in masks]
    if need and regions is None:
        if need == ["all"]:
            return {**{n: masks[n] for n in names if n in masks}, "all": None}
        raise ValueError(
            f"Invalid region_names {[n for n in need if n != 'all']}: without regions only 'all' "
            f"and the keys of masks ({sorted(masks)}) are known; pass regions=ShotRegions or "
            "masks={name: mask}."
        )
    shot: dict[str, torch.Tensor] = {}
    if need:
        unknown = [n for n in need if n not in ALL_REGIONS]
        if unknown:
            raise ValueError(
                f"Invalid region names {unknown}; choose from {list(ALL_REGIONS)} or add them "
                "to masks."
            )
        shot = regions.masks(source.targets, need)
    return {n: masks[n] if n in masks else shot[n] for n in names}


def _check_settings(
    metrics: tuple[str, ...], curvature: str, trace_method: str, names: tuple[str, ...], seed: Any
) -> None:
    bad = [m for m in metrics if m not in METRICS]
    if bad or not metrics:
        raise ValueError(f"Invalid metrics {list(metrics)}; choose one or more of {list(METRICS)}.")
    if curvature not in CURVATURES:
        raise ValueError(f"Invalid curvature {curvature!r}; choose from {list(CURVATURES)}.")
    if trace_method not in TRACE_METHODS:
        raise ValueError(
            f"Invalid trace_method {trace_method!r}; choose from {list(TRACE_METHODS)}."
        )
    if not names or len(set(names)) != len(names):
        raise ValueError(
            f"Invalid region_names {list(names)}; give one or more distinct region names."
        )
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"Invalid seed value: {seed!r}; seed must be an int.")


def _region_entry(
    op: CurvatureOperator,
    name: str,
    metrics: tuple[str, ...],
    settings: Mapping[str, Any],
    seeds: Mapping[str, int],
) -> dict[str, Any]:
    """The requested metrics of one region's curvature operator."""
    t0 = time.perf_counter()
    entry: dict[str, Any] = {
        "num_samples": op.num_samples,
        "num_elements": op.num_elements,
        "loss": op.loss(),
    }
    tol, max_iter = settings["tol"], settings["max_iter"]
    if "lambda_max" in metrics:
        ex = lanczos_extremes(
            op, k=settings["k"], tol=tol, max_iter=max_iter, seed=seeds["lambda_max"]
        )
        entry.update(
            lambda_max=float(ex["LA"].eigenvalues[0]),
            lambda_min=float(ex["SA"].eigenvalues[0]),
            lambda_abs=float(ex["LM"].eigenvalues[0]),
            eigen={w: r.to_dict() for w, r in ex.items()},
        )
        # lambda_min is a by-product of the same Krylov space: its flag and certified residual
        # are stored (tables print an unconverged one as n/c), but only the requested
        # lambda_max warns; near 0 (a PSD Gauss-Newton matrix) lambda_min rarely converges.
        bad = {w: ex[w] for w in ("LA",) if not ex[w].converged}
        if bad:
            worst = ", ".join(
                f"{_EIGEN_KEY[w]} (relative residual {float(r.relative_residuals.max()):.3g})"
                for w, r in bad.items()
            )
            warnings.warn(
                f"Region {name!r}: {worst} did not reach the certified tol={tol} in "
                f"max_iter={max_iter} steps; tables show it as not converged (n/c).",
                RuntimeWarning,
                stacklevel=3,
            )
    if "trace" in metrics:
        kw = dict(
            rel_se=settings["trace_rel_se"],
            max_matvecs=settings["trace_max_matvecs"],
            seed=seeds["trace"],
        )
        if settings["trace_method"] == "hutchpp":
            tr = hutchpp_trace(op, sketch_size=min(settings["sketch_size"], op.shape[0]), **kw)
        else:
            tr = hutchinson_trace(op, **kw)
        entry.update(trace=tr.estimate, trace_se=tr.std_error, trace_detail=tr.to_dict())
    if "density" in metrics:
        dens = slq_density(
            op,
            num_probes=settings["density_probes"],
            num_steps=settings["density_steps"],
            seed=seeds["density"],
        )
        entry["density"] = dens.to_dict()
    entry["num_hvps"] = op.num_matvecs
    entry["seconds"] = time.perf_counter() - t0
    return entry


def region_curvature(
    model: nn.Module,
    data: Any,
    regions: Any = None,
    *,
    masks: Mapping[str, torch.Tensor] | None = None,
    region_names: Sequence[str] | None = None,
    metrics: Sequence[str] = ("lambda_max", "trace", "density"),
    loss: str | Callable[..., torch.Tensor] = "l1",
    curvature: str = "hessian",
    params: ParamSpec = None,
    batch_size: int = 256,
    hvp_method: str = "auto",
    k: int = 1,
    tol: float = 1e-3,
    max_iter: int = 100,
    trace_method: str = "hutchpp",
    trace_rel_se: float = 0.05,
    trace_max_matvecs: int = 500,
    sketch_size: int = 5,
    density_probes: int = 4,
    density_steps: int = 64,
    seed: int = 0,
    data_info: Mapping[str, Any] | None = None,
    quiet: bool = True,
    names: Sequence[str] | None = None,
    completed: Mapping[str, Mapping[str, Any]] | None = None,
    on_region: Callable[[str, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    r"""Curvature metrics of the loss on each region, with provenance.

    Parameters
    ----------
    model:
        Any ``nn.Module``; evaluated in eval mode on its own device and dtype, restored bit for bit.
    data:
        A ``Dataset`` or (non-shuffling) ``DataLoader`` of ``(input, target)``, or ``(X, y)``
        (read through :class:`bsam.batches.Batches`, shared by every region).
    regions:
        A :class:`bsam.regions.ShotRegions` (fitted on the *training* labels); region membership of
        each target via :meth:`~bsam.regions.ShotRegions.masks`.
    masks:
        Extra ``{name: bool mask}`` (per sample ``(N,)`` or per target element) over ``data``.
    region_names:
        Regions to compute, in order (``"all"``, ``"many"``, ``"medium"``, ``"few"`` or keys of
        ``masks``; default the four shot regions). ``names=`` is its old, deprecated spelling.
    metrics:
        Any of :data:`METRICS`.
    loss, curvature, params, batch_size, hvp_method:
        See :class:`~analyses.curvature.hvp.CurvatureOperator`. ``curvature`` defaults to the
        Hessian (backward compatible); Table 8 uses ``"ggn"``, G = J^T J / M (:data:`TABLE8`).
    k, tol, max_iter:
        Eigenvalues per end, relative residual tolerance and Krylov budget of
        :func:`~analyses.curvature.lanczos.lanczos_extremes`.
    trace_method:
        ``"hutchpp"`` (default) or ``"hutchinson"``.
    trace_rel_se, trace_max_matvecs, sketch_size:
        Target relative standard error, product budget and Hutch++ sketch size.
    density_probes, density_steps:
        SLQ probes and Lanczos steps per probe.
    seed:
        Master seed; each (region, metric) gets its own derived seed (recorded).
    data_info:
        Description of the data for the provenance (name, root, split, ...).
    quiet:
        No progress bar.
    completed:
        Entries of regions already finished by the same request (e.g. read back from a partial
        file): reused as they are, not recomputed (every region's seeds are derived from
        ``seed`` and its name alone, so a resumed run equals an uninterrupted one).
    on_region:
        Called as ``on_region(name, entry)`` after each region is computed (e.g. to save it).

    Returns
    -------
    dict
        ``{"provenance": {...}, "regions": {name: {"num_samples", "num_elements", "loss",
        "lambda_max", "lambda_min", "lambda_abs", "eigen", "trace", "trace_se", "trace_detail",
        "density", "num_hvps", "seconds"}}}`` (only the keys of the requested metrics).
    """
    regions, names = region_arguments(
        regions, region_names, names=names, where="region_curvature"
    )
    metrics = tuple(metrics)
    _check_settings(metrics, curvature, trace_method, names, seed)
    settings = {
        "k": k,
        "tol": tol,
        "max_iter": max_iter,
        "trace_method": trace_method,
        "trace_rel_se": trace_rel_se,
        "trace_max_matvecs": trace_max_matvecs,
        "sketch_size": sketch_size,
        "density_probes": density_probes,
        "density_steps": density_steps,
        "batch_size": batch_size,
        "hvp_method": hvp_method,
    }
    source = Batches(data, batch_size=batch_size)
    region_masks = _region_masks(source, regions, masks, names)
    results: dict[str, Any] = {}
    seeds: dict[str, dict[str, int]] = {}
    used_method = None
    param_names: list[str] = []
    with preserved(model):
        for name in progress(names, desc="curvature per region", quiet=quiet):
            mask = region_masks[name]
            seeds[name] = {m: _sub_seed(seed, name, m) for m in metrics}
            if completed and name in completed:
                results[name] = dict(completed[name])
                continue
            if mask is not None and not bool(torch.as_tensor(mask).any()):
                warnings.warn(
                    f"Region {name!r} has no sample in the data: its curvature is NaN.",
                    RuntimeWarning,
                    stacklevel=2,
                )
                results[name] = _nan_entry(metrics)
                continue
            op = CurvatureOperator(
                model,
                source,
                loss=loss,
                curvature=curvature,
                mask=mask,
                params=params,
                batch_size=batch_size,
                hvp_method=hvp_method,
            )
            used_method, param_names = op.hvp_method, op.param_names
            results[name] = _region_entry(op, name, metrics, settings, seeds[name])
            op.release()
            if on_region is not None:
                on_region(name, results[name])
    first = next(iter(model.parameters()), None)
    provenance = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model_hash": model_hash(model),
        "model_class": type(model).__name__,
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "params": "all" if params is None else param_names,
        "data": dict(data_info or {"type": type(data).__name__}),
        "regions": regions.to_dict() if hasattr(regions, "to_dict") else None,
        "mask_names": sorted(masks) if masks else [],
        "loss": loss if isinstance(loss, str) else getattr(loss, "__name__", "callable"),
        "curvature": curvature,
        "l1_ggn_rule": "J^T J / M" if (curvature == "ggn" and loss == "l1") else None,
        "metrics": list(metrics),
        "names": list(names),
        "region_names": list(names),
        "settings": {**settings, "hvp_method_used": used_method},
        "seed": seed,
        "seeds": seeds,
        "device": str(first.device) if first is not None else "cpu",
        "dtype": str(first.dtype) if first is not None else None,
        "versions": {
            "bsam": __version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
    }
    return {"provenance": provenance, "regions": results}


def checkpoint_curvature(
    path: str | os.PathLike,
    *,
    data: str | None = None,
    root: str | os.PathLike | None = None,
    split: str = "test",
    device: str = "auto",
    **kwargs: Any,
) -> dict[str, Any]:
    """:func:`region_curvature` of a ``bsam train`` checkpoint on one split of its data set.

    The model comes from :func:`bsam.checkpoint.load_model`, the data from
    :func:`bsam.data.get_dataset` (the checkpoint's data set unless ``data`` names another), the
    shot regions from the checkpoint (fitted on its training split). ``kwargs`` go to
    :func:`region_curvature`; the provenance also records the checkpoint's path and file hash.

    Returns
    -------
    dict
        The :func:`region_curvature` result.
    """
    from bsam.checkpoint_data import load_checkpoint_data

    loaded = load_checkpoint_data(path, split, data=data, root=root, device=device)
    info = {**loaded.data_info, "name": loaded.data_info["dataset"], "kwargs": dict((loaded.checkpoint.get("data") or {}).get("kwargs") or {})
            if data is None else {}, "epoch": loaded.checkpoint.get("epoch")}
    model, dataset, regions = loaded.model, loaded.dataset, loaded.regions
    return region_curvature(model, dataset, regions, data_info=info, **kwargs)
