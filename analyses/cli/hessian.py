"""``bsam hessian``: curvature per shot region of a checkpoint (lambda_max, trace, density).

Every output path is checked before anything is computed. Each finished region is written
atomically to ``OUT.partial.json`` with a key of the request (checkpoint bytes and options); a
rerun of the same request resumes from it, a different request is refused (delete the file to
start fresh), and the file is removed once the result is written.

``register`` only builds argparse; ``run`` imports :mod:`analyses.curvature` (torch) when it runs.

The default matrix is the Hessian (``--curvature hessian``, as in :func:`region_curvature`), kept
for backward compatibility; the paper's Table 8 is reproduced with the Gauss-Newton matrix,
``G = J^T J / M`` (the output-Jacobian Gram matrix, the Gauss-Newton matrix of the squared error,
which does not depend on the L1 loss or its residuals): ``--table8`` sets those settings
(:data:`TABLE8`, a literal copy of :data:`analyses.curvature.TABLE8`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

from bsam._io import check_output_file
from bsam.cli.options import LOSS_NAMES, add_checkpoint_arguments, add_command, checkpoint_data
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
    "TABLE8",
    "CURVATURE_NAMES",
    "apply_table8",
]

# Literal copies of analyses.curvature's constants (importing it imports torch); the CLI tests
# check that they are equal.
METRICS: tuple[str, ...] = ("lambda_max", "trace", "density")
CURVATURES: tuple[str, ...] = ("hessian", "ggn")
TRACE_METHODS: tuple[str, ...] = ("hutchpp", "hutchinson")
#: The options of :data:`analyses.curvature.TABLE8` that ``--table8`` sets (flag dest -> value).
TABLE8: dict[str, Any] = {
    "loss": "l1",
    "curvature": "ggn",
    "regions": ("few",),
    "metrics": ("lambda_max", "trace"),
}
#: What each ``--curvature`` is, as the help and the summary name it.
CURVATURE_NAMES: dict[str, str] = {
    "hessian": "Hessian H of the region's mean loss (indefinite for L1)",
    "ggn": "Gauss-Newton G = J^T J / M, the output-Jacobian Gram matrix (the Gauss-Newton "
    "matrix of the squared error; PSD, independent of the L1 loss and its residuals)",
}

_DESCRIPTION = """\
Curvature of a checkpoint's loss on each shot region of one split: the largest, smallest and \
largest-magnitude eigenvalues (Lanczos), the trace with its standard error (Hutch++) and the \
spectral density (stochastic Lanczos quadrature). Writes JSON (everything, with provenance) and \
CSV (one row per region).

NOTE: the default --curvature is the Hessian, but the paper's Table 8 (lambda_max and trace of \
the few-shot region) is reproduced with --curvature ggn: the Gauss-Newton matrix G = J^T J / M \
(M samples, J the Jacobian of the outputs), which does not depend on the L1 loss. Its trace is \
Tr(G), not Tr(H). --table8 sets all of Table 8's settings (--curvature ggn --loss l1 --regions \
few --metrics lambda_max,trace)."""


class _Explicit(argparse.Action):
    """Store the value and remember that the flag was given (``--table8`` refuses a clash)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:  # noqa: D102
        setattr(namespace, self.dest, values)
        given = set(getattr(namespace, _GIVEN, ())) | {self.dest}
        setattr(namespace, _GIVEN, sorted(given))


