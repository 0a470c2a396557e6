"""``bsam plot``: figures from a result file (surfaces from HDF5, Hessian spectra from JSON)."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from bsam.cli.options import add_command

__all__ = ["register", "run", "INPUT_KINDS", "SURFACE_KINDS", "HESSIAN_KINDS"]

#: The files ``bsam plot`` reads (the tests run every one of them).
INPUT_KINDS: tuple[str, ...] = (
    "1D surface (.h5 from `bsam surface --dims 1`)",
    "2D surface (.h5 from `bsam surface`)",
    "loss-landscape surface (.h5 from its plot_surface.py)",
    "Hessian result (.json from `bsam hessian`)",
)
#: Literal copies (importing the plotting modules imports matplotlib); a test checks them.
SURFACE_KINDS: tuple[str, ...] = ("curves", "panels", "contour", "filled", "heatmap", "3d", "vtp")
HESSIAN_KINDS: tuple[str, ...] = ("density", "lambda_max", "lambda_min", "lambda_abs", "trace")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``plot`` subcommand to ``subparsers``."""
    parser = add_command(
        subparsers,
        "plot",
        help="plot a surface (.h5) or Hessian spectra (.json) into PNG+PDF figures",
        description=(
            "Plot a result file: "
            + "; ".join(INPUT_KINDS)
            + ". Surfaces: 1D curves, or 2D region panels on a shared colour scale, contours, "
            "heatmaps, 3D views and ParaView .vtp. Hessian results: the spectral density and "
            "bar charts of lambda_max, lambda_min, lambda_abs and the trace per region. "
            "See docs/plot.md."
        ),
    )
    parser.add_argument("file", help="surface .h5 (ours or loss-landscape's) or Hessian .json")
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument(
        "--kind",
        action="append",
        default=None,
        help="what to draw (repeatable), or all. Surfaces: "
        + ", ".join(SURFACE_KINDS)
        + " (default: curves+panels in 1D, panels+contour+3d in 2D). Hessian JSON: "
        + ", ".join(HESSIAN_KINDS)
        + " (default: every one the file holds)",
    )
    parser.add_argument(
        "--quantity", default="loss", choices=("loss", "mae"), help="surfaces: what to draw"
    )
    parser.add_argument(
        "--log", action="store_true", default=False, help="surfaces: logarithmic loss axis"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace figures that already exist in --out"
    )
    parser.add_argument("--quiet", action="store_true", help="do not list the files written")
    parser.set_defaults(func=run)


def _plot_hessian(path: Path, out: Path, args: argparse.Namespace) -> list[Path]:
    from analyses.plotting.spectra import plot_hessian_file

    if args.quantity != "loss" or args.log:
        raise ValueError(
            f"--quantity and --log apply to surfaces; {path} is a Hessian result: drop them."
        )
    return plot_hessian_file(path, out, kinds=args.kind, overwrite=args.overwrite)


def _plot_surface(path: Path, out: Path, args: argparse.Namespace) -> list[Path]:
    from analyses.plotting.files import plot_surface_file

    return plot_surface_file(
        path, out, kinds=args.kind, quantity=args.quantity, log=args.log, overwrite=args.overwrite
    )


def _kind_of(path: Path) -> str:
    if path.suffix.lower() == ".json":
        return "hessian"
    with path.open("rb") as f:
        head = f.read(8)
    if head == b"\x89HDF\r\n\x1a\n":
        return "surface"
    if head.lstrip()[:1] == b"{":
        return "hessian"
    raise ValueError(
        f"Cannot plot {path}: expected a surface HDF5 file (from `bsam surface` or "
        "loss-landscape) or a Hessian JSON file (from `bsam hessian`)."
    )


def run(args: argparse.Namespace) -> int:
    """Run ``bsam plot``: dispatch on the file type, list the figures written.

    Regions left out (no sample) are reported on stderr as ``bsam plot: warning: ...``.
    """
    from bsam._io import check_output_dir

    path = Path(args.file)
    if path.is_dir():
        raise ValueError(f"Cannot plot {path}: it is a folder; give a .h5 or .json file.")
    if not path.is_file():
        raise FileNotFoundError(f"File not found: {path}")
    check_output_dir(args.out)
    plotter = {"surface": _plot_surface, "hessian": _plot_hessian}[_kind_of(path)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        written = plotter(path, Path(args.out), args)
    for w in caught:
        print(f"bsam plot: warning: {w.message}", file=sys.stderr)
    if not args.quiet:
        for p in written:
            print(p)
    return 0
