"""Benchmark: seconds per training epoch of vanilla, SAM and BSAM on agedb-synth with resnet8.

Prints and writes (``--json OUT``)::

    {"epoch_s": {"vanilla": s, "sam": s, "bsam": s}, "eval_s": {...}, "bsam_over_vanilla": r,
     "peak_rss_mb": mb, "epochs": n, "threads": t, "device": "cpu", "data": ..., "model": ...}

``epoch_s`` is the median over epochs of the training part of an epoch (the validation pass is
reported separately as ``eval_s``). Target: ``bsam_over_vanilla <= 2.2`` (two passes are the
floor; the balance weights must cost nothing noticeable).
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from bsam._io import write_json
from bsam.train import TrainConfig, train

METHODS = ("vanilla", "sam", "bsam")


def _epoch_seconds(log_path: Path) -> tuple[float, float]:
    with open(log_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    train_s = [float(r["seconds"]) - float(r["eval_seconds"]) for r in rows]
    eval_s = [float(r["eval_seconds"]) for r in rows]
    return statistics.median(train_s), statistics.median(eval_s)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns 0 (and 1 when BSAM exceeds 2.2x vanilla and --strict)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=None, metavar="OUT", help="write the result here")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per method (median)")
    parser.add_argument("--data", default="agedb-synth")
    parser.add_argument("--model", default="resnet8")
    parser.add_argument("--batch-size", type=int, default=TrainConfig().batch_size)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    epoch_s, eval_s = {}, {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
        for method in METHODS:
            cfg = TrainConfig(
                data=args.data,
                model=args.model,
                method=method,
                epochs=args.epochs,
                batch_size=args.batch_size,
                device=args.device,
            )
            out = Path(tmp) / method
            train(cfg, out_dir=out, quiet=True)
            epoch_s[method], eval_s[method] = _epoch_seconds(out / "log.csv")
    result = {
        "epoch_s": epoch_s,
        "eval_s": eval_s,
        "bsam_over_vanilla": epoch_s["bsam"] / epoch_s["vanilla"],
        "sam_over_vanilla": epoch_s["sam"] / epoch_s["vanilla"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "threads": torch.get_num_threads(),
        "device": args.device,
        "data": args.data,
        "model": args.model,
        "total_s": time.perf_counter() - started,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        write_json(args.json, result)
    if args.strict and result["bsam_over_vanilla"] > 2.2:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
