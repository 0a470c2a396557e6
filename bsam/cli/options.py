"""Argument-parsing pieces shared by the ``bsam`` subcommands of every layer (argparse only).

The tuples are literal copies of library constants, so that building a parser imports no
torch; the CLI tests check that each equals the library's.
"""

from __future__ import annotations

import argparse

__all__ = ["SPLITS", "LOSS_NAMES", "csv_list", "add_checkpoint_arguments", "checkpoint_data"]

#: Data-set splits (every data set of :mod:`bsam.data` has these three).
SPLITS: tuple[str, ...] = ("train", "val", "test")
#: Element-wise regression losses, the keys of :data:`bsam.losses.LOSSES`.
LOSS_NAMES: tuple[str, ...] = ("l1", "mse", "huber")


def csv_list(text: str) -> tuple[str, ...]:
    """Split a comma-separated flag value into its non-empty, stripped items.

    Raises
    ------
    argparse.ArgumentTypeError
        When no item is left (argparse reports it as a usage error naming the flag).
    """
    items = tuple(t.strip() for t in text.split(",") if t.strip())
    if not items:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
    return items


def add_checkpoint_arguments(
    parser: argparse.ArgumentParser, *, checkpoint_help: str = "best.pt or last.pt of a run folder"
) -> None:
    """Add the checkpoint and the data it is measured on: ``CHECKPOINT --data --root --split``.

    ``--data`` defaults to the checkpoint's own data set, ``--split`` to ``test``;
    :func:`checkpoint_data` turns the parsed values into keyword arguments.
    """
    parser.add_argument("checkpoint", help=checkpoint_help)
    parser.add_argument("--data", default=None, help="data set name (default: the checkpoint's)")
    parser.add_argument("--root", default=None, help="folder of a real data set on disk")
    parser.add_argument("--split", default="test", choices=SPLITS)


def checkpoint_data(args: argparse.Namespace) -> dict[str, str | None]:
    """``{"data", "root", "split"}`` of arguments added by :func:`add_checkpoint_arguments`."""
    return {"data": args.data, "root": args.root, "split": args.split}
