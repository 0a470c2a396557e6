"""``bsam hessian``: curvature per shot region of a checkpoint (lambda_max, trace, density).

Every output path is checked before anything is computed. Each finished region is written
atomically to ``OUT.partial.json`` with a key of the request (checkpoint bytes and options); a
rerun of the same request resumes from it, a different request is refused (delete the file to
start fresh), and the file is removed once the result is written.

``register`` only builds argparse; ``run`` imports :mod:`analyses.curvature` (torch) when it runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

from bsam.cli.options import LOSS_NAMES, add_checkpoint_arguments, checkpoint_data
from bsam.cli.options import csv_list as _csv_list

__all__ = [
    "register",
    "run",
    "output_paths",
    "partial_path",
    "request_key",
    "read_partial",
    "METRICS",
    "CURVATURES",
    "TRACE_METHODS",
]

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


#: Options that do not change the numbers (left out of the request key of the partial file).
_NOT_IN_KEY = ("out", "csv", "plot", "quiet", "regions", "func", "command")


def _writable_file(path: Path, flag: str) -> None:
    """Refuse, before any computation, an output path that cannot be written as a file."""
    if path.is_dir():
        raise ValueError(
            f"Invalid {flag} {path}: it is a folder; give a file path such as {path / 'hessian.json'}."
        )
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(
                    f"Invalid {flag} {path}: {parent} is a file, not a folder; choose another path."
                )
            if not os.access(parent, os.W_OK | os.X_OK):
                raise ValueError(
                    f"Invalid {flag} {path}: the folder {parent} is not writable; choose a folder "
                    "you can write."
                )
            return


def output_paths(args: argparse.Namespace) -> list[Path]:
    """The files ``bsam hessian`` will write, each checked to be writable (before computing).

    Raises
    ------
    ValueError
        An output is a folder, lies under a file, is in a read-only folder, or two coincide.
    """
    out = Path(args.out)
    paths = {"--out": out, "--csv": Path(args.csv) if args.csv else out.with_suffix(".csv")}
    if args.plot and "density" in args.metrics:
        paths.update({"--plot": Path(f"{args.plot}.png"), "--plot ": Path(f"{args.plot}.pdf")})
    for flag, path in paths.items():
        _writable_file(path, flag.strip())
    if paths["--csv"].resolve() == out.resolve():
        raise ValueError(f"Invalid --csv {paths['--csv']}: it equals --out; pick another name.")
    return list(paths.values())


def partial_path(out: str | os.PathLike) -> Path:
    """Where finished regions are kept until the whole result is written: ``OUT.partial.json``."""
    out = Path(out)
    return out.with_name(out.name + ".partial.json")


def request_key(args: argparse.Namespace) -> str:
    """Hash of everything that changes the numbers: the checkpoint's bytes and the options."""
    h = hashlib.sha256()
    with open(args.checkpoint, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    opts = {k: v for k, v in sorted(vars(args).items()) if k not in _NOT_IN_KEY}
    h.update(json.dumps(opts, sort_keys=True, default=list).encode())
    return h.hexdigest()[:32]


def read_partial(path: Path, key: str) -> dict[str, Any]:
    """The finished regions of an earlier run of the same request (``{}`` if none).

    Raises
    ------
    ValueError
        The partial file was made by a different request, or cannot be read.
    """
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
        found = data["request"]
        regions = dict(data["regions"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(
            f"Invalid partial file {path}: it cannot be read ({type(err).__name__}); delete it "
            "to start fresh."
        ) from err
    if found != key:
        raise ValueError(
            f"Invalid partial file {path}: it holds regions of a different request (checkpoint "
            "or options differ); rerun with the same options to resume, or delete it to start "
            "fresh."
        )
    return regions


def _fmt(x: object) -> str:
    if isinstance(x, float):
        return "nan" if math.isnan(x) else f"{x:.5g}"
    return str(x)


def _cell(entry: dict[str, Any], column: str) -> str:
    """A summary cell: an eigenvalue whose certified relative residual exceeds tol is "n/c"."""
    which = {"lambda_max": "LA", "lambda_min": "SA", "lambda_abs": "LM"}.get(column)
    eigen = (entry.get("eigen") or {}).get(which) if which else None
    if eigen and not eigen.get("converged", True):
        return "n/c"
    return _fmt(entry.get(column, ""))


def run(args: argparse.Namespace) -> int:
    """Run ``bsam hessian``: compute, write JSON/CSV (and the plot), print a summary."""
    from analyses.curvature import checkpoint_curvature, save_curvature
    from bsam._io import write_json

    if not Path(args.checkpoint).is_file():
        raise FileNotFoundError(f"Checkpoint not found: {args.checkpoint}; pass a .pt file.")
    output_paths(args)
    partial, key = partial_path(args.out), request_key(args)
    finished = read_partial(partial, key)

    def keep(name: str, entry: dict[str, Any]) -> None:
        finished[name] = entry
        write_json(partial, {"request": key, "regions": finished})

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
        completed=finished,
        on_region=keep,
    )
    json_path, csv_path = save_curvature(result, args.out, csv_path=args.csv)
    partial.unlink(missing_ok=True)
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
            vals = "  ".join(f"{_cell(entry, c):>11}" for c in cols)
            print(f"{name:<8} {entry['num_samples']:<6} {vals}")
        print("wrote " + ", ".join(str(p) for p in written))
    return 0
