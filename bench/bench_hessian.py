"""Benchmark: our curvature engine against PyHessian 0.1 on a trained small CNN, few-shot data.

Setting: ``bsam.models.build_model("resnet8")`` trained briefly inside the bench (Adam, L1 loss,
``--steps`` batches of 128 from the ``agedb-synth`` training split; or the model of
``--checkpoint``), evaluated in eval mode on the few-shot test samples (shot regions fitted on the
training split), as one batch. Curvature: the Hessian of the mean L1 loss (the training loss).

Reported (printed and written with ``--json OUT``):

``lambda_max``
    The largest-*magnitude* eigenvalue (what PyHessian's power iteration computes), against a
    converged reference (Lanczos on a float64 copy, relative residual 1e-8). ``ours_s`` /
    ``ours_hvps``: :func:`analyses.curvature.lanczos` (``which="LM"``, tol 1e-3), operator
    set-up included. ``pyhessian_s`` / ``pyhessian_hvps``: time and products until PyHessian's
    power-iteration estimate is first within 1e-3 of the reference (its own set-up included;
    its per-iteration estimates are read by wrapping its HVP function), ``null`` if it never gets
    there within its 100 iterations. Medians over ``--repeats`` alternating runs.
``trace``
    Products needed for a relative standard error <= 5%: ours (Hutch++ with SE stopping, default
    sketch) and plain Hutchinson with the same stopping rule (when it hits ``--hutchinson-cap``,
    the count is projected from its per-probe variance and flagged). The matrix is the
    Gauss-Newton matrix of the L1 loss (PSD): the L1 Hessian's trace is near zero against a
    per-probe spread hundreds of times larger, so no estimator reaches 5% on it (its 30-probe
    estimate and SE are reported beside, with PyHessian's answer).
``hvp_methods``
    Seconds per product of each strategy (graph reuse, double backward, forward-over-reverse),
    PyHessian's single-batch product and curvlinops' ``HessianLinearOperator`` (if it imports).
``lambda_max_mse_hessian``
    The same comparison on the Hessian of the MSE loss, whose largest-magnitude eigenvalue is well
    separated (the case power iteration is good at).
``curvature_choices``
    Few-shot lambda_max / lambda_min / largest-magnitude / trace for the L1 Hessian, the MSE
    Hessian and the Gauss-Newton matrix, to see which one gives Table 8-like positive numbers.

PyHessian 0.1 work-arounds: it is given the data as one full batch (its loader path averages
batch means); its ``trace`` is run for information only (it stops after two probes when the
running mean is negative); ``density`` is not called (it uses the removed ``torch.eig``); the
model has no unused parameters (PyHessian crashes on them); the model output ``(N, 1)`` is
squeezed in the criterion so the L1 loss does not broadcast to ``(N, N)``.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import math
import statistics
import sys
import time
from typing import Any

import torch
from torch import nn

from analyses.curvature import (
    CurvatureOperator,
    hutchinson_trace,
    hutchpp_trace,
    lanczos,
    lanczos_extremes,
)
from bsam._io import write_json

__all__ = ["main"]


def _log(msg: str, quiet: bool) -> None:
    if not quiet:
        print(msg, file=sys.stderr, flush=True)


def _setup(args: argparse.Namespace) -> tuple[nn.Module, torch.Tensor, torch.Tensor, dict]:
    """The trained model and the few-shot test samples."""
    from bsam.data import fit_regions, get_dataset

    train = get_dataset("agedb-synth", "train", seed=args.seed)
    test = get_dataset("agedb-synth", "test", seed=args.seed)
    regions = fit_regions(train)
    info: dict[str, Any] = {"data": "agedb-synth", "split": "test", "region": "few"}
    if args.checkpoint:
        from bsam.checkpoint import load_model

        model, _ = load_model(args.checkpoint, device="cpu")
        info["model"] = f"checkpoint {args.checkpoint}"
    else:
        from bsam.data import augment_batch
        from bsam.models import build_model

        torch.manual_seed(args.seed)
        model = build_model("resnet8")
        gen = torch.Generator().manual_seed(args.seed)
        X_all, y_all = _stack(train)
        with torch.no_grad():  # start the head at the mean age, as a regression head should
            model.fc.bias.fill_(float(y_all.mean()))
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        model.train()
        t0 = time.perf_counter()
        for _ in range(args.steps):
            idx = torch.randint(0, len(train), (128,), generator=gen)
            xb = augment_batch(X_all[idx], gen)
            loss = (model(xb).squeeze(1) - y_all[idx]).abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        info["model"] = f"resnet8, Adam 3e-3, {args.steps} steps of 128, L1"
        info["train_s"] = round(time.perf_counter() - t0, 1)
    mask = regions.masks(test.targets, ("few",))["few"]
    X, y = _stack(test)
    X, y = X[mask], y[mask]
    with torch.no_grad():
        info["few_shot_mae"] = float((model(X).squeeze(1) - y).abs().mean())
    info["num_samples"] = int(mask.sum())
    info["num_parameters"] = sum(p.numel() for p in model.parameters())
    return model, X, y, info


def _stack(ds: Any) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*(ds[i] for i in range(len(ds))))
    return torch.stack(xs), torch.stack(ys).float()


def _l1(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (out.squeeze(1) - y).abs().mean()


def _mse(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (out.squeeze(1) - y).square().mean()


_CRITERIA = {"l1": _l1, "mse": _mse}


class _Hit(Exception):
    pass


def _pyhessian_power(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    ref: float,
    *,
    stop_at_hit: bool,
    tol: float = 1e-3,
    loss: str = "l1",
) -> dict:
    """Run PyHessian's power iteration, recording its estimate after every product.

    With ``stop_at_hit`` the run is cut once the estimate is within 1e-3 of ``ref``. With its
    default ``tol=1e-3`` it stops on its own relative-change rule; ``tol=0`` lets it run all its
    100 iterations (to see whether it ever gets within 1e-3).
    """
    ph = importlib.import_module("pyhessian.hessian")
    original = ph.hessian_vector_product
    trace: list[tuple[float, float]] = []
    t0 = time.perf_counter()

    def counted(gradsH, params, v):  # noqa: ANN001 - PyHessian's signature
        Hv = original(gradsH, params, v)
        est = float(sum((a * b).sum() for a, b in zip(Hv, v)))
        trace.append((time.perf_counter() - t0, est))
        if stop_at_hit and abs(est - ref) <= 1e-3 * abs(ref):
            raise _Hit
        return Hv

    ph.hessian_vector_product = counted
    top = [float("nan")]
    try:
        torch.manual_seed(0)
        h = ph.hessian(model, _CRITERIA[loss], data=(X, y), cuda=False)
        top, _ = h.eigenvalues(maxIter=100, tol=tol)
    except _Hit:
        pass
    finally:
        ph.hessian_vector_product = original
        model.zero_grad(set_to_none=True)
    hit = next((i for i, (_, e) in enumerate(trace) if abs(e - ref) <= 1e-3 * abs(ref)), None)
    return {
        "returned": float(top[0]),
        "returned_rel_err": abs(top[0] - ref) / abs(ref),
        "returned_hvps": len(trace),
        "returned_s": trace[-1][0],
        "hit_s": None if hit is None else trace[hit][0],
        "hit_hvps": None if hit is None else hit + 1,
        "final_rel_err": abs(trace[-1][1] - ref) / abs(ref),
        "estimates": [e for _, e in trace],
    }


def _ours_power_free(
    model: nn.Module, X: torch.Tensor, y: torch.Tensor, ref: float, loss: str = "l1"
) -> dict:
    t0 = time.perf_counter()
    op = CurvatureOperator(model, (X, y), loss=loss)
    r = lanczos(op, which="LM", tol=1e-3)
    dt = time.perf_counter() - t0
    lam = float(r.eigenvalues[0])
    return {"s": dt, "hvps": r.num_matvecs, "value": lam, "rel_err": abs(lam - ref) / abs(ref)}


def _hvp_methods(model: nn.Module, X: torch.Tensor, y: torch.Tensor, quiet: bool) -> dict:
    """Seconds per product of each strategy, timed round-robin (one product of each per round,
    rotating order) so that the shared machine's load hits them alike; medians of 8 rounds."""
    ph = importlib.import_module("pyhessian.hessian")
    ops: dict[str, Any] = {}
    for method in ("reuse_graph", "double_backward", "forward_over_reverse"):
        ops[method] = CurvatureOperator(model, (X, y), loss="l1", hvp_method=method)
    for method in ("double_backward", "forward_over_reverse"):
        ops[f"{method}_3_batches"] = CurvatureOperator(
            model, (X, y), loss="l1", hvp_method=method, batch_size=64
        )
    h = ph.hessian(model, _l1, data=(X, y), cuda=False)  # PyHessian's single-batch product
    n = sum(p.numel() for p in model.parameters())
    v = torch.randn(n)
    vlist = list(torch.split(v, [p.numel() for p in h.params]))
    vlist = [t.view_as(p) for t, p in zip(vlist, h.params)]
    calls: dict[str, Any] = {k: (lambda op=op: op @ v) for k, op in ops.items()}
    calls["pyhessian"] = lambda: ph.hessian_vector_product(h.gradsH, h.params, vlist)
    for fn in calls.values():  # warm-up (builds the kept graph of reuse_graph)
        fn()
    times: dict[str, list[float]] = {k: [] for k in calls}
    names = list(calls)
    for r in range(8):
        for k in names[r % len(names) :] + names[: r % len(names)]:
            t0 = time.perf_counter()
            calls[k]()
            times[k].append(time.perf_counter() - t0)
    out = {f"{k}_s_per_hvp": statistics.median(t) for k, t in times.items()}
    for k, t in out.items():
        _log(f"  {k}: {t:.3f}", quiet)
    model.zero_grad(set_to_none=True)
    calls.clear()
    out["curvlinops"] = _curvlinops(model, X, y)
    return out


