"""``bsam hessian``: curvature per shot region of a checkpoint (lambda_max, trace, density).

``register`` only builds argparse; ``run`` imports :mod:`analyses.curvature` (torch) when it runs.
"""

from __future__ import annotations

import argparse
import math

from bsam.cli.options import LOSS_NAMES, add_checkpoint_arguments, checkpoint_data
from bsam.cli.options import csv_list as _csv_list

__all__ = ["register", "run", "METRICS", "CURVATURES", "TRACE_METHODS"]

# Literal copies of analyses.curvature's constants (importing it imports torch); the CLI tests
# check that they are equal.
METRICS: tuple[str, ...] = ("lambda_max", "trace", "density")
CURVATURES: tuple[str, ...] = ("hessian", "ggn")
TRACE_METHODS: tuple[str, ...] = ("hutchpp", "hutchinson")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``hessian`` subcommand to ``subparsers``."""
    p = subparsers.add_parser(
        "hessian",
        help="Hessian/GGN eigenvalues, trace and spectral density per shot region",
        description=(
            "Curvature of a checkpoint's loss on each shot region of one split: the largest, "
            "smallest and largest-magnitude eigenvalues (Lanczos), the trace with its standard "
            "error (Hutch++) and the spectral density (stochastic Lanczos quadrature). Writes "
            "JSON (everything, with provenance) and CSV (one row per region)."
        ),
    )
    add_checkpoint_arguments(p)
    p.add_argument(
        "--regions",
        type=_csv_list,
        default=("all", "many", "medium", "few"),
        help="comma-separated regions (default: all,many,medium,few)",
    )
    p.add_argument(
        "--metrics",
        type=_csv_list,
        default=METRICS,
        help="comma-separated: lambda_max,trace,density",
    )
    p.add_argument("--loss", default="l1", choices=LOSS_NAMES)
    p.add_argument(
        "--curvature",
        default="hessian",
        choices=CURVATURES,
        help="hessian (indefinite for L1) or ggn (Gauss-Newton, PSD)",
    )
    p.add_argument(
        "--params",
        type=_csv_list,
        default=None,
        help="comma-separated parameter names or module prefixes (default: all)",
    )
    p.add_argument("--out", required=True, metavar="FILE.json", help="JSON result")
    p.add_argument("--csv", default=None, metavar="FILE.csv", help="CSV (default: beside --out)")
    p.add_argument(
        "--plot",
        default=None,
        metavar="PATH",
        help="also draw the densities to PATH.png and PATH.pdf",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--k", type=int, default=1, help="eigenvalues at each end")
    p.add_argument("--tol", type=float, default=1e-3, help="relative residual tolerance")
    p.add_argument("--max-iter", type=int, default=100, help="Lanczos products per region")
    p.add_argument("--trace-method", default="hutchpp", choices=TRACE_METHODS)
    p.add_argument("--trace-rel-se", type=float, default=0.05)
    p.add_argument(
        "--trace-max-matvecs",
        "--trace-max-hvps",  # the flag's first name, kept as an alias
        dest="trace_max_matvecs",
        type=int,
        default=500,
        help="most Hessian-vector products for the trace of one region (default 500)",
    )
    p.add_argument("--density-probes", type=int, default=4)
    p.add_argument("--density-steps", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    p.set_defaults(func=run)


def _fmt(x: object) -> str:
    if isinstance(x, float):
        return "nan" if math.isnan(x) else f"{x:.5g}"
    return str(x)


def run(args: argparse.Namespace) -> int:
    """Run ``bsam hessian``: compute, write JSON/CSV (and the plot), print a summary."""
    from analyses.curvature import checkpoint_curvature, save_curvature

    result = checkpoint_curvature(
        args.checkpoint,
        **checkpoint_data(args),
        device=args.device,
        region_names=args.regions,
        metrics=args.metrics,
        loss=args.loss,
        curvature=args.curvature,
        params=args.params,
        batch_size=args.batch_size,
        k=args.k,
        tol=args.tol,
        max_iter=args.max_iter,
        trace_method=args.trace_method,
        trace_rel_se=args.trace_rel_se,
        trace_max_matvecs=args.trace_max_matvecs,
        density_probes=args.density_probes,
        density_steps=args.density_steps,
        seed=args.seed,
        quiet=args.quiet,
    )
    json_path, csv_path = save_curvature(result, args.out, csv_path=args.csv)
    written = [json_path, csv_path]
    if args.plot and "density" in args.metrics:
        from analyses.plotting.spectra import plot_density
        from analyses.plotting.surfaces import save_figure

        written += save_figure(plot_density(result), args.plot)
    if not args.quiet:
        cols = [
            c
            for c in ("lambda_max", "lambda_min", "lambda_abs", "trace", "trace_se")
            if any(c in e for e in result["regions"].values())
        ]
        print("region   n      " + "  ".join(f"{c:>11}" for c in cols))
        for name, entry in result["regions"].items():
            vals = "  ".join(f"{_fmt(entry.get(c, '')):>11}" for c in cols)
            print(f"{name:<8} {entry['num_samples']:<6} {vals}")
        print("wrote " + ", ".join(str(p) for p in written))
    return 0
