"""Benchmark: a full per-bin sharpness profile, and the exact-Gram few-shot Table 8 quantities.

Setting: ``bsam.models.build_model("resnet8")``, randomly initialised with ``--seed`` (the
default, ``--steps 0``) or trained ``--steps`` Adam steps of 128 on the ``agedb-synth`` training
split (L1 loss, head bias at the mean age); evaluated in eval mode on the ``agedb-synth`` test
split (2,140 samples), shot regions fitted on the training split.

Reported (printed and written with ``--json OUT``):

``profile``
    Seconds of :func:`analyses.sharpness.sharpness_profile` over every test bin (all five methods:
    Gauss-Newton lambda_max and trace by the Gram matrix, average-case sharpness with
    ``--num-directions`` directions, worst-case and adaptive rho-sharpness with ``--pga-steps``),
    the seconds of one plain Lanczos lambda_max of the Gauss-Newton matrix on the whole split
    (tol 1e-3), and their ratio.
``table8``
    The few-shot Gauss-Newton (L1: J^T J / M) lambda_max and trace: exact from the Gram matrix
    against Lanczos + Hutch++ at the reproduction's tolerances
    (:func:`analyses.curvature.region_curvature`, tol 1e-3, trace relative SE 5%, at most 500
    products; it computes both ends of the spectrum), and against Lanczos for lambda_max alone +
    Hutch++ (``lanczos_la_hutchpp``): values, errors and the time ratios (target <= 0.1). Each
    path is run once on 8 samples before timing (one-time costs of vmap and jvp).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import torch

from bsam._io import write_json

__all__ = ["main"]


def _setup(args: argparse.Namespace) -> tuple[torch.nn.Module, Any, Any, Any, dict]:
    from bsam.data import augment_batch, fit_regions, get_dataset
    from bsam.models import build_model

    train = get_dataset("agedb-synth", "train", seed=args.seed)
    test = get_dataset("agedb-synth", "test", seed=args.seed)
    regions = fit_regions(train)
    torch.manual_seed(args.seed)
    model = build_model("resnet8")
    info: dict[str, Any] = {"model": f"resnet8, random initialisation (seed {args.seed})"}
    if args.steps:
        X, y = train.tensors()
        y = torch.as_tensor(y).float()
        with torch.no_grad():
            model.fc.bias.fill_(float(y.mean()))
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        gen = torch.Generator().manual_seed(args.seed)
        model.train()
        for _ in range(args.steps):
            idx = torch.randint(0, len(train), (128,), generator=gen)
            loss = (model(augment_batch(X[idx], gen)).squeeze(1) - y[idx]).abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        info["model"] = f"resnet8, Adam 3e-3, {args.steps} steps of 128, L1"
    model.eval()
    return model, train, test, regions, info


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print and optionally write the JSON summary."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", default=None, metavar="OUT")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=0, help="training steps (0: random init)")
    p.add_argument("--num-directions", type=int, default=4)
    p.add_argument("--pga-steps", type=int, default=5)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from analyses.curvature import CurvatureOperator, hutchpp_trace, lanczos, region_curvature
    from analyses.sharpness import gauss_newton_spectrum, sharpness_profile

    model, train, test, regions, info = _setup(args)
    _log(f"set up: {info['model']}")
    data = test.tensors()
    warm = (data[0][:8], data[1][:8])  # first calls of vmap/jvp pay a one-time cost: not timed
    gauss_newton_spectrum(model, warm)
    lanczos(CurvatureOperator(model, warm, loss="l1", curvature="ggn"), max_iter=3)
    t0 = time.perf_counter()
    op = CurvatureOperator(model, data, loss="l1", curvature="ggn")
    top = lanczos(op, tol=1e-3)
    lanczos_s = time.perf_counter() - t0
    _log(f"whole-split Lanczos: {lanczos_s:.1f} s, {top.num_matvecs} products")
    t0 = time.perf_counter()
    prof = sharpness_profile(
        model, data, regions, num_directions=args.num_directions, steps=args.pga_steps
    )
    profile_s = time.perf_counter() - t0
    _log(f"profile: {profile_s:.1f} s, {len(prof['windows'])} windows")
    few = regions.masks(torch.as_tensor(data[1]), ("few",))["few"]
    t0 = time.perf_counter()
    exact = gauss_newton_spectrum(model, data, mask=few)
    gram_s = time.perf_counter() - t0
    _log(f"few-shot Gram: {gram_s:.2f} s")
    t0 = time.perf_counter()
    ref = region_curvature(
        model,
        data,
        regions,
        region_names=("few",),
        metrics=("lambda_max", "trace"),
        loss="l1",
        curvature="ggn",
    )["regions"]["few"]
    iterative_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    op_few = CurvatureOperator(model, data, loss="l1", curvature="ggn", mask=few)
    top_few = lanczos(op_few, which="LA", tol=1e-3)
    tr_few = hutchpp_trace(op_few, rel_se=0.05, max_matvecs=500)
    la_s = time.perf_counter() - t0
    out = {
        "setting": {
            **info,
            "data": "agedb-synth test",
            "threads": args.threads,
            "num_parameters": op.shape[0],
            "num_test": int(data[1].shape[0]),
            "load_average": os.getloadavg(),
            "torch": torch.__version__,
        },
        "profile": {
            "seconds": profile_s,
            "windows": len(prof["windows"]),
            "methods": prof["provenance"]["methods"],
            "lanczos_lambda_max_whole_split_s": lanczos_s,
            "lanczos_matvecs": top.num_matvecs,
            "ratio": profile_s / lanczos_s,
            "gram_windows": sum(w["lambda_max_method"] == "gram" for w in prof["windows"]),
        },
        "table8": {
            "num_samples": int(few.sum()),
            "gram": {
                "seconds": gram_s,
                "lambda_max": exact.lambda_max,
                "trace": exact.trace,
                "method": exact.method,
                "error": 0.0,
            },
            "lanczos_hutchpp": {
                "seconds": iterative_s,
                "lambda_max": ref["lambda_max"],
                "trace": ref["trace"],
                "trace_se": ref["trace_se"],
                "num_matvecs": ref["num_hvps"],
            },
            "lanczos_la_hutchpp": {
                "seconds": la_s,
                "lambda_max": float(top_few.eigenvalues[0]),
                "trace": tr_few.estimate,
                "trace_se": tr_few.std_error,
                "num_matvecs": op_few.num_matvecs,
            },
            "time_ratio": gram_s / iterative_s,
            "time_ratio_la_only": gram_s / la_s,
            "lambda_max_rel_diff": abs(exact.lambda_max - ref["lambda_max"]) / exact.lambda_max,
            "trace_rel_diff": abs(exact.trace - ref["trace"]) / exact.trace,
        },
    }
    print(out, file=sys.stdout)
    if args.json:
        write_json(args.json, out)
    return out


if __name__ == "__main__":
    main()