#: Namespace attribute listing the options that ``--table8`` sets and that were given explicitly.
_GIVEN = "table8_given"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``hessian`` subcommand to ``subparsers``."""
    p = add_command(
        subparsers,
        "hessian",
        help="Hessian or Gauss-Newton (J^T J/M) eigenvalues, trace and density per shot region",
        description=_DESCRIPTION,
    )
    add_checkpoint_arguments(p)
    p.add_argument(
        "--regions",
        action=_Explicit,
        type=_csv_list,
        default=("all", "many", "medium", "few"),
        help="comma-separated regions",
    )
    p.add_argument(
        "--metrics",
        action=_Explicit,
        type=_csv_list,
        default=METRICS,
        help="comma-separated, any of lambda_max,trace,density",
    )
    p.add_argument(
        "--loss",
        action=_Explicit,
        default="l1",
        choices=LOSS_NAMES,
        help="element-wise loss of the Hessian (ggn with l1: J^T J / M, no loss term)",
    )
    p.add_argument(
        "--curvature",
        action=_Explicit,
        default="hessian",
        choices=CURVATURES,
        help="hessian: the loss Hessian H (indefinite for L1); ggn: the Gauss-Newton matrix "
        "G = J^T J / M, the output-Jacobian Gram matrix, which Table 8 uses",
    )
    p.add_argument(
        "--table8",
        action="store_true",
        help="the paper's Table 8 settings (analyses.curvature.TABLE8): --curvature ggn --loss l1 "
        "--regions few --metrics lambda_max,trace; an explicit other value is an error",
    )
    p.add_argument(
        "--params",
        type=_csv_list,
        default=None,
        help="comma-separated parameter names or module prefixes (default: all parameters)",
    )
    p.add_argument("--out", required=True, metavar="FILE.json", help="JSON result")
    p.add_argument("--csv", default=None, metavar="FILE.csv", help="CSV (default: --out with .csv)")
    p.add_argument(
        "--plot",
        default=None,
        metavar="PATH",
        help="also draw the densities to PATH.png and PATH.pdf",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--batch-size", type=int, default=256, help="samples per forward pass")
    p.add_argument("--k", type=int, default=1, help="eigenvalues at each end")
    p.add_argument("--tol", type=float, default=1e-3, help="certified relative residual tolerance")
    p.add_argument("--max-iter", type=int, default=100, help="Lanczos products per region")
    p.add_argument(
        "--trace-method", default="hutchpp", choices=TRACE_METHODS, help="trace estimator"
    )
    p.add_argument(
        "--trace-rel-se",
        type=float,
        default=0.05,
        help="stop the trace once its standard error is below this fraction of it",
    )
    p.add_argument(
        "--trace-max-matvecs",
        "--trace-max-hvps",  # the flag's first name, kept as an alias
        dest="trace_max_matvecs",
        type=int,
        default=500,
        help="most matrix-vector products for the trace of one region",
    )
    p.add_argument(
        "--density-probes", type=int, default=4, help="random probes of the spectral density"
    )
    p.add_argument("--density-steps", type=int, default=64, help="Lanczos steps per density probe")
    p.add_argument("--seed", type=int, default=0, help="seed of every random probe")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    p.set_defaults(func=run)


#: Options that do not change the numbers (left out of the request key of the partial file).
#: ``table8`` is left out too: what it sets is already in the options it sets.
_NOT_IN_KEY = ("out", "csv", "plot", "quiet", "regions", "func", "command", "table8", _GIVEN)


def apply_table8(args: argparse.Namespace) -> argparse.Namespace:
    """Set the options of :data:`TABLE8` on parsed ``bsam hessian`` arguments (``--table8``).

    Without ``args.table8`` the arguments are returned unchanged. An option given on the
    command line with a value other than Table 8's is refused, so a run never silently mixes
    Table 8's settings with others (the same value is accepted).

    Raises
    ------
    ValueError
        An explicit option contradicts Table 8 (the message names the flag, both values and
        the fix).
    """
    if not getattr(args, "table8", False):
        return args
    given = set(getattr(args, _GIVEN, ()))
    for dest, value in TABLE8.items():
        current = getattr(args, dest)
        if dest in given and current != value and tuple(current) != value:
            flag = f"--{dest}"
            shown = ",".join(current) if isinstance(current, tuple | list) else current
            wanted = ",".join(value) if isinstance(value, tuple) else value
            raise ValueError(
                f"Invalid {flag} {shown} with --table8: Table 8 uses {flag} {wanted}; drop "
                f"{flag} or drop --table8"
            )
        setattr(args, dest, value)
    return args


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
        check_output_file(path, flag=flag.strip())
    if paths["--csv"].resolve() == out.resolve():
        raise ValueError(f"Invalid --csv {paths['--csv']}: it equals --out; pick another name.")
    return list(paths.values())


def partial_path(out: str | os.PathLike) -> Path:
    """Where finished regions are kept until the whole result is written: ``OUT.partial.json``."""
    out = Path(out)
    return out.with_name(out.name + ".partial.json")


def request_key(args: argparse.Namespace) -> str:
    """Hash of everything that changes the numbers: the checkpoint's bytes and the options."""
    from bsam.checkpoint import file_hash  # imports torch: only when a job runs

    h = hashlib.sha256(file_hash(args.checkpoint).encode())
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

    apply_table8(args)
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
        print(f"curvature: {CURVATURE_NAMES[args.curvature]}")
        from analyses.tables import curvature_headers

        names = curvature_headers(args.curvature)
        print("region   n      " + "  ".join(f"{names[c]:>11}" for c in cols))
        for name, entry in result["regions"].items():
            vals = "  ".join(f"{_cell(entry, c):>11}" for c in cols)
            print(f"{name:<8} {entry['num_samples']:<6} {vals}")
        print("wrote " + ", ".join(str(p) for p in written))
    return 0
