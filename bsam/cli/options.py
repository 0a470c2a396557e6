"""Argument-parsing pieces shared by the ``bsam`` subcommands of every layer (argparse only).

The tuples are literal copies of library constants, so that building a parser imports no
torch; the CLI tests check that each equals the library's.
"""

from __future__ import annotations

import argparse
import textwrap

__all__ = [
    "SPLITS",
    "LOSS_NAMES",
    "HelpFormatter",
    "add_command",
    "default_text",
    "csv_list",
    "add_checkpoint_arguments",
    "checkpoint_data",
]

#: Data-set splits (every data set of :mod:`bsam.data` has these three).
SPLITS: tuple[str, ...] = ("train", "val", "test")
#: Element-wise regression losses, the keys of :data:`bsam.losses.LOSSES`.
LOSS_NAMES: tuple[str, ...] = ("l1", "mse", "huber")


def default_text(default: object) -> str:
    """How ``--help`` shows a default: a tuple or list comma-joined (an empty one as ``none``),
    anything else by ``str``."""
    if isinstance(default, tuple | list):
        return ",".join(str(v) for v in default) or "none"
    return str(default)


class HelpFormatter(argparse.HelpFormatter):
    """The ``--help`` layout of every ``bsam`` subcommand: defaults shown, line breaks kept.

    Each option's help ends with ``(default: VALUE)`` when its default is not ``None`` (a
    ``None`` default means "decided later", which the help text itself explains) and the text
    does not already name it; tuples show as ``a,b,c``, the form the flag takes. Descriptions
    and epilogs keep their line breaks (one paragraph per line, blank lines kept), and each
    line is wrapped to the terminal width, so long sentences neither overflow nor merge with
    a list written one item per line.
    """

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        lines = text.strip("\n").splitlines()
        filled = (
            textwrap.fill(line, width, initial_indent=indent, subsequent_indent=indent)
            for line in lines
        )
        return "\n".join(f if f.strip() else "" for f in filled)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        positional_required = not action.option_strings and action.nargs not in ("?", "*")
        if (
            default is None
            or default is argparse.SUPPRESS
            or positional_required
            or "%(default)" in text
            or "(default" in text
        ):
            return text
        shown = default_text(default).replace("%", "%%")
        return f"{text} (default: {shown})".strip()


def add_command(
    subparsers: argparse._SubParsersAction,
    name: str,
    *,
    help: str,
    description: str,
    epilog: str | None = None,
) -> argparse.ArgumentParser:
    """Add subcommand ``name`` with the shared :class:`HelpFormatter` and return its parser."""
    return subparsers.add_parser(
        name, help=help, description=description, epilog=epilog, formatter_class=HelpFormatter
    )


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
    parser.add_argument(
        "--root", default=None, help="folder of a real data set on disk (default: the checkpoint's)"
    )
    parser.add_argument("--split", default="test", choices=SPLITS, help="split to measure on")


def checkpoint_data(args: argparse.Namespace) -> dict[str, str | None]:
    """``{"data", "root", "split"}`` of arguments added by :func:`add_checkpoint_arguments`."""
    return {"data": args.data, "root": args.root, "split": args.split}
