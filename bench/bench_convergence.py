"""Benchmark: is the default reproduction converged? Its recipe vs the same recipe run longer.

For each method of the reproduction (seed 0 by default) this trains the run that
``bsam reproduce`` trains (``analyses.reproduce.stages.train_config``: the same recipe, data,
model and overrides) and the same run with ``--factor`` times the epochs (every other field
equal, so the schedule stretches with it), and prints (and writes with ``--json OUT``)::

    {"methods": {"sqinv": {"epochs": E, "val_mae": v, "long_epochs": 3E, "long_val_mae": l,
                           "ratio": v / l, "within": ratio <= 1 + tolerance,
                           "val_mae_few": ..., "long_val_mae_few": ..., "seconds": ...}, ...},
     "factor": 3, "tolerance": 0.03, "all_within": bool, "seed": 0, "threads": t, ...}

``val_mae`` is the validation MAE (all regions) of the checkpoint each run selects (its best
epoch by validation MAE, as the reproduction uses): "converged" means the default run is within
``tolerance`` of the longer run on validation data; test data is never read for the decision.
Runs are ordinary ``bsam train`` folders under ``--out-dir`` (resumable: rerunning the command
continues where it was killed and reuses finished runs).

Usage::

    python bench/bench_convergence.py --json bench/out/convergence.json --threads 2
    python bench/bench_convergence.py --json bench/out/convergence.json --jobs 2  # 2 x 1 thread
    python bench/bench_convergence.py --quick --json /tmp/c.json     # tiny smoke run
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from bsam._io import write_json


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", default=None, help="write the result here too")
    p.add_argument("--methods", default="vanilla,sqinv,sam,imbsam,bsam")
    p.add_argument("--factor", type=int, default=3, help="epochs of the long run / default's")
    p.add_argument("--tolerance", type=float, default=0.03)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads (of each run with --jobs; default: torch's, or cores/jobs)")
    p.add_argument("--jobs", type=int, default=1, help="runs trained at once, each in a process")
    p.add_argument("--out-dir", default="bench/out/convergence", help="run folders")
    p.add_argument("--quick", action="store_true", help="the quick reproduction's tiny recipe")
    return p.parse_args(argv)


def _best_val(folder: Path) -> dict[str, float]:
    """Validation MAE (all, few) of the checkpoint a finished run selected."""
    metrics = json.loads((folder / "metrics.json").read_text())
    val = metrics["best"]["val"]
    return {"all": float(val["all"]["mae"]), "few": float(val["few"]["mae"])}


def _cost(run) -> float:
    """Relative cost of a run: epochs, twice for a two-pass (SAM-family) method."""
    from bsam.train.config import METHODS

    return run.epochs * (1 if METHODS[run.method].step == "plain" else 2)


def _train_one(run, folder: Path) -> float:
    """Train (or resume, or find finished) one run; its wall seconds here."""
    from bsam.train import train

    t = time.perf_counter()
    train(run, out_dir=folder, quiet=True)
    return time.perf_counter() - t


def _train_all(runs: dict, jobs: int, threads: int | None) -> dict:
    """``{key: seconds}`` of every run, one after the other or ``jobs`` at a time."""
    if jobs == 1:
        return {key: _train_one(run, folder) for key, (run, folder) in runs.items()}
    from analyses.reproduce.processes import Task, run_tasks

    tasks = [Task(f"{m}-{k or 'default'}", _train_one, (run, folder))
             for (m, k), (run, folder) in runs.items()]
    done = run_tasks(tasks, jobs=jobs, threads=threads)
    return {(m, k): done[f"{m}-{k or 'default'}"] for (m, k) in runs}


def main(argv: list[str] | None = None) -> dict:
    """Train every default/long pair and return the comparison (see the module docstring)."""
    args = _parse(argv)
    if args.factor < 2:
        raise SystemExit(f"--factor {args.factor}: the long run needs at least 2x the epochs")
    if args.threads and args.jobs == 1:
        torch.set_num_threads(args.threads)
    from analyses.reproduce.processes import check_jobs, job_threads

    check_jobs(args.jobs)
    from analyses.reproduce.cache import stage_key
    from analyses.reproduce.config import ReproduceConfig, RunSpec
    from analyses.reproduce.stages import train_config
    from bsam.train import TrainConfig

    cfg = ReproduceConfig.quick_config() if args.quick else ReproduceConfig()
    out_dir = Path(args.out_dir)
    methods = [m for m in args.methods.split(",") if m]
    runs: dict[tuple[str, str], tuple[TrainConfig, Path]] = {}
    for method in methods:
        base = train_config(cfg, RunSpec(method, method, args.seed))
        long = base.__class__(**{**base.to_dict(), "epochs": base.epochs * args.factor})
        for key, run in (("", base), ("long_", long)):
            key_fields = {k: v for k, v in run.resolve().to_dict().items() if k != "device"}
            folder = out_dir / f"{method}-s{args.seed}-e{run.epochs}-{stage_key(key_fields)[:8]}"
            runs[(method, key)] = (run, folder)
    # longest first, so that the last of N parallel runs is a short one
    order = sorted(runs, key=lambda k: -_cost(runs[k][0]))
    seconds = _train_all({k: runs[k] for k in order}, args.jobs, args.threads)
    rows: dict[str, dict] = {}
    for method in methods:
        entry: dict = {"epochs": runs[(method, "")][0].epochs,
                       "long_epochs": runs[(method, "long_")][0].epochs}
        for key in ("", "long_"):
            best = _best_val(runs[(method, key)][1])
            entry[f"{key}val_mae"] = best["all"]
            entry[f"{key}val_mae_few"] = best["few"]
        entry["seconds"] = round(seconds[(method, "")] + seconds[(method, "long_")], 1)
        entry["ratio"] = entry["val_mae"] / entry["long_val_mae"]
        entry["within"] = bool(entry["ratio"] <= 1 + args.tolerance)
        rows[method] = entry
        print(f"{method}: {json.dumps(entry)}", file=sys.stderr)
    result = {
        "methods": rows,
        "factor": args.factor,
        "tolerance": args.tolerance,
        "all_within": all(r["within"] for r in rows.values()),
        "seed": args.seed,
        "threads": torch.get_num_threads() if args.jobs == 1 else args.threads or job_threads(args.jobs),
        "jobs": args.jobs,
        "data": cfg.data,
        "quick": args.quick,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        write_json(Path(args.json), result)
    return result


if __name__ == "__main__":
    main()
