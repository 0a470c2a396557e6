"""``bsam surface`` (the landscape layer's subcommand): per-region 1D/2D loss surface of a checkpoint.

``register`` only builds argparse; ``run`` imports the library (torch, h5py) when it runs.
"""

from __future__ import annotations

import argparse
import re

from bsam.cli.options import LOSS_NAMES, add_checkpoint_arguments, add_command, checkpoint_data

__all__ = ["register", "run", "NORMS"]

#: Literal copy of :data:`landscape.normalization.NORMS` (importing it imports torch); the CLI
#: tests check that they are equal.
NORMS: tuple[str, ...] = ("filter", "layer", "model", "none")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``surface`` subcommand to ``subparsers``."""
    parser = add_command(
        subparsers,
        "surface",
        help="filter-normalized loss surface of a checkpoint, every shot region in one pass",
        description=(
            "Evaluate the loss of a checkpoint at theta + a*dx (+ b*dy) over a grid, reduced into "
            "every shot region in one pass per point, and store it in an HDF5 file. Rerunning the "
            "same command resumes; a file made for another request is refused. Run under "
            "`torchrun --nproc_per_node N` to shard the grid over processes."
        ),
    )
    # Let "--grid -1:1:51" parse: a value starting with "-<digit>" and holding ":" is not an option.
    parser._negative_number_matcher = re.compile(r"^-\d+$|^-\d*\.\d+$|^-[\d.]+:")
    add_checkpoint_arguments(parser, checkpoint_help="best.pt or last.pt written by `bsam train`")
    parser.add_argument(
        "--dims", type=int, default=2, choices=(1, 2), help="1D curve or 2D surface"
    )
    parser.add_argument(
        "--grid",
        default="-1:1:51",
        help="MIN:MAX:NUM, or X,Y axes for 2D (e.g. -1:1:51,-0.5:0.5:21)",
    )
    parser.add_argument(
        "--regions", default="all,many,medium,few", help="comma-separated regions to report"
    )
    parser.add_argument(
        "--loss", default="l1", choices=LOSS_NAMES, help="element-wise loss on the grid"
    )
    parser.add_argument("--out", required=True, help="output HDF5 file")
    parser.add_argument(
        "--dir-file",
        default=None,
        help="direction file to use (made there if missing; default OUT with .dirs.h5)",
    )
    parser.add_argument(
        "--norm",
        default=None,
        choices=NORMS,
        help="normalization of new directions (default filter); given with an existing "
        "--dir-file, it must be the recorded one",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of new random directions (default 0); given with an existing --dir-file, it "
        "must be the recorded one",
    )
    parser.add_argument("--batch-size", type=int, default=256, help="samples per forward pass")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="recompute an existing surface file, and remake a direction file that does not "
        "match the request",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``bsam surface``; print where the file is and each region's loss at the origin."""
    import sys
    import warnings

    from landscape.distributed import world
    from landscape.from_checkpoint import checkpoint_surface

    regions = [r.strip() for r in args.regions.split(",") if r.strip()]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        result = _surface(checkpoint_surface, args, regions)
    for w in caught:
        print(f"bsam surface: warning: {w.message}", file=sys.stderr)
    _summary(result, args.quiet or world()[0] != 0)
    return 0


def _surface(checkpoint_surface, args: argparse.Namespace, regions: list[str]):
    return checkpoint_surface(
        args.checkpoint,
        out=args.out,
        dims=args.dims,
        grid=args.grid,
        region_names=regions,
        loss=args.loss,
        **checkpoint_data(args),
        dir_file=args.dir_file,
        norm=args.norm,
        seed=args.seed,
        batch_size=args.batch_size,
        device=args.device,
        quiet=args.quiet,
        overwrite=args.overwrite,
    )


def _summary(result, quiet: bool) -> None:
    """Print where the surface is, which directions it used, each region's value at the origin."""
    if not quiet:
        axes = (result.xcoords, result.ycoords)
        shape = "x".join(str(len(c)) for c in axes if c is not None)  # nx x ny
        print(
            f"{result.path}: {result.dims}D surface, grid {shape}, {int(result.done.sum())} points done"
        )
        info = result.attrs.get("directions_info")
        if info:
            import json

            d = json.loads(info)
            print(
                f"  directions: {result.attrs.get('dir_file') or 'in memory'} ({d.get('method')}"
                f", seed {d.get('seed')}, norm {d.get('norm')})"
            )
        for name in result.region_names:
            print(
                f"  {name:>8}: n={result.count[name]:>6}  loss at origin "
                f"{result.at_origin(name):.4f}  MAE {result.at_origin(name, 'mae'):.4f}"
            )
