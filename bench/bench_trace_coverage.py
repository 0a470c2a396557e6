"""Coverage of the trace estimators' 95% intervals on matrices with a known trace.

For each spectrum (flat, decaying, one dominant eigenvalue, indefinite) a symmetric
``A = Q diag(lambda) Q^T`` with a random orthogonal ``Q`` is built once; Hutchinson and Hutch++ run
with their default stopping rule (``rel_se=0.05``) from ``--seeds`` different seeds, and the share
of runs whose interval ``TraceResult.interval(0.95)`` (``estimate +- t_{0.975, m-1} * std_error``)
contains ``tr(A)`` is the coverage. Also reported: its Wilson 95% interval, the mean number of
products and the largest ``|estimate - tr| / std_error``. Prints and writes (``--json OUT``)::

    {"setting": {...}, "cells": [{"spectrum", "method", "coverage", "coverage_ci95",
     "mean_matvecs", "max_abs_z"}, ...], "min_coverage": ...}

Run: ``python bench/bench_trace_coverage.py --json bench/out/trace_coverage.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyses.curvature import hutchinson_trace, hutchpp_trace  # noqa: E402
from bsam._io import write_json  # noqa: E402

SPECTRA: tuple[str, ...] = ("flat", "decaying", "dominant", "indefinite")
METHODS = {"hutchinson": hutchinson_trace, "hutchpp": hutchpp_trace}


def spectrum(kind: str, n: int, gen: torch.Generator) -> torch.Tensor:
    """The eigenvalues of one test spectrum (float64)."""
    if kind == "flat":
        return 1.0 + 0.1 * torch.rand(n, generator=gen, dtype=torch.float64)
    if kind == "decaying":
        return 100.0 * 0.8 ** torch.arange(n, dtype=torch.float64)
    if kind == "dominant":
        rest = 0.5 * torch.rand(n - 1, generator=gen, dtype=torch.float64)
        return torch.cat([torch.tensor([100.0], dtype=torch.float64), rest])
    if kind == "indefinite":
        return torch.randn(n, generator=gen, dtype=torch.float64) + 0.3
    raise ValueError(f"Invalid spectrum {kind!r}; choose from {list(SPECTRA)}.")


def known_trace_matrix(kind: str, n: int = 150, seed: int = 0) -> torch.Tensor:
    """``Q diag(spectrum) Q^T`` with a random orthogonal ``Q`` (exact trace: the eigenvalue sum)."""
    gen = torch.Generator().manual_seed(1000 + seed)
    Q, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    return Q @ torch.diag(spectrum(kind, n, gen)) @ Q.T


def wilson(hits: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion."""
    p = hits / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return centre - half, centre + half


def coverage(kind: str, method: str, seeds: range, n: int = 150) -> dict:
    """Coverage of the 95% interval of ``method`` on the ``kind`` matrix over ``seeds``."""
    A = known_trace_matrix(kind, n)
    exact = float(A.trace())
    hits, matvecs, worst = 0, 0, 0.0
    for s in seeds:
        r = METHODS[method](A, seed=s)
        lo, hi = r.interval(0.95)
        hits += lo <= exact <= hi
        matvecs += r.num_matvecs
        if r.std_error > 0:
            worst = max(worst, abs(r.estimate - exact) / r.std_error)
    total = len(seeds)
    return {
        "spectrum": kind,
        "method": method,
        "seeds": total,
        "coverage": hits / total,
        "coverage_ci95": list(wilson(hits, total)),
        "mean_matvecs": matvecs / total,
        "max_abs_z": worst,
    }


def main(argv: list[str] | None = None) -> dict:
    """Measure every (spectrum, method) cell; print and optionally write the JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", default=None, metavar="OUT", help="also write the result here")
    p.add_argument("--seeds", type=int, default=200, help="seeds per cell (default 200)")
    p.add_argument("--dim", type=int, default=150, help="matrix dimension (default 150)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    cells = [
        coverage(kind, method, range(args.seeds), args.dim)
        for kind in SPECTRA
        for method in METHODS
    ]
    out = {
        "setting": {
            "dim": args.dim,
            "seeds": args.seeds,
            "rel_se": 0.05,
            "interval": "estimate +- t_{0.975, m-1} * std_error (TraceResult.interval)",
            "torch": torch.__version__,
            "seconds": time.perf_counter() - t0,
        },
        "cells": cells,
        "min_coverage": min(c["coverage"] for c in cells),
    }
    print(json.dumps(out, indent=2))
    if args.json:
        write_json(args.json, out)
    return out


if __name__ == "__main__":
    main()
