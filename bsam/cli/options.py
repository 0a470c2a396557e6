"""Argument-parsing pieces shared by the ``bsam`` subcommands of every layer (argparse only).

The tuples are literal copies of library constants, so that building a parser imports no
torch; the CLI tests check that each equals the library's.
"""

from __future__ import annotations

import argparse

__all__ = ["SPLITS", "LOSS_NAMES", "csv_list"]

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
