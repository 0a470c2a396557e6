"""``bsam sharpness``: sharpness per target bin of one or more checkpoints, beside the density.

``register`` only builds argparse; ``run`` imports :mod:`analyses.sharpness` (torch) when it runs.
"""

from __future__ import annotations

import argparse
import math

from bsam.cli.options import LOSS_NAMES, SPLITS, add_command
from bsam.cli.options import csv_list as _csv_list

__all__ = ["register", "run", "METHODS", "CURVATURES"]

# Literal copies of analyses.sharpness's constants (importing it imports torch); a test checks
# that they are equal.
METHODS: tuple[str, ...] = ("lambda_max", "trace", "average", "worst", "adaptive")
CURVATURES: tuple[str, ...] = ("ggn", "hessian")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``sharpness`` subcommand to ``subparsers``."""
    p = add_command(
        subparsers,
        "sharpness",
        help="sharpness per target bin (lambda_max, trace, average, worst-case) and the gap",
        description=(
            "Sharpness of each checkpoint as a function of the target: per bin (or window of "
            "bins with at least --min-samples samples) the Gauss-Newton (or Hessian) lambda_max "
            "and trace, the loss rise along random directions, the worst-case and adaptive "
            "rho-sharpness (lower bounds by projected gradient ascent) and the generalization "
            "gap; with several checkpoints (seeds), the Spearman correlation with the training "
            "count and the few/many ratio with their spread. Writes JSON and CSV, and figures."
        ),
    )
    p.add_argument("checkpoints", nargs="+", help="best.pt or last.pt of one or more runs")
    p.add_argument("--data", default=None, help="data set name (default: the checkpoint's)")
    p.add_argument("--root", default=None, help="folder of a real data set on disk")
    p.add_argument("--split", default="test", choices=SPLITS, help="split whose bins are profiled")
    p.add_argument("--methods", type=_csv_list, default=METHODS, help=f"comma-separated methods, of {','.join(METHODS)}")
    p.add_argument("--min-samples", type=int, default=1, help="least samples per window of adjacent bins")
    p.add_argument("--loss", default="l1", choices=LOSS_NAMES, help="per-sample loss of the bins")
    p.add_argument(
        "--curvature",
        default="ggn",
        choices=CURVATURES,
        help="matrix of lambda_max and trace: Gauss-Newton J^T J / M (ggn) or the Hessian",
    )
    p.add_argument(
        "--max-bytes",
        type=int,
        default=512 * 1024**2,
        help="memory for the exact Gram method (beyond it: Lanczos + Hutch++)",
    )
    p.add_argument("--radius", type=float, default=0.5, help="radius of the random directions")
    p.add_argument(
        "--num-directions", type=int, default=8, help="random directions of the average case"
    )
    p.add_argument("--rho", type=float, default=0.05, help="radius of the worst-case ball")
    p.add_argument("--steps", type=int, default=10, help="projected gradient ascent steps")
    p.add_argument("--eta", type=float, default=0.0, help="adaptive: T = |theta| + eta")
    p.add_argument("--no-gap", action="store_true", help="skip the generalization gap")
    p.add_argument("--out", required=True, metavar="FILE.json", help="JSON result")
    p.add_argument("--csv", default=None, metavar="FILE.csv", help="CSV (default: beside --out)")
    p.add_argument(
        "--plot",
        default=None,
        metavar="PREFIX",
        help="figures PREFIX_<method>.png/.pdf and PREFIX_overlay.png/.pdf",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--batch-size", type=int, default=256, help="evaluation batch size")
    p.add_argument("--seed", type=int, default=0, help="seed of the directions and probes")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    p.set_defaults(func=run)


def _fmt(x: float) -> str:
    return "nan" if math.isnan(x) else f"{x:+.3f}"


def run(args: argparse.Namespace) -> int:
    """Run ``bsam sharpness``: profiles, JSON/CSV, figures, and a summary of the balance."""
    from analyses.sharpness import checkpoint_profiles, save_profiles

    result = checkpoint_profiles(
        args.checkpoints,
        split=args.split,
        data=args.data,
        root=args.root,
        device=args.device,
        gap=not args.no_gap,
        methods=args.methods,
        min_samples=args.min_samples,
        loss=args.loss,
        curvature=args.curvature,
        max_bytes=args.max_bytes,
        radius=args.radius,
        num_directions=args.num_directions,
        rho=args.rho,
        steps=args.steps,
        eta=args.eta,
        batch_size=args.batch_size,
        seed=args.seed,
        quiet=args.quiet,
    )
    written = list(save_profiles(result, args.out, csv_path=args.csv))
    if args.plot:
        from analyses.plotting import save_figure
        from analyses.sharpness import plot_profile, plot_profile_overlay

        figures = {m: plot_profile(result["profiles"], m) for m in args.methods}
        figures["overlay"] = plot_profile_overlay(result["profiles"][0], args.methods)
        for name, fig in figures.items():
            written += save_figure(fig, f"{args.plot}_{name}")
    if not args.quiet:
        print("method       spearman(count, sharpness)   few/many ratio")
        for m, b in result["balance"].items():
            s, r = b["spearman"], b["few_many_ratio"]
            print(
                f"{m:<12} {_fmt(s['mean'])} +- {_fmt(s['std'])}          "
                f"{_fmt(r['mean'])} +- {_fmt(r['std'])}"
            )
        print("wrote " + ", ".join(str(p) for p in written))
    return 0
