"""Benchmark: cost of one loss-surface grid point with every region, on a small ResNet (CPU).

Setting: ``bsam.models.build_model("resnet8")`` in eval mode on the ``agedb-synth`` test split
(2,140 RGB 32x32 images; a random stand-in of the same size with ``--standin``), shot regions
fitted on the training split, 2D filter-normalized random directions, L1 loss, batch 256, four
regions (all, many, medium, few). Reported (printed and written with ``--json OUT``):

``points_per_s``
    Grid points per second of :func:`landscape.compute_surface` writing an HDF5 file
    (setup, hashing and file writes included, amortized over the grid).
``cost_per_point_over_eval_pass``
    Time of one such grid point (all four regions) over one plain evaluation pass of the same
    data: a loop over the same in-memory batches computing the model's mean L1 loss, nothing
    else. Target <= 1.15: the regions come for free.
``work_ratio_vs_per_region_runs``
    Time of the four per-region runs that loss-landscape (Li et al. 2018) needs for the same
    four surfaces, over the time of our single run. The fair baseline: each run evaluates only
    its own subset (a ``torch.utils.data.Subset`` of the test set's samples in that region,
    iterated with a ``DataLoader`` of the same batch size at each grid point, exactly as
    loss-landscape's ``eval_loss`` iterates its loader), perturbs the weights the same way, and
    reduces to a mean exactly weighted by sample count. Since the three shot regions partition
    "all", these four runs process 2N samples per point against our N: the ratio is bounded by
    about 2 plus the loader overhead. Target stated in the issue: >= 3.5.
``work_ratio_vs_full_pass_runs``
    The same four runs when each region's run passes the whole test set and keeps its region's
    samples by masking the per-sample loss (what one does without building one data set per
    region): 4N samples per point; bounded by about 4.
``work_ratio_same_engine``
    Four :func:`landscape.compute_surface` runs, one per region's subset tensors (our in-memory
    engine, no DataLoader): the saving from sharing the pass alone.

All variants are timed round-robin (one grid point of each per repeat, rotating order) after a
warm-up, and medians are reported, so load on a shared machine hits them alike.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset, TensorDataset

import landscape
from bsam._io import write_json
from bsam.regions import ShotRegions
from landscape.surface import Evaluator

__all__ = ["main"]


def _model() -> torch.nn.Module:
    try:
        from bsam.models import build_model

        return build_model("resnet8")
    except Exception:  # noqa: BLE001 - stand-in before bsam.models exists
        from torch import nn

        def block(cin, cout, stride):
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()
            )

        return nn.Sequential(
            block(3, 16, 1),
            block(16, 16, 1),
            block(16, 32, 2),
            block(32, 64, 2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(64, 1),
        )


def _data(standin: bool, seed: int):
    """Test tensors, a map-style test dataset and the training-split shot regions."""
    if not standin:
        try:
            from bsam.data import fit_regions, get_dataset

            test = get_dataset("agedb-synth", "test", seed=seed)
            regions = fit_regions(get_dataset("agedb-synth", "train", seed=seed))
            X, Y = test.tensors()
            return X, Y, test, regions, "agedb-synth"
        except Exception as err:  # noqa: BLE001
            print(f"agedb-synth unavailable ({err}); using a random stand-in")
    g = torch.Generator().manual_seed(seed)
    Y = torch.randint(0, 102, (2140,), generator=g).float()
    X = torch.randn(2140, 3, 32, 32, generator=g)
    train = torch.cat(
        [torch.randint(20, 60, (9000,), generator=g), torch.randint(0, 102, (3208,), generator=g)]
    )
    regions = ShotRegions.fit(train.float(), lower=0.0, upper=101.0)
    return X, Y, TensorDataset(X, Y), regions, "standin"


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark; return (and print, and optionally write) the result dict."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="OUT", help="write the result JSON here")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--grid", type=int, default=3, help="grid side of the timed surface")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--standin", action="store_true", help="random data instead of agedb-synth")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    model = _model().eval()
    X, Y, dataset, regions, data_name = _data(args.standin, args.seed)
    names = ("all", "many", "medium", "few")
    masks = regions.masks(Y, names)
    dirs = landscape.random_directions(model, seed=args.seed)
    batches = [(X[i : i + args.batch], Y[i : i + args.batch]) for i in range(0, len(Y), args.batch)]
    rng = np.random.default_rng(args.seed)

    def point() -> tuple[float, float]:
        return float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1))

    def plain_eval() -> None:
        total = 0.0
        with torch.inference_mode():
            for x, y in batches:
                total += float((model(x).reshape(-1) - y).abs().sum())
        assert np.isfinite(total)

    # Our engine for one point with all four regions (the inner loop of compute_surface).
    from bsam._state import preserved
    from bsam.losses import get_loss
    from landscape._data import make_source
    from landscape.reduce import build_groups

    source = make_source((X, Y), batch_size=args.batch, device=torch.device("cpu"))
    ev_all = Evaluator(model, dirs, source, build_groups(Y, regions=regions), get_loss("l1"))
    same_engine = []
    for name in names:
        m = masks[name]
        src = make_source((X[m], Y[m]), batch_size=args.batch, device=torch.device("cpu"))
        grp = build_groups(Y[m], regions=None, region_names=("all",))
        same_engine.append(Evaluator(model, dirs, src, grp, get_loss("l1")))

    def ll_run(loader: DataLoader, mask: torch.Tensor | None) -> Callable[[float, float], None]:
        def run(a: float, b: float) -> None:
            ev_all.set_point(a, b)  # same weight update as ours
            total, count = 0.0, 0
            with torch.inference_mode():
                for start, (x, y) in enumerate(loader):
                    err = (model(x).reshape(-1) - y).abs()
                    if mask is not None:
                        keep = mask[start * args.batch : start * args.batch + len(y)]
                        err = err[keep]
                    total += float(err.sum())
                    count += int(err.numel())
            assert count > 0

        return run

    subset_runs = [
        ll_run(
            DataLoader(
                Subset(dataset, torch.nonzero(masks[n]).flatten().tolist()), batch_size=args.batch
            ),
            None,
        )
        for n in names
    ]
    full_loader = DataLoader(dataset, batch_size=args.batch)
    full_runs = [ll_run(full_loader, masks[n]) for n in names]

    variants: dict[str, Callable[[], None]] = {
        "plain_eval": plain_eval,
        "ours": lambda: ev_all.sums_at(*point()),
        "per_region_subset": lambda: [r(*point()) for r in subset_runs],
        "per_region_full": lambda: [r(*point()) for r in full_runs],
        "same_engine": lambda: [e.sums_at(*point()) for e in same_engine],
    }
    times: dict[str, list[float]] = {k: [] for k in variants}
    with preserved(model):
        for fn in variants.values():  # warm-up
            fn()
        keys = list(variants)
        for rep in range(args.repeats):
            for k in keys[rep % len(keys) :] + keys[: rep % len(keys)]:
                start = time.perf_counter()
                variants[k]()
                times[k].append(time.perf_counter() - start)

    # The whole library call, with file writes, for points per second.
    xs = np.linspace(-1, 1, args.grid)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        grid = {"xcoords": xs, "ycoords": xs, "directions": dirs, "out": Path(tmp) / "s.h5"}
        landscape.compute_surface(
            model, (X, Y), regions=regions, batch_size=args.batch, quiet=True, device="cpu", **grid
        )
        wall = time.perf_counter() - start
    med = {k: _median_ms(v) for k, v in times.items()}
    result = {
        "points_per_s": args.grid**2 / wall,
        "cost_per_point_over_eval_pass": med["ours"] / med["plain_eval"],
        "work_ratio_vs_per_region_runs": med["per_region_subset"] / med["ours"],
        "work_ratio_vs_full_pass_runs": med["per_region_full"] / med["ours"],
        "work_ratio_same_engine": med["same_engine"] / med["ours"],
        "median_ms": med,
        "config": {
            "model": type(model).__name__,
            "data": data_name,
            "samples": len(Y),
            "region_sizes": {n: int(m.sum()) for n, m in masks.items()},
            "batch": args.batch,
            "threads": args.threads,
            "repeats": args.repeats,
            "grid": f"{args.grid}x{args.grid}",
        },
    }
    print(__import__("json").dumps(result, indent=2))
    if args.json:
        write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
