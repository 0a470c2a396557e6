r"""Curvature of a checkpoint per region, written to JSON/CSV: the reproduction's Hessian stage.

With the Gauss-Newton curvature (``curvature="ggn"``), every region whose output Jacobian
:math:`J` (``M x P``) and Gram matrix fit in ``gram_max_bytes`` gets its :math:`\lambda_{\max}`,
:math:`\lambda_{\min}` and trace *exactly* from the eigenvalues of :math:`J J^\top / M`
(:func:`analyses.sharpness.gauss_newton_spectrum`, zero stochastic error) instead of Lanczos and
Hutch++. The larger regions get :math:`\lambda_{\max}` from Lanczos and, with ``exact_trace``
(the default for ``"ggn"``), the trace exactly as well, from one streamed pass of per-element
gradients (:func:`analyses.sharpness.gram.gauss_newton_trace`: :math:`\|J\|_F^2 / M`) instead
of Hutch++'s hundreds of products; ``curvature="hessian"`` keeps Lanczos + Hutch++. Each region's
entry keeps the keys of :func:`analyses.curvature.region_curvature` and says which method made
its numbers (``"method"``: ``"gram"``, ``"lanczos"`` or ``"lanczos-exact-trace"``, with
``"lambda_max_method"`` and ``"trace_method"``). The spectral density is always the SLQ
estimate.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["checkpoint_curvature_file", "gram_entry", "streamed_trace_entry", "EXACT_CERTIFICATE"]

#: How an exact (Gram) eigenvalue was obtained, recorded in its ``eigen`` entry.
EXACT_CERTIFICATE = "exact: eigvalsh of the Gram matrix J J^T / M in float64 (residual 0)"


def _eigen(value: float, which: str, tol: float) -> dict[str, Any]:
    return {
        "eigenvalues": [value],
        "residuals": [0.0],
        "relative_residuals": [0.0],
        "converged": True,
        "num_matvecs": 0,
        "iterations": 0,
        "which": which,
        "tol": tol,
        "certificate": EXACT_CERTIFICATE,
    }


def gram_entry(
    model: Any, data: Any, mask: Any, *, loss: str, batch_size: int, tol: float, max_bytes: int
) -> dict[str, Any] | None:
    r"""A region's exact Gauss-Newton entry (``region_curvature`` keys), or None if it does not fit.

    :math:`\lambda_{\max}`, the trace and :math:`\lambda_{\min}` (0 when :math:`M < P`: the
    matrix then has :math:`P - M` zero eigenvalues) of :math:`G = J^\top J / M` come from the
    eigenvalues of the Gram matrix :math:`J J^\top / M`; their residuals and standard error are 0.

    Returns
    -------
    dict or None
        ``{"num_samples", "num_elements", "loss", "lambda_max", "lambda_min", "lambda_abs",
        "eigen", "trace", "trace_se", "trace_detail", "num_hvps", "seconds", "method",
        "lambda_max_method", "trace_method", "gram_bytes"}``; None when :math:`J` and the Gram
        matrix need more than ``max_bytes`` (the caller then runs Lanczos + Hutch++).
    """
    import torch

    from analyses.curvature import CurvatureOperator
    from analyses.sharpness import gauss_newton_spectrum

    t0 = time.perf_counter()
    op = CurvatureOperator(
        model, data, loss=loss, curvature="ggn", mask=mask, batch_size=batch_size
    )
    M, P = op.num_elements, op.shape[0]
    need = M * P * torch.empty((), dtype=op.dtype).element_size() + min(M, P) ** 2 * 8
    if need > max_bytes:
        op.release()
        return None
    head = {"num_samples": op.num_samples, "num_elements": M, "loss": op.loss()}
    op.release()
    s = gauss_newton_spectrum(
        model, data, mask=mask, loss=loss, batch_size=batch_size, max_bytes=max_bytes
    )
    low = 0.0 if M < P else float(s.eigenvalues[-1])
    return {
        **head,
        "lambda_max": s.lambda_max,
        "lambda_min": low,
        "lambda_abs": s.lambda_max,
        "eigen": {
            w: _eigen(v, w, tol)
            for w, v in (("LA", s.lambda_max), ("SA", low), ("LM", s.lambda_max))
        },
        "trace": s.trace,
        "trace_se": 0.0,
        "trace_detail": {
            "estimate": s.trace,
            "std_error": 0.0,
            "relative_std_error": 0.0,
            "num_matvecs": 0,
            "converged": True,
            "method": "gram",
        },
        "num_hvps": 0,
        "seconds": time.perf_counter() - t0,
        "method": "gram",
        "lambda_max_method": "gram",
        "trace_method": "gram",
        "gram_bytes": need,
    }


def streamed_trace_entry(model: Any, data: Any, mask: Any, *, loss: str) -> dict[str, Any]:
    r"""The exact Gauss-Newton trace of a region of any size, as ``region_curvature``'s trace keys.

    :math:`\mathrm{tr}\,G = \|D^{1/2} J\|_F^2 / M` from
    :func:`analyses.sharpness.gram.gauss_newton_trace` (``J`` streamed in blocks); its standard
    error is 0 and it costs no GGN-vector product.
    """
    from analyses.sharpness.gram import gauss_newton_trace

    t0 = time.perf_counter()
    trace, _ = gauss_newton_trace(model, data, mask=mask, loss=loss)
    return {
        "trace": trace,
        "trace_se": 0.0,
        "trace_detail": {
            "estimate": trace,
            "std_error": 0.0,
            "relative_std_error": 0.0,
            "num_matvecs": 0,
            "converged": True,
            "method": "exact-streamed",
        },
        "trace_seconds": time.perf_counter() - t0,
    }


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
    gram_max_bytes: int = 0,
    exact_trace: bool = False,
    regions: Sequence[str] | None = None,
    max_trace_hvps: int | None = None,
) -> dict[str, Any]:
    r"""lambda_max/min, trace and (optionally) the SLQ density of each region of ``split``.

    Runs :func:`analyses.curvature.region_curvature` on the checkpoint's model and data and writes
    ``out`` (JSON) plus a CSV beside it; returns the result dict. With ``curvature="ggn"`` and
    ``gram_max_bytes > 0``, the regions that fit get exact values from :func:`gram_entry` (the
    default 0 keeps Lanczos + Hutch++ everywhere); with ``exact_trace`` (``"ggn"`` only) the other
    regions' traces are exact too (:func:`streamed_trace_entry`) and Lanczos gives only their
    :math:`\lambda_{\max}`. A region that fits in one ``batch_size``
    batch keeps its first-order graph across Hessian-vector products (double backward with graph
    reuse), several times faster than rebuilding it per product. The old keywords
    ``regions=[names]`` and ``max_trace_hvps`` still work, with a ``DeprecationWarning`` (use
    ``region_names`` and ``trace_max_matvecs``).
    """
    from analyses.curvature import checkpoint_curvature, save_curvature
    from analyses.reproduce.config import renamed_keys
    from bsam.regions import region_arguments

    _, region_names = region_arguments(
        regions, region_names, where="checkpoint_curvature_file"
    )
    if max_trace_hvps is not None:
        trace_max_matvecs = renamed_keys({"max_trace_hvps": max_trace_hvps})["trace_max_matvecs"]
    tol = 1e-3
    exact: dict[str, dict[str, Any]] = {}
    streamed: dict[str, dict[str, Any]] = {}
    if curvature == "ggn" and (gram_max_bytes > 0 or exact_trace):
        # one load of the model, the split and its region masks serves both exact paths
        loaded, masks = _region_masks(checkpoint, split, region_names, root=root, device=device,
                                      batch_size=batch_size)
        if gram_max_bytes > 0:
            exact = _exact_regions(loaded, masks, loss=loss, batch_size=batch_size, tol=tol,
                                   max_bytes=gram_max_bytes)
        if exact_trace:
            streamed = {name: streamed_trace_entry(loaded.model, loaded.dataset, mask, loss=loss)
                        for name, mask in masks.items() if name not in exact}
    metrics = ("lambda_max",) + (() if streamed else ("trace",)) + (("density",) if density else ())
    common = dict(split=split, root=root, device=device, loss=loss, curvature=curvature,
                  max_iter=lanczos_iters, trace_rel_se=trace_rel_se,
                  trace_max_matvecs=trace_max_matvecs, density_probes=density_probes,
                  density_steps=density_steps, seed=seed, batch_size=batch_size, quiet=quiet)
    result = checkpoint_curvature(checkpoint, region_names=region_names, metrics=metrics,
                                  **({"completed": exact, "tol": tol} if exact else {}), **common)
    for name, entry in result["regions"].items():
        if name in streamed:
            entry.update(streamed[name], method="lanczos-exact-trace", trace_method="exact-streamed")
            entry["seconds"] = entry.get("seconds", 0.0) + entry.pop("trace_seconds")
        entry.setdefault("method", "lanczos")
        entry.setdefault("lambda_max_method", "lanczos")
        entry.setdefault("trace_method", entry.get("trace_detail", {}).get("method", "hutchpp"))
    if exact and density:
        dens = checkpoint_curvature(checkpoint, region_names=list(exact), metrics=("density",),
                                    tol=tol, **common)
        for name, entry in dens["regions"].items():
            result["regions"][name]["density"] = entry["density"]
    if streamed:
        result["provenance"]["settings"]["exact_trace"] = True
    if exact or streamed:
        result["provenance"]["settings"]["gram_max_bytes"] = gram_max_bytes
        result["provenance"]["methods"] = {n: e["method"] for n, e in result["regions"].items()}
    save_curvature(result, Path(out))
    return result


def _region_masks(checkpoint: str | os.PathLike, split: str, region_names: Sequence[str] | None,
                  *, root: str | None, device: str, batch_size: int) -> tuple[Any, dict[str, Any]]:
    """The checkpoint's model and data, and the mask of every non-empty requested region."""
    from bsam.batches import Batches
    from bsam.checkpoint_data import load_checkpoint_data

    loaded = load_checkpoint_data(checkpoint, split, root=root, device=device)
    names = list(region_names or ("all", "many", "medium", "few"))
    targets = Batches(loaded.dataset, batch_size=batch_size).targets
    masks = loaded.regions.masks(targets, names)
    return loaded, {n: masks[n] for n in names if bool(masks[n].any())}


def _exact_regions(loaded: Any, masks: dict[str, Any], **kwargs: Any) -> dict[str, dict[str, Any]]:
    """:func:`gram_entry` of every region in ``masks`` that fits in ``max_bytes``."""
    out = {}
    for name, mask in masks.items():
        entry = gram_entry(loaded.model, loaded.dataset, mask, **kwargs)
        if entry is not None:
            out[name] = entry
    return out
