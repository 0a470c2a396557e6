"""``bsam evaluate``: per-region metrics of a checkpoint on one split."""

from __future__ import annotations

import argparse

from bsam.cli.options import add_checkpoint_arguments, add_command, checkpoint_data

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` subcommand to ``subparsers``."""
    parser = add_command(
        subparsers,
        "evaluate",
        help="per-region MAE/MSE/RMSE/GM/bMAE of a checkpoint on a split",
        description=(
            "Evaluate a checkpoint written by `bsam train` on one split, with the shot regions "
            "stored in the checkpoint (fitted on its training split)."
        ),
    )
    add_checkpoint_arguments(parser)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--batch-size", type=int, default=1024, help="samples per forward pass")
    parser.add_argument(
        "--json", default=None, metavar="OUT", help="also write the result as JSON to OUT"
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing (with --json)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``bsam evaluate``: print the per-region table and optionally write JSON."""
    from bsam._io import write_json
    from bsam.metrics import format_report
    from bsam.train.evaluate import evaluate_checkpoint

    result = evaluate_checkpoint(
        args.checkpoint,
        **checkpoint_data(args),
        device=args.device,
        batch_size=args.batch_size,
    )
    if not args.quiet:
        title = (
            f"{result['checkpoint']} (epoch {result['epoch']}, sha256 {result['file_hash']})"
            f" on {result['data']['name']}/{result['split']}"
        )
        print(format_report(result["report"], title=title))
    if args.json:
        write_json(args.json, result)
    return 0
