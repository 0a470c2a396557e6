r"""Sharpness as a function of the target: one point per bin window, beside the training density.

For every window :math:`\mathcal R_b` of :func:`~analyses.sharpness.bins.bin_windows` on the
measured split, :func:`sharpness_profile` computes the methods of :data:`METHODS`, each with its
uncertainty and the kind of that uncertainty (:data:`UNCERTAINTY`):

=============  ========================================================  ==========================
method         value                                                     ``<method>_err``
=============  ========================================================  ==========================
``lambda_max``  :math:`\lambda_{\max}` of the curvature matrix            0 (``"exact"``, Gram) or
                                                                          Lanczos residual
``trace``       its trace                                                 0 or Hutch++ std. error
``average``     mean rise along random directions at radius :math:`r`     std. error over directions
``worst``       :math:`\max_{\|\varepsilon\|\le\rho} L(\theta+\varepsilon)`  last ascent gain; the
                :math:`- L(\theta)` by projected gradient ascent          value is a lower bound
``adaptive``    the same with :math:`\|\varepsilon / |\theta|\| \le \rho`  as ``worst``
=============  ========================================================  ==========================

With ``curvature="ggn"`` (default) the matrix is the Gauss-Newton matrix :math:`J^\top D J / M`
(:math:`J^\top J / M` for the L1 loss), exact through the Gram matrix where it fits in
``max_bytes`` (:mod:`analyses.curvature` Lanczos + Hutch++ otherwise; ``<method>_method`` says
which); ``"hessian"`` always uses Lanczos + Hutch++. Given the training and test splits, every
window also gets its generalization gap :math:`L^\text{test}_b - L^\text{train}_b` (mean loss of
the window's bins on each split).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import torch
from torch import nn

from analyses.sharpness._region import as_batches, elementwise_losses, window_means
from analyses.sharpness.average import average_sharpness
from analyses.sharpness.bins import bin_windows, window_masks
from analyses.sharpness.gram import DEFAULT_MAX_BYTES, gauss_newton_spectrum
from analyses.sharpness.worst import worst_case_sharpness
from bsam._state import preserved, state_hash
from bsam.batches import Batches
from bsam.progress import progress

__all__ = ["sharpness_profile", "METHODS", "UNCERTAINTY", "CURVATURES"]

#: Sharpness measures of a profile.
METHODS: tuple[str, ...] = ("lambda_max", "trace", "average", "worst", "adaptive")
#: What ``<method>_err`` means, per method and way of computing it.
UNCERTAINTY: dict[str, str] = {
    "exact": "0: exact up to float rounding (Gram matrix)",
    "residual": "Lanczos residual ||C u - theta u||: some eigenvalue lies within it",
    "std_error": "standard error of a stochastic estimate",
    "lower_bound": "the value is a lower bound (ascent); err = gain of the last ascent step",
}
#: Curvature matrices of ``lambda_max`` and ``trace``.
CURVATURES: tuple[str, ...] = ("ggn", "hessian")


def _check(methods: tuple[str, ...], curvature: str) -> None:
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise ValueError(f"Invalid methods {list(methods)}; choose one or more of {list(METHODS)}.")
    if curvature not in CURVATURES:
        raise ValueError(f"Invalid curvature {curvature!r}; choose from {list(CURVATURES)}.")


def _curvature_entry(
    model: nn.Module, source: Batches, mask: torch.Tensor, s: Mapping[str, Any], seed: int
) -> dict[str, Any]:
    if s["curvature"] == "ggn":
        r = gauss_newton_spectrum(
            model, source, mask=mask, loss=s["loss"], params=s["params"], max_bytes=s["max_bytes"],
            tol=s["tol"], max_iter=s["max_iter"], trace_rel_se=s["trace_rel_se"],
            trace_max_matvecs=s["trace_max_matvecs"], seed=seed, batch_size=s["batch_size"],
        )
        exact = r.method == "gram"
        return {
            "lambda_max": r.lambda_max, "lambda_max_err": r.lambda_max_err,
            "lambda_max_kind": "exact" if exact else "residual", "lambda_max_method": r.method,
            "trace": r.trace, "trace_err": r.trace_err,
            "trace_kind": "exact" if exact else "std_error", "trace_method": r.method,
        }
    from analyses.curvature import CurvatureOperator, hutchpp_trace, lanczos

    op = CurvatureOperator(
        model, source, loss=s["loss"], mask=mask, params=s["params"], batch_size=s["batch_size"]
    )
    top = lanczos(op, which="LA", tol=s["tol"], max_iter=s["max_iter"], seed=seed)
    tr = hutchpp_trace(
        op, rel_se=s["trace_rel_se"], max_matvecs=s["trace_max_matvecs"], seed=seed + 1
    )
    op.release()
    return {
        "lambda_max": float(top.eigenvalues[0]), "lambda_max_err": float(top.residuals[0]),
        "lambda_max_kind": "residual", "lambda_max_method": "lanczos",
        "trace": tr.estimate, "trace_err": tr.std_error, "trace_kind": "std_error",
        "trace_method": "hutchpp",
    }


def _worst_entry(
    model: nn.Module, source: Batches, mask: torch.Tensor, s: Mapping[str, Any], adaptive: bool
) -> dict[str, Any]:
    key = "adaptive" if adaptive else "worst"
    r = worst_case_sharpness(
        model, source, mask=mask, loss=s["loss"], rho=s["rho"], steps=s["steps"],
        adaptive=adaptive, eta=s["eta"], params=s["params"], batch_size=s["batch_size"],
    )
    return {
        key: r.value, f"{key}_err": r.last_gain, f"{key}_kind": "lower_bound",
        f"{key}_first_order": r.first_order,
    }


def _gap(
    model: nn.Module, regions: Any, windows: list, train_data: Any, test_data: Any, s: Mapping
) -> list[dict[str, float]]:
    means = {}
    for split, data in (("train", train_data), ("test", test_data)):
        src = as_batches(data, s["batch_size"])
        losses = elementwise_losses(model, src, s["loss"])
        means[split] = window_means(losses, window_masks(regions, src.targets, windows))
    return [
        {"train_loss": a, "test_loss": b, "gap": b - a} for a, b in zip(means["train"], means["test"])
    ]


def sharpness_profile(
    model: nn.Module,
    data: Any,
    regions: Any,
    *,
    methods: Sequence[str] = METHODS,
    min_samples: int = 1,
    loss: str | Callable[..., torch.Tensor] = "l1",
    curvature: str = "ggn",
    params: Any = None,
    batch_size: int = 256,
    max_bytes: int = DEFAULT_MAX_BYTES,
    tol: float = 1e-3,
    max_iter: int = 100,
    trace_rel_se: float = 0.05,
    trace_max_matvecs: int = 500,
    radius: float = 0.5,
    num_directions: int = 8,
    rho: float = 0.05,
    steps: int = 10,
    eta: float = 0.0,
    train_data: Any = None,
    test_data: Any = None,
    seed: int = 0,
    data_info: Mapping[str, Any] | None = None,
    quiet: bool = True,
) -> dict[str, Any]:
    r"""Sharpness of ``model`` per target-bin window of ``data``, with uncertainties and the gap.

    Parameters
    ----------
    model:
        The network; evaluated in eval mode and restored bit for bit.
    data:
        The measured split (anything :class:`bsam.batches.Batches` reads, fixed order).
    regions:
        :class:`bsam.regions.ShotRegions` fitted on the training labels.
    methods:
        Any of :data:`METHODS`.
    min_samples:
        Least samples of ``data`` per window (:func:`~analyses.sharpness.bins.bin_windows`).
    loss, params, batch_size:
        Element-wise loss, parameters (default all) and samples per pass.
    curvature, max_bytes, tol, max_iter, trace_rel_se, trace_max_matvecs:
        ``lambda_max``/``trace``: ``"ggn"`` (exact Gram where ``J`` fits in ``max_bytes``) or
        ``"hessian"``; Lanczos tolerance and budget, Hutch++ target and budget.
    radius, num_directions:
        Average-case sharpness (:func:`~analyses.sharpness.average.average_sharpness`).
    rho, steps, eta:
        Worst-case sharpness (:func:`~analyses.sharpness.worst.worst_case_sharpness`).
    train_data, test_data:
        Both given: each window's generalization gap (test minus train mean loss).
    seed:
        Seed of the random directions and of the stochastic estimators.
    data_info:
        Description of ``data`` for the provenance.
    quiet:
        No progress bar.

    Returns
    -------
    dict
        ``{"provenance": {...}, "bins": {"lower", "bin_width", "train_counts", "regions"},
        "windows": [{BinWindow fields, "loss", "<method>", "<method>_err", "<method>_kind", ...,
        ["train_loss", "test_loss", "gap"]}]}``.
    """
    methods = tuple(methods)
    _check(methods, curvature)
    s = dict(
        loss=loss, curvature=curvature, params=params, batch_size=batch_size, max_bytes=max_bytes,
        tol=tol, max_iter=max_iter, trace_rel_se=trace_rel_se,
        trace_max_matvecs=trace_max_matvecs, radius=radius, num_directions=num_directions,
        rho=rho, steps=steps, eta=eta, min_samples=min_samples,
    )
    t0 = time.perf_counter()
    source = as_batches(data, batch_size)
    windows = bin_windows(regions, source.targets, min_samples=min_samples)
    masks = window_masks(regions, source.targets, windows)
    rows = [w.to_dict() for w in windows]
    with preserved(model):
        base = window_means(elementwise_losses(model, source, loss), masks)
        for row, value in zip(rows, base):
            row["loss"] = value
        if "average" in methods:
            avg = average_sharpness(
                model, source, masks, loss=loss, radius=radius, num_directions=num_directions,
                seed=seed, batch_size=batch_size,
            )
            for row, a in zip(rows, avg):
                row.update(average=a.value, average_err=a.std_error, average_kind="std_error")
                row["average_spread"] = a.spread
        per_window = [m for m in methods if m != "average"]
        for row, mask in progress(list(zip(rows, masks)), desc="sharpness per bin", quiet=quiet):
            if "lambda_max" in per_window or "trace" in per_window:
                entry = _curvature_entry(model, source, mask, s, seed + row["bin"])
                wanted = tuple(m for m in ("lambda_max", "trace") if m in per_window)
                row.update({k: v for k, v in entry.items() if k.startswith(wanted)})
            for key in ("worst", "adaptive"):
                if key in per_window:
                    row.update(_worst_entry(model, source, mask, s, key == "adaptive"))
        if train_data is not None and test_data is not None:
            for row, g in zip(rows, _gap(model, regions, windows, train_data, test_data, s)):
                row.update(g)
    provenance = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model_hash": state_hash(model),
        "model_class": type(model).__name__,
        "data": dict(data_info or {"type": type(data).__name__}),
        "methods": list(methods),
        "settings": {**{k: v for k, v in s.items() if k != "params"},
                     "loss": loss if isinstance(loss, str) else getattr(loss, "__name__", "callable"),
                     "params": "all" if params is None else repr(params)},
        "curvature_matrix": (
            "Gauss-Newton J^T D J / M (J^T J / M for L1)" if curvature == "ggn" else "Hessian"
        ),
        "uncertainty": UNCERTAINTY,
        "seed": seed,
        "seconds": time.perf_counter() - t0,
        "torch": torch.__version__,
    }
    bins = {
        "lower": float(regions.lower),
        "bin_width": float(regions.bin_width),
        "train_counts": [int(c) for c in regions.counts],
        "regions": [("many", "medium", "few")[int(c)] for c in regions.bin_codes],
    }
    return {"provenance": provenance, "bins": bins, "windows": rows}
