"""``bsam recipes``: list the named training recipes or print one, resolved.

The recipe flags (``--recipe``, ``--config`` and one flag per overridable field) are defined here
once, for ``bsam recipes`` and ``bsam reproduce`` alike (:func:`add_recipe_arguments`,
:func:`resolve_from_args`). Building the parser imports :mod:`bsam.recipes` only (no torch).

Examples
--------
``bsam recipes``
``bsam recipes rnc-agedb --json``
``bsam recipes synth --config my.toml --lr 0.1``
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from bsam.cli.options import add_command

__all__ = [
    "RECIPE_FLAGS",
    "register",
    "run",
    "add_recipe_arguments",
    "recipe_overrides",
    "resolve_from_args",
]

#: ``(flag, type, help)`` of every recipe field settable from the command line; the field is
#: the flag without its dashes, ``-`` read as ``_``. A flag left out keeps the recipe's value.
RECIPE_FLAGS: tuple[tuple[str, type, str], ...] = (
    ("--model", str, "model of bsam.models (the recipe's: resnet8, resnet18, ...)"),
    ("--optimizer", str, "base optimizer: sgd or adam (the recipe's)"),
    ("--lr", float, "base learning rate (the recipe's)"),
    ("--momentum", float, "SGD momentum (the recipe's)"),
    ("--weight-decay", float, "weight decay (the recipe's)"),
    ("--schedule", str, "learning-rate schedule: cosine, step, none, cosine-epoch, dir-step"),
    ("--lr-min-factor", float, "floor of cosine-epoch as a fraction of --lr (the recipe's)"),
    ("--epochs", int, "number of epochs (the recipe's)"),
    ("--batch-size", int, "global batch size (the recipe's)"),
    ("--descent-loss", str, "loss of the descent pass: l1, mse, huber (the recipe's)"),
    ("--rho", float, "SAM radius of every SAM-family method (sam, imbsam, bsam; the recipe's)"),
    ("--select", str, "validation metric of best.pt: mae, bmae, rmse (the recipe's)"),
    ("--img-size", int, "input side given to a real data set as img_size (the recipe's)"),
)
#: Fields that may be 0 (the others must be > 0).
_NON_NEGATIVE: tuple[str, ...] = ("momentum", "weight_decay", "lr_min_factor")


def _key(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def add_recipe_arguments(parser: argparse.ArgumentParser, *, name: bool = True) -> None:
    """Add ``--recipe`` (when ``name``), ``--config`` and :data:`RECIPE_FLAGS` to ``parser``.

    Every default is ``None``: only the flags the user gives override the recipe.
    """
    from bsam.recipes import RECIPES

    if name:
        parser.add_argument(
            "--recipe",
            default=None,
            help=f"named training recipe, one of {', '.join(RECIPES)} (default: the data "
            "set's: synth for *-synth, rnc-agedb, rnc-imdb, dir-nyud2); see `bsam recipes`",
        )
    parser.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help="TOML or YAML file of recipe fields (and `recipe = NAME`); flags win over it",
    )
    for flag, kind, text in RECIPE_FLAGS:
        parser.add_argument(flag, type=kind, default=None, help=text)


def recipe_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The recipe fields set by flags of :data:`RECIPE_FLAGS` that were given.

    Raises
    ------
    ValueError
        For a number out of range, naming the flag (``Invalid --epochs 0; ...``).
    """
    out: dict[str, Any] = {}
    for flag, kind, _ in RECIPE_FLAGS:
        key = _key(flag)
        value = getattr(args, key, None)
        if value is None:
            continue
        if kind in (int, float) and (value < 0 or value == 0 and key not in _NON_NEGATIVE):
            bound = ">= 0" if key in _NON_NEGATIVE else "> 0"
            raise ValueError(f"Invalid {flag} {value}; it must be {bound}.")
        out[key] = value
    return out


def resolve_from_args(
    args: argparse.Namespace, *, data: str | None = None, quick: bool = False
) -> Any:
    """The :class:`bsam.recipes.Recipe` of ``--recipe``/``--config`` and the recipe flags."""
    from bsam.recipes import resolve_recipe

    return resolve_recipe(
        getattr(args, "recipe", None),
        recipe_overrides(args),
        args.config,
        data=data,
        quick=quick,
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``recipes`` subcommand."""
    p = add_command(
        subparsers,
        "recipes",
        help="list the named training recipes, or print one resolved",
        description=(
            "Without arguments: one line per named training recipe (bsam.recipes.RECIPES).\n"
            "With NAME, --config or a recipe flag: the recipe after the config file and the "
            "flags (flags win over the file, the file over the recipe), as `bsam reproduce "
            "--recipe NAME` would train it."
        ),
    )
    p.add_argument("name", nargs="?", default=None, help="recipe to print (default: list them)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--quick", action="store_true", help="the recipe's --quick variant")
    add_recipe_arguments(p, name=False)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """List the recipes, or print the one of ``args`` resolved."""
    from bsam.recipes import RECIPES, format_recipe, resolve_recipe

    if args.name is None and args.config is None and not recipe_overrides(args) and not args.quick:
        rows = [{"name": r.name, "description": r.description} for r in RECIPES.values()]
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            width = max(len(r["name"]) for r in rows)
            print("\n".join(f"{r['name']:<{width}}  {r['description']}" for r in rows))
        return 0
    recipe = resolve_recipe(args.name, recipe_overrides(args), args.config, quick=args.quick)
    print(json.dumps(recipe.to_dict(), indent=2) if args.json else format_recipe(recipe))
    return 0
