"""Benchmark: time per training step of SGD, SAM and BSAM on a small ResNet (CPU).

One step of ``bsam.models.build_model("resnet8")`` on a batch of 256 RGB 32x32 images with
scalar targets and the L1 loss:

* ``sgd``:  :func:`bsam.optim.plain_step` with ``torch.optim.SGD`` (one forward, one backward);
* ``sam``:  :func:`bsam.optim.sam_step` with :class:`bsam.optim.SAM` (two of each);
* ``bsam``: :func:`bsam.optim.sam_step` with :class:`bsam.optim.BSAM`, the square-root-inverse
  weights looked up for the batch inside the timed step and used in both passes (the official
  configuration, the most expensive one).

The three are timed round-robin (one step of each per repeat, in rotating order, so load on a
shared machine hits them alike) after warm-up. The step times are medians over repeats; the
ratios are medians of the per-repeat ratios (steps timed back to back), which are less sensitive
to load that drifts during the run than ratios of medians. Prints and writes
(``--json OUT``) ``{"sgd_step_ms", "sam_step_ms", "bsam_step_ms", "bsam_over_sam",
"bsam_over_sgd", "weighting_ms", "config"}``, where ``weighting_ms`` times the work BSAM adds to
SAM on its own (weight lookup and two weighted means, averaged over 200 calls), a figure that
load on the machine barely blurs.
Targets: ``bsam_over_sam <= 1.05``, ``bsam_over_sgd <= 2.1``.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from collections.abc import Callable

import torch

from bsam._io import write_json
from bsam.losses import weighted_mean
from bsam.models import build_model
from bsam.optim import BSAM, SAM, plain_step, sam_step
from bsam.weights import BalanceWeights

__all__ = ["main"]


def _time(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e3


def _paired_ratio(num: list[float], den: list[float]) -> float:
    """Median over repeats of ``num[r] / den[r]`` (steps timed back to back in one repeat)."""
    return statistics.median(a / b for a, b in zip(num, den))


def _weighting_ms(balance: BalanceWeights, y: torch.Tensor, reps: int = 200) -> float:
    """Extra time per step of the weighting alone: weight lookup + two weighted means."""
    values = torch.rand_like(y)
    start = time.perf_counter()
    for _ in range(reps):
        w = balance.weights(y)
        weighted_mean(values, w), weighted_mean(values, w)
    weighted = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(reps):
        weighted_mean(values, None), weighted_mean(values, None)
    plain = time.perf_counter() - start
    return (weighted - plain) / reps * 1e3


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark; return (and print, and optionally write) the result dict."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="OUT", help="write the result JSON here")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    torch.manual_seed(args.seed)
    base = build_model("resnet8")
    models = {name: copy.deepcopy(base).train() for name in ("sgd", "sam", "bsam")}
    gen = torch.Generator().manual_seed(args.seed)
    x = torch.randn(args.batch, 3, 32, 32, generator=gen)
    y = torch.randint(0, 101, (args.batch,), generator=gen).float()
    train_labels = torch.randint(0, 101, (5000,), generator=gen).float()
    balance = BalanceWeights.fit(
        train_labels, 1.0, scheme="sqrt_inv", normalize=False, lower=0.0, upper=100.0
    )
    hp = dict(lr=1e-3, momentum=0.9, weight_decay=1e-4)
    sgd = torch.optim.SGD(models["sgd"].parameters(), **hp)
    sam = SAM(models["sam"].parameters(), torch.optim.SGD, rho=0.05, **hp)
    bsam = BSAM(models["bsam"].parameters(), torch.optim.SGD, rho=0.05, **hp)

    def bsam_step() -> None:
        w = balance.weights(y)
        sam_step(models["bsam"], bsam, x, y, "l1", perturb_weights=w, descent_weights=w)

    steps = {
        "sgd": lambda: plain_step(models["sgd"], sgd, x, y, "l1"),
        "sam": lambda: sam_step(models["sam"], sam, x, y, "l1"),
        "bsam": bsam_step,
    }
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.warmup):
        for fn in steps.values():
            fn()
    names = list(steps)
    for r in range(args.repeats):
        for name in names[r % 3 :] + names[: r % 3]:  # rotate the order: no position bias
            times[name].append(_time(steps[name]))
    med = {name: statistics.median(t) for name, t in times.items()}
    result = {
        "sgd_step_ms": round(med["sgd"], 3),
        "sam_step_ms": round(med["sam"], 3),
        "bsam_step_ms": round(med["bsam"], 3),
        "bsam_over_sam": round(_paired_ratio(times["bsam"], times["sam"]), 4),
        "bsam_over_sgd": round(_paired_ratio(times["bsam"], times["sgd"]), 4),
        "weighting_ms": round(_weighting_ms(balance, y), 4),
        "config": {
            "model": "resnet8",
            "batch": args.batch,
            "image": [3, 32, 32],
            "device": "cpu",
            "threads": torch.get_num_threads(),
            "warmup": args.warmup,
            "repeats": args.repeats,
            "torch": torch.__version__,
        },
    }
    if args.json:
        write_json(args.json, result)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
