"""The ``bsam`` command line: a thin layer over library calls, one subcommand per plugin.

Each package owns its subcommands and registers them in the ``bsam.commands`` entry-point group
of its distribution (``pyproject.toml``)::

    [project.entry-points."bsam.commands"]
    train = "bsam.cli.train:register"
    surface = "landscape.cli:register"

The entry point names a ``register(subparsers) -> None`` function (or a module that defines
one) that adds the subcommand's parser and ``set_defaults(func=run)`` with
``run(args) -> int``. ``register`` only builds argparse (no torch, numpy, h5py or matplotlib);
``run`` imports what it needs. So ``bsam`` imports nothing from the layers above it, and
``bsam --help`` starts fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Sequence
from importlib.metadata import EntryPoint, entry_points

from bsam._version import __version__
from bsam.errors import USER_ERRORS, one_line

__all__ = [
    "main",
    "build_parser",
    "SUBCOMMANDS",
    "ENTRY_POINT_GROUP",
    "EXIT_INTERRUPTED",
    "command_entry_points",
]

#: The entry-point group that lists every ``bsam`` subcommand.
ENTRY_POINT_GROUP = "bsam.commands"

#: The subcommands of this distribution, in the order ``bsam --help`` lists them (a plugin from
#: another distribution comes after them, in name order).
SUBCOMMANDS: tuple[str, ...] = (
    "train",
    "evaluate",
    "surface",
    "hessian",
    "sharpness",
    "plot",
    "reproduce",
    "recipes",
    "data",
)

#: Errors that ``main`` prints as ``bsam <cmd>: error: ...`` with exit status 2
#: (:data:`bsam.errors.USER_ERRORS`; kept under its old private name).
_USER_ERRORS = USER_ERRORS
#: Exit status of a run stopped by Ctrl-C (128 + SIGINT, as a shell reports it).
EXIT_INTERRUPTED = 130


def command_entry_points() -> list[EntryPoint]:
    """The installed ``bsam.commands`` entry points, one per name, in ``bsam --help`` order.

    Returns
    -------
    list of importlib.metadata.EntryPoint
        Names of :data:`SUBCOMMANDS` first in that order, then any other name alphabetically;
        where two distributions give the same name, the first found wins.
    """
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep)
    rank = {name: i for i, name in enumerate(SUBCOMMANDS)}
    return sorted(found.values(), key=lambda ep: (rank.get(ep.name, len(rank)), ep.name))


def _unavailable(sub: argparse._SubParsersAction, ep: EntryPoint, err: BaseException) -> None:
    """Register a stand-in for a plugin that failed to load: listed, and an error when run."""
    reason = f"cannot load {ep.value!r} ({type(err).__name__}: {err})"
    # No option prefix: whatever follows the name (flags too) is swallowed, so running it with
    # any arguments reaches the one clear error below.
    parser = sub.add_parser(
        ep.name, help=f"(unavailable: {reason})", add_help=False, prefix_chars="\0"
    )
    parser.add_argument("rest", nargs="*", help=argparse.SUPPRESS)

    def run(args: argparse.Namespace) -> int:
        raise ValueError(
            f"this subcommand is unavailable: {reason}; reinstall the package that provides it "
            '(e.g. pip install -e ".[test]")'
        )

    parser.set_defaults(func=run)


def _register_all(sub: argparse._SubParsersAction, eps: Iterable[EntryPoint]) -> None:
    for ep in eps:
        try:
            target = ep.load()  # "pkg.mod:register", or a module "pkg.mod" that defines it
            register: Callable[[argparse._SubParsersAction], None] = getattr(
                target, "register", target
            )
            register(sub)
        except Exception as err:  # a broken plugin must not break `bsam --help`
            if ep.name not in sub.choices:
                _unavailable(sub, ep, err)


def build_parser() -> argparse.ArgumentParser:
    """Build the ``bsam`` argument parser from every installed ``bsam.commands`` entry point.

    Returns
    -------
    argparse.ArgumentParser
        The top-level parser with one subparser per entry point (see
        :func:`command_entry_points`). A plugin whose module fails to import, or whose
        ``register`` raises, is listed as unavailable with the reason, and running it exits 2.
    """
    eps = command_entry_points()
    epilog = None
    if not eps:
        epilog = (
            f"No subcommands are installed (entry-point group {ENTRY_POINT_GROUP!r} is empty); "
            'reinstall the project: pip install -e ".[test]"'
        )
    parser = argparse.ArgumentParser(
        prog="bsam",
        description="Balanced SAM for imbalanced regression and per-shot-region loss landscapes.",
        epilog=epilog,
    )
    parser.add_argument("--version", action="version", version=f"bsam {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _register_all(sub, eps)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``bsam`` command line with ``argv`` (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The subcommand's exit status; 0 with no subcommand (after printing the help); 2 when
        the subcommand raised one of :data:`bsam.errors.USER_ERRORS` (a
        :class:`bsam.errors.UserError`, ``ValueError``, a missing, existing or unwritable
        file), printed as one line ``bsam <cmd>: error: <message>`` on stderr; 130 on Ctrl-C
        (``bsam <cmd>: interrupted; rerun the same command to resume``). Any other exception
        is a bug and propagates with its traceback.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(
            f"bsam {args.command}: interrupted; rerun the same command to resume",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except _USER_ERRORS as err:
        print(f"bsam {args.command}: error: {one_line(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
