"""A short check of the CUDA path against the CPU in float32: training steps, a surface point, Lanczos.

Run it when a GPU machine is at hand (under 2 minutes there; the test suite never needs it)::

    python bench/gpu_check.py [--json OUT]

Three comparisons, each reported with its numbers, its tolerance and ``pass``:

* ``train/<mode>``: ``--steps`` BSAM steps (:func:`bsam.optim.sam_step` with
  :class:`bsam.optim.BSAM`, square-root-inverse weights in the perturbation, L1 descent, SGD with
  momentum, BatchNorm in train mode) of a small ResNet (``resnet8``, widths 8-8-8) on one fixed
  synthetic batch of 3x16x16 images, on the device in float32 (TF32 off) and under the training
  loop's mixed precision (:class:`bsam.train.precision.Precision`, ``bf16`` and ``fp16``),
  against the same steps on the CPU in float32. Reported: the largest relative difference of the
  step losses and the relative difference of the weight update
  ``||dW_dev - dW_cpu|| / ||dW_cpu||`` (``dW`` = final minus initial weights). For ``fp16`` the
  loss scale starts at ``2**8`` so that no step of this short run is skipped (skipping is tested
  on the CPU in ``tests/bsam/test_train_precision.py``); a skipped step fails the check.
* ``surface``: one point ``theta + 0.25 d`` of a filter-normalized 1D surface
  (:func:`landscape.compute_surface`), loss and MAE over 64 samples, device vs CPU (float32).
* ``lanczos``: the top Hessian eigenvalue of the MSE loss of 64 samples in float64
  (:class:`analyses.curvature.CurvatureOperator`, :func:`analyses.curvature.lanczos`, tol 1e-8),
  device vs CPU.

Tolerances (relative): float32 1e-4 (reduction order differs); bf16 / fp16 losses 3e-2 and
updates 0.25 (8 / 11 significant bits: each forward rounds activations by ~2**-8 / 2**-11, and an
L1 residual near 0 whose sign flips changes one sample's gradient, 1/32 of the batch; measured
with the CPU's autocast at the defaults: losses 5e-4 / 3e-4, updates 0.06 / 0.03; the update
difference grows on smaller images and batches, whose BatchNorm statistics pool fewer values);
surface 1e-4; Lanczos 1e-6 (float64, residual-certified to 1e-8).

Without CUDA (or with ``--device cpu``, which compares the CPU's own autocast with its float32 and
is what the smoke test runs) it still runs; with no CUDA device it prints ``{"cuda": false, ...}``
after the CPU half (the references) and exits 0. The exit status is 1 when a comparison fails.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from typing import Any

import numpy as np
import torch

__all__ = ["main"]

#: Relative tolerances of each comparison (module docstring).
TOLERANCES: dict[str, dict[str, float]] = {
    "train/fp32": {"loss": 1e-4, "update": 1e-4},
    "train/bf16": {"loss": 3e-2, "update": 0.25},
    "train/fp16": {"loss": 3e-2, "update": 0.25},
    "surface": {"loss": 1e-4, "mae": 1e-4},
    "lanczos": {"eigenvalue": 1e-6},
}


def _data(batch: int, size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed batch: images ``(batch, 3, size, size)`` and integer targets in [0, 10)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 10, (batch,), generator=g).float()
    x = torch.randn(batch, 3, size, size, generator=g) + y[:, None, None, None] / 10
    return x, y


def _sqrt_inv_weights(y: torch.Tensor) -> torch.Tensor:
    """``1/sqrt(n_bin)`` per sample, rescaled to mean 1 (the BSAM default weights)."""
    counts = torch.bincount(y.long(), minlength=10).float()
    w = counts[y.long()].rsqrt()
    return w / w.mean()


def _model(seed: int = 0) -> torch.nn.Module:
    from bsam.models import build_model

    torch.manual_seed(seed)
    return build_model("resnet8", in_channels=3, widths=[8, 8, 8])


def _flat(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1).double().cpu() for p in model.parameters()])


def bsam_steps(device: torch.device, amp: str, *, steps: int, batch: int, size: int) -> dict:
    """``steps`` BSAM steps on ``device`` under ``amp``; losses, update and skipped steps."""
    from bsam.distributed import LOCAL_SYNC
    from bsam.optim import BSAM, sam_step
    from bsam.train.precision import Precision

    x, y = _data(batch, size)
    w = _sqrt_inv_weights(y)
    x, y, w = x.to(device), y.to(device), w.to(device)
    model = _model().to(device)
    start = _flat(model)
    opt = BSAM(model.parameters(), torch.optim.SGD, rho=0.05, lr=0.05, momentum=0.9)
    precision = Precision(amp, False, device)
    if precision.scaler is not None:
        precision.scaler.scale = 2.0**8
    net, sync = precision.wrap(model), precision.sync(LOCAL_SYNC)
    model.train()
    losses, skipped = [], 0

    def one() -> Any:
        return sam_step(net, opt, x, y, "l1", perturb_weights=w, sync=sync)

    for _ in range(steps):
        result = precision.step(one, model, opt)
        if result is None:
            skipped += 1
            losses.append(None)  # JSON null: no loss of a skipped step
        else:
            losses.append(result.loss)
    return {"losses": losses, "update": _flat(model) - start, "skipped": skipped}


def surface_point(device: torch.device, *, samples: int, size: int) -> dict[str, float]:
    """Loss and MAE at ``theta + 0.25 d`` (filter-normalized direction, seed 0) on ``device``."""
    import landscape

    model = _model(1)
    x, y = _data(samples, size, seed=1)
    dirs = landscape.random_directions(model, seed=0, dims=1)
    res = landscape.compute_surface(
        model,
        (x, y),
        regions=None,
        region_names=("all",),
        xcoords=np.array([0.25]),
        directions=dirs,
        loss="l1",
        device=device,
        quiet=True,
    )
    return {"loss": float(res.loss["all"][0]), "mae": float(res.mae["all"][0])}


def lanczos_top(device: torch.device, *, samples: int, size: int) -> dict[str, float]:
    """Top Hessian eigenvalue (MSE, float64, eval mode) of ``samples`` images on ``device``."""
    from analyses.curvature import CurvatureOperator, lanczos

    model = _model(2).double().to(device).eval()
    x, y = _data(samples, size, seed=2)
    data = (x.double().to(device), y.double().to(device))
    op = CurvatureOperator(model, data, loss="mse", curvature="hessian")
    res = lanczos(op, k=1, tol=1e-8, max_iter=60, seed=0)
    converged = bool(np.all(np.asarray(res.converged)))
    return {
        "eigenvalue": float(res.eigenvalues[0]),
        "matvecs": int(res.num_matvecs),
        "converged": converged,
    }


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-30)


def _compare_train(dev: dict, ref: dict, tol: dict[str, float]) -> dict[str, Any]:
    pairs = zip(dev["losses"], ref["losses"], strict=True)
    loss = max(_rel(a, b) if a is not None else math.inf for a, b in pairs)
    update = float((dev["update"] - ref["update"]).norm() / ref["update"].norm())
    ok = dev["skipped"] == 0 and loss <= tol["loss"] and update <= tol["update"]
    return {
        "loss_rel": loss,
        "update_rel": update,
        "skipped": dev["skipped"],
        "losses": dev["losses"],
        "tolerance": tol,
        "pass": bool(ok),
    }


def _compare(dev: dict[str, float], ref: dict[str, float], tol: dict[str, float]) -> dict:
    rel = {f"{k}_rel": _rel(dev[k], ref[k]) for k in tol}
    ok = all(rel[f"{k}_rel"] <= t for k, t in tol.items()) and dev.get("converged", True)
    return {"device": dev, "cpu": ref, **rel, "tolerance": tol, "pass": bool(ok)}


def run(device: str, *, steps: int, batch: int, size: int, samples: int) -> dict[str, Any]:
    """The whole check (module docstring) as a JSON-safe dict."""
    from bsam.device import resolve_device

    cpu = torch.device("cpu")
    started = time.perf_counter()
    ref_train = bsam_steps(cpu, "off", steps=steps, batch=batch, size=size)
    ref_surface = surface_point(cpu, samples=samples, size=size)
    ref_lanczos = lanczos_top(cpu, samples=samples, size=size)
    out: dict[str, Any] = {
        "cuda": torch.cuda.is_available(),
        "torch": torch.__version__,
        "settings": {"steps": steps, "batch": batch, "size": size, "samples": samples},
        "cpu": {
            "train_losses": ref_train["losses"],
            "surface": ref_surface,
            "lanczos": ref_lanczos,
        },
    }
    target = resolve_device(device)
    if target.type == "cpu" and device != "cpu":  # "auto" without CUDA: the CPU half only
        out["seconds"] = time.perf_counter() - started
        return out
    out["device"] = str(target)
    if target.type == "cuda":
        out["device_name"] = torch.cuda.get_device_name(target)
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    checks: dict[str, Any] = {}
    for amp, name in (("off", "train/fp32"), ("bf16", "train/bf16"), ("fp16", "train/fp16")):
        try:
            dev = bsam_steps(target, amp, steps=steps, batch=batch, size=size)
        except ValueError as err:  # a mode this device cannot run (check_amp)
            checks[name] = {"error": str(err), "pass": False}
            continue
        checks[name] = _compare_train(dev, ref_train, TOLERANCES[name])
    checks["surface"] = _compare(
        surface_point(target, samples=samples, size=size), ref_surface, TOLERANCES["surface"]
    )
    checks["lanczos"] = _compare(
        lanczos_top(target, samples=samples, size=size), ref_lanczos, TOLERANCES["lanczos"]
    )
    out["checks"] = checks
    out["pass"] = all(c["pass"] for c in checks.values())
    out["seconds"] = time.perf_counter() - started
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the check, print (and with ``--json`` write) its JSON; 1 when a comparison fails."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cuda:N, cpu")
    parser.add_argument("--steps", type=int, default=5, help="BSAM steps compared")
    parser.add_argument("--batch", type=int, default=32, help="training batch size")
    parser.add_argument("--size", type=int, default=16, help="image side (pixels)")
    parser.add_argument("--samples", type=int, default=64, help="samples of the surface/Lanczos")
    parser.add_argument("--json", default=None, help="also write the result to this file")
    args = parser.parse_args(argv)
    for name in ("steps", "batch", "size", "samples"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    result = run(
        args.device, steps=args.steps, batch=args.batch, size=args.size, samples=args.samples
    )
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        from bsam._io import write_json

        write_json(args.json, copy.deepcopy(result))
    return 0 if result.get("pass", True) else 1


if __name__ == "__main__":
    sys.exit(main())
