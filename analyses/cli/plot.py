"""``bsam plot``: figures from a result file (surfaces from HDF5, Hessian spectra from JSON)."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``plot`` subcommand to ``subparsers``."""
    parser = subparsers.add_parser(
        "plot",
        help="plot a surface (.h5) or Hessian spectra (.json) into PNG+PDF figures",
        description=(
            "Plot a result file. Surfaces (HDF5 from `bsam surface`): 1D curves, or 2D region "
            "panels on a shared colour scale, contours, heatmaps, 3D views and ParaView .vtp. "
            "Hessian results (JSON from `bsam hessian`) go to the spectra plots."
        ),
    )
    parser.add_argument("file", help="surface .h5 or Hessian .json")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--kind",
        action="append",
        default=None,
        help="what to draw (repeatable): curves, panels, contour, filled, heatmap, 3d, vtp, all "
        "(default: curves+panels in 1D, panels+contour+3d in 2D)",
    )
    parser.add_argument("--quantity", default="loss", choices=("loss", "mae"))
    parser.add_argument("--log", action="store_true", help="logarithmic loss axis")
    parser.add_argument("--quiet", action="store_true", help="do not list the files written")
    parser.set_defaults(func=run)


def _plot_hessian(path: Path, out: Path, args: argparse.Namespace) -> list[Path]:
    try:
        from analyses.plotting.spectra import plot_hessian_file
    except ImportError as err:
        raise ValueError(
            f"Cannot plot {path}: Hessian spectra plots are not available ({err})."
        ) from err
    return list(plot_hessian_file(path, out, kinds=args.kind))


def _plot_surface(path: Path, out: Path, args: argparse.Namespace) -> list[Path]:
    from analyses.plotting.surfaces import plot_surface_file

    return plot_surface_file(path, out, kinds=args.kind, quantity=args.quantity, log=args.log)


def _kind_of(path: Path) -> str:
    if path.suffix.lower() == ".json":
        return "hessian"
    with path.open("rb") as f:
        if f.read(8) == b"\x89HDF\r\n\x1a\n":
            return "surface"
    raise ValueError(
        f"Cannot plot {path}: expected a surface HDF5 file (from `bsam surface`) or a Hessian "
        "JSON file (from `bsam hessian`)."
    )


def run(args: argparse.Namespace) -> int:
    """Run ``bsam plot``: dispatch on the file type and list the figures written."""
    path = Path(args.file)
    if not path.is_file():
        raise FileNotFoundError(f"File not found: {path}")
    plotter = {"surface": _plot_surface, "hessian": _plot_hessian}[_kind_of(path)]
    written = plotter(path, Path(args.out), args)
    if not args.quiet:
        for p in written:
            print(p)
    return 0