def _curvlinops(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> dict:
    """curvlinops' HessianLinearOperator on the same problem (skipped if it cannot import)."""
    try:
        from curvlinops import HessianLinearOperator
    except Exception as err:  # noqa: BLE001 - optional cross-check (backpack pulls torchvision)
        return {
            "available": False,
            "error": f"{type(err).__name__}: {err}",
            "install": 'pip install -e ".[bench]"',
        }
    from importlib.metadata import version

    class _Squeeze(nn.Module):
        def __init__(self, net: nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x).squeeze(1)

    wrapped = _Squeeze(model).eval()
    params = [p for p in wrapped.parameters() if p.requires_grad]
    out: dict[str, Any] = {"available": True, "version": version("curvlinops-for-pytorch")}
    t0 = time.perf_counter()
    H = HessianLinearOperator(wrapped, nn.L1Loss(), params, [(X, y)])
    out["setup_s_with_deterministic_check"] = time.perf_counter() - t0
    H = HessianLinearOperator(wrapped, nn.L1Loss(), params, [(X, y)], check_deterministic=False)
    v = torch.randn(H.shape[1])
    H @ v
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        Hv = H @ v
        times.append(time.perf_counter() - t0)
    out["s_per_hvp"] = statistics.median(times)
    ours = CurvatureOperator(model, (X, y), loss="l1") @ v
    out["max_rel_diff_vs_ours"] = float((Hv - ours).abs().max() / ours.abs().max())
    return out


def _trace(model: nn.Module, X: torch.Tensor, y: torch.Tensor, quiet: bool, cap: int) -> dict:
    op = CurvatureOperator(model, (X, y), loss="l1", curvature="ggn")
    pp = hutchpp_trace(op, rel_se=0.05, max_matvecs=cap, seed=1)
    _log(f"  hutch++: {pp.estimate:.4g} +- {pp.std_error:.2g} in {pp.num_matvecs} HVPs", quiet)
    hu = hutchinson_trace(op, rel_se=0.05, max_matvecs=cap, seed=1)
    _log(f"  hutchinson: {hu.estimate:.4g} +- {hu.std_error:.2g} in {hu.num_matvecs} HVPs", quiet)
    # when the cap is hit, the probes Hutchinson needs follow from its per-probe variance:
    # m = s^2 / (0.05 |tr|)^2, with tr the (more accurate) Hutch++ estimate
    per_probe_var = hu.std_error**2 * hu.num_samples
    projected = math.ceil(per_probe_var / (0.05 * abs(pp.estimate)) ** 2)
    # the L1 Hessian itself: indefinite, its trace is near 0 against a large per-probe spread
    op1 = CurvatureOperator(model, (X, y), loss="l1")
    l1 = hutchinson_trace(op1, rel_se=None, max_matvecs=30, seed=1)
    _log(f"  L1 Hessian: {l1.estimate:.4g} +- {l1.std_error:.2g} (30 probes)", quiet)
    ph = importlib.import_module("pyhessian.hessian")
    torch.manual_seed(0)
    h = ph.hessian(model, _l1, data=(X, y), cuda=False)
    vals = h.trace(maxIter=100, tol=1e-3)
    model.zero_grad(set_to_none=True)
    return {
        "matrix": "Gauss-Newton of the L1 loss (J^T J / M), PSD",
        "ours_hvps": pp.num_matvecs,
        "hutchinson_hvps": hu.num_matvecs if hu.converged else projected,
        "hutchinson_hvps_measured": hu.num_matvecs,
        "hutchinson_hvps_projected_from_variance": not hu.converged,
        "ours_rel_se": pp.relative_std_error,
        "hutchinson_rel_se": hu.relative_std_error,
        "ours_estimate": pp.estimate,
        "ours_se": pp.std_error,
        "ours_converged": pp.converged,
        "hutchinson_estimate": hu.estimate,
        "hutchinson_se": hu.std_error,
        "hutchinson_converged": hu.converged,
        "sketch_size": pp.sketch_size,
        "l1_hessian_estimate_30_probes": l1.estimate,
        "l1_hessian_se_30_probes": l1.std_error,
        "pyhessian_l1_hessian_trace_estimate": float(sum(vals) / len(vals)),
        "pyhessian_l1_hessian_trace_probes": len(vals),
    }


def _choices(model: nn.Module, X: torch.Tensor, y: torch.Tensor, quiet: bool) -> dict:
    out = {}
    for name, loss, curv in (
        ("l1_hessian", "l1", "hessian"),
        ("mse_hessian", "mse", "hessian"),
        ("l1_ggn", "l1", "ggn"),
    ):
        op = CurvatureOperator(model, (X, y), loss=loss, curvature=curv)
        ex = lanczos_extremes(op, tol=1e-3, max_iter=60)
        tr = hutchpp_trace(op, rel_se=0.05, max_matvecs=100, seed=2)
        out[name] = {
            "lambda_max": float(ex["LA"].eigenvalues[0]),
            "lambda_min": float(ex["SA"].eigenvalues[0]),
            "lambda_abs": float(ex["LM"].eigenvalues[0]),
            "trace": tr.estimate,
            "trace_se": tr.std_error,
            "hvps": ex["LA"].num_matvecs + tr.num_matvecs,
        }
        _log(f"  {name}: {out[name]}", quiet)
    return out


def _lambda_block(
    model: nn.Module, X: torch.Tensor, y: torch.Tensor, loss: str, repeats: int, quiet: bool
) -> dict:
    # converged reference on a float64 copy
    m64 = copy.deepcopy(model).double()
    t0 = time.perf_counter()
    ref_r = lanczos(
        CurvatureOperator(m64, (X.double(), y.double()), loss=loss),
        which="LM",
        tol=1e-8,
        max_iter=400,
    )
    ref = float(ref_r.eigenvalues[0])
    _log(
        f"reference LM eigenvalue {ref:.6g} ({ref_r.num_matvecs} HVPs, float64, "
        f"{time.perf_counter() - t0:.0f} s, converged={ref_r.converged})",
        quiet,
    )
    del m64

    # PyHessian as shipped (tol=1e-3 on the relative change): what it returns, and at what cost
    default = _pyhessian_power(model, X, y, ref, stop_at_hit=False, loss=loss)
    _log(f"  pyhessian default: { {k: v for k, v in default.items() if k != 'estimates'} }", quiet)
    ours, theirs = [], []
    for rep in range(repeats):
        order = (0, 1) if rep % 2 == 0 else (1, 0)
        for which in order:
            if which == 0:
                ours.append(_ours_power_free(model, X, y, ref, loss))
            elif not theirs or theirs[0]["hit_s"] is not None:
                # all 100 iterations allowed; cut once within 1e-3 of the reference (a run that
                # never gets there is not repeated: there is no time to measure)
                theirs.append(
                    _pyhessian_power(model, X, y, ref, stop_at_hit=True, tol=0.0, loss=loss)
                )
        _log(f"  repeat {rep}: ours {ours[-1]}, pyhessian hit {theirs[-1]['hit_s']}", quiet)
    hit = [t["hit_s"] for t in theirs if t["hit_s"] is not None]
    best = min(abs(e - ref) / abs(ref) for e in theirs[0]["estimates"])
    lam = {
        "ours_s": statistics.median(o["s"] for o in ours),
        "pyhessian_s": statistics.median(hit) if len(hit) == len(theirs) else None,
        "ours_hvps": ours[0]["hvps"],
        "pyhessian_hvps": theirs[0]["hit_hvps"],
        "ours_rel_err": ours[0]["rel_err"],
        "pyhessian_rel_err": theirs[0]["final_rel_err"],
        "pyhessian_best_rel_err_in_100": best,
        "pyhessian_default_returned": default["returned"],
        "pyhessian_default_rel_err": default["returned_rel_err"],
        "pyhessian_default_hvps": default["returned_hvps"],
        "pyhessian_default_s": default["returned_s"],
        "reference": ref,
        "reference_residual": float(ref_r.relative_residuals[0]),
        "ours_value": ours[0]["value"],
        "pyhessian_never_reached_1e-3": len(hit) == 0,
    }
    if lam["pyhessian_s"]:
        lam["time_ratio_ours_over_pyhessian"] = lam["ours_s"] / lam["pyhessian_s"]
    lam["pyhessian_s_all_100_iterations"] = (
        theirs[0]["returned_s"] if theirs[0]["hit_s"] is None else None
    )
    return lam


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark; print the JSON summary and write it to ``--json``."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", default=None, help="write the results to this JSON file")
    p.add_argument("--checkpoint", default=None, help="use this bsam checkpoint's model")
    p.add_argument("--steps", type=int, default=200, help="training steps of the built-in model")
    p.add_argument("--repeats", type=int, default=3, help="alternating timing repeats")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--hutchinson-cap", type=int, default=300, help="products before projecting from variance"
    )
    p.add_argument("--skip-choices", action="store_true", help="skip the curvature comparison")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    model, X, y, info = _setup(args)
    _log(f"setup: {info}", args.quiet)

    lam = _lambda_block(model, X, y, "l1", args.repeats, args.quiet)
    _log("lambda (MSE Hessian, well-separated top eigenvalue):", args.quiet)
    lam_mse = _lambda_block(model, X, y, "mse", args.repeats, args.quiet)
    _log("trace:", args.quiet)
    tr = _trace(model, X, y, args.quiet, args.hutchinson_cap)
    tr["hvp_ratio_ours_over_hutchinson"] = tr["ours_hvps"] / tr["hutchinson_hvps"]
    _log("hvp methods:", args.quiet)
    methods = _hvp_methods(model, X, y, args.quiet)
    result = {
        "lambda_max": lam,
        "lambda_max_mse_hessian": lam_mse,
        "trace": tr,
        "hvp_methods": methods,
        "setting": info,
        "torch": torch.__version__,
        "threads": args.threads,
    }
    if not args.skip_choices:
        _log("curvature choices:", args.quiet)
        result["curvature_choices"] = _choices(model, X, y, args.quiet)
    if args.json:
        write_json(args.json, result)
    print(__import__("json").dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
