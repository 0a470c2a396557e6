"""Your own model and data through the whole toolkit: BSAM training, shot regions, per-region
metrics, surfaces and curvature, and a figure comparing two models region by region.

The data set is plain tensors: a 1-D input ``x`` in [0, 1] and a target ``y = 10 x + 1.5 sin(8 x)
+ noise`` whose *training* distribution is long-tailed (``x ~ Beta(1.2, 4)``: most samples have a
small target, few a large one) while the test split is balanced (``x`` uniform), as in the DIR
benchmarks. Two copies of one small MLP are trained in a plain PyTorch loop:

* ``SQINV``: the square-root-inverse-weighted L1 loss, plain SGD;
* ``BSAM``: the same weighted descent loss with a balance-weighted SAM perturbation (the paper's
  headline method, ``bsam.sam_step`` with ``perturb_weights = descent_weights = w``).

Run ``python examples/own_model.py [--quick] [--out DIR]`` (``BSAM_QUICK=1`` is ``--quick``).
It writes under ``DIR`` (default ``results/own_model``): ``metrics.json`` (per-region MAE, ...),
``curvature.json`` (lambda_max, trace per region), ``surfaces_<label>.png|pdf`` (2D surface per
region), ``flatness.md|csv|tex|png|pdf`` (the comparison) and ``<label>.pt`` (the weights).
Lines that call the toolkit end with ``# toolkit`` (see docs/own-model.md).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

import analyses
import bsam
import landscape
from analyses.plotting import plot_region_panels, save_figure


class TinyRegressor(nn.Module):
    """A two-hidden-layer tanh MLP from a 1-D input to one prediction per sample, ``(N,)``."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(1, width), nn.Tanh(), nn.Linear(width, width), nn.Tanh(), nn.Linear(width, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predictions ``(N,)`` for inputs ``(N, 1)``."""
        return self.net(x).squeeze(-1)


def make_data(n: int, *, balanced: bool, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)``: ``x`` ``(n, 1)`` from Beta(1.2, 4) (long-tailed) or uniform (``balanced``),
    ``y = 10 x + 1.5 sin(8 x) + N(0, 0.3^2)`` clipped to [0, 10) ``(n,)``; float32."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, n) if balanced else rng.beta(1.2, 4.0, n)
    y = np.clip(10 * x + 1.5 * np.sin(8 * x) + rng.normal(0, 0.3, n), 0, 9.999)
    return torch.tensor(x[:, None], dtype=torch.float32), torch.tensor(y, dtype=torch.float32)


def train(x: torch.Tensor, y: torch.Tensor, w_of, *, sam: bool, epochs: int, seed: int) -> nn.Module:
    """Train :class:`TinyRegressor` on ``(x, y)`` with weighted L1 descent (``w_of(y)``: weights),
    with BSAM's balance-weighted perturbation when ``sam``; SGD, batch 64, lr 0.05."""
    torch.manual_seed(seed)
    model, order = TinyRegressor(), torch.Generator().manual_seed(seed)
    if sam:
        opt = bsam.BSAM(model.parameters(), torch.optim.SGD, rho=0.05, lr=0.05, momentum=0.9)  # toolkit
    else:
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(epochs):
        for idx in torch.randperm(len(y), generator=order).split(64):
            xb, yb, wb = x[idx], y[idx], w_of(y[idx])
            if sam:
                bsam.sam_step(model, opt, xb, yb, "l1", perturb_weights=wb, descent_weights=wb)  # toolkit
            else:
                opt.zero_grad()
                (wb * (model(xb) - yb).abs()).mean().backward()
                opt.step()
    return model.eval()


def main(argv: list[str] | None = None) -> dict:
    """Run the example; returns ``{"metrics", "curvature", "flatness", "seconds"}``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings (also BSAM_QUICK=1)")
    parser.add_argument("--out", default="results/own_model", help="output folder")
    args = parser.parse_args(argv)
    quick = args.quick or os.environ.get("BSAM_QUICK", "") in ("1", "true", "yes", "on")
    epochs, points, iters = (3, 5, 10) if quick else (40, 21, 60)
    out, t0 = Path(args.out), time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)

    x_train, y_train = make_data(3000, balanced=False, seed=0)
    test = make_data(1000, balanced=True, seed=1)
    regions = bsam.ShotRegions.fit(y_train, bin_width=1.0, lower=0, upper=10)  # toolkit
    sqinv = bsam.BalanceWeights.fit(y_train, bin_width=1.0, scheme="sqrt_inv", lower=0, upper=10)  # toolkit
    models = {
        label: train(x_train, y_train, sqinv.weights, sam=label == "BSAM", epochs=epochs, seed=0)
        for label in ("SQINV", "BSAM")
    }
    metrics, curvature, grid = {}, {}, np.linspace(-1, 1, points)
    for label, model in models.items():
        torch.save(model.state_dict(), out / f"{label}.pt")
        with torch.no_grad():
            metrics[label] = bsam.metrics.regression_report(model(test[0]), test[1], regions)  # toolkit
        dirs = landscape.random_directions(model, seed=0)  # toolkit
        surf = landscape.compute_surface(model, test, regions=regions, directions=dirs, xcoords=grid, ycoords=grid, quiet=True)  # toolkit
        save_figure(plot_region_panels(surf), out / f"surfaces_{label}")  # toolkit
        cur = analyses.curvature.region_curvature(model, test, regions, metrics=("lambda_max", "trace"), curvature="ggn", max_iter=iters)  # toolkit
        curvature[label] = {r: {k: e[k] for k in ("lambda_max", "trace", "trace_se")} for r, e in cur["regions"].items()}
    flat = analyses.compare_flatness(models, test, regions, points_1d=points, points_2d=points, curvature={"max_iter": iters}, out=out)  # toolkit
    seconds = time.perf_counter() - t0
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    (out / "curvature.json").write_text(json.dumps(curvature, indent=1))
    print(flat.markdown(), f"\n{len(models)} models in {seconds:.1f} s; files in {out}")
    return {"metrics": metrics, "curvature": curvature, "flatness": flat, "seconds": seconds}


if __name__ == "__main__":
    main()
