"""The ``bsam`` command line: a thin layer over library calls.

Each subcommand lives in its own module ``bsam.cli.<name>`` that defines
``register(subparsers) -> None``; the parser it adds sets ``func(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from bsam._version import __version__

__all__ = ["main", "build_parser", "SUBCOMMANDS"]

#: Subcommand modules, in the order ``bsam --help`` lists them.
SUBCOMMANDS: tuple[str, ...] = (
    "train",
    "evaluate",
    "surface",
    "hessian",
    "plot",
    "reproduce",
    "data",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the ``bsam`` argument parser from every subcommand module that is installed."""
    parser = argparse.ArgumentParser(
        prog="bsam",
        description="Balanced SAM for imbalanced regression and per-shot-region loss landscapes.",
    )
    parser.add_argument("--version", action="version", version=f"bsam {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        module_name = f"bsam.cli.{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name == module_name:
                continue  # subcommand not part of this installation
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``bsam`` command line with ``argv`` (default: ``sys.argv[1:]``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError) as err:
        print(f"bsam {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
