"""``bsam reproduce``: the paper's Figure 1, Table 8 and MAE tables from one command."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from bsam.cli.options import add_command, csv_list
from bsam.cli.recipes import add_recipe_arguments, resolve_from_args

__all__ = ["register", "run"]


def _csv(text: str) -> tuple[str, ...]:
    """Non-empty items of a comma-separated flag value; none at all is a usage error."""
    return csv_list(text)


def _jobs(text: str) -> int | str:
    """``--jobs``: ``auto`` or a whole number >= 1."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return int(text)  # < 1 is refused with the library's message (check_jobs)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid --jobs {text!r}: give a whole number >= 1 or auto (e.g. --jobs 2)"
        ) from None


def _ints(text: str) -> tuple[int, ...]:
    """Seeds of ``--seeds``: at least one whole number >= 0, none twice."""
    try:
        seeds = tuple(int(t) for t in csv_list(text))
    except (ValueError, argparse.ArgumentTypeError):
        raise argparse.ArgumentTypeError(f"invalid seed list {text!r}; use e.g. 0,1,2") from None
    if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(
            f"invalid seed list {text!r}: seeds must be distinct and >= 0; use e.g. 0,1,2"
        )
    return seeds


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``reproduce`` subcommand."""
    p = add_command(
        subparsers,
        "reproduce",
        help="train every method and write Figure 1, Table 8, the MAE tables and a report",
        description=(
            "Train Vanilla, SQINV, SAM, ImbSAM and BSAM, compute per-region loss surfaces and "
            "curvature metrics and per-bin sharpness profiles, and write figures, tables and "
            "report.md. Finished stages are "
            "skipped on rerun; a killed run resumes.\n"
            "Table 8 is measured with analyses.curvature.TABLE8: the Gauss-Newton matrix "
            "G = J^T J / M (the output-Jacobian Gram matrix; `bsam hessian --table8`), not the "
            "loss Hessian."
        ),
    )
    p.add_argument(
        "--data", default="agedb-synth", help="dataset (agedb-synth: the embedded benchmark)"
    )
    p.add_argument(
        "--root", default=None, help="folder of a real dataset (agedb-dir, imdb-wiki-dir, nyud2-dir)"
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument(
        "--seeds", type=_ints, default=None, help="seeds of SQINV and BSAM (default: 0,1,2)"
    )
    p.add_argument(
        "--methods",
        type=_csv,
        default=None,
        help="methods of the MAE tables (default vanilla,sqinv,sam,imbsam,bsam)",
    )
    p.add_argument(
        "--ablation",
        choices=["rho"],
        action="append",
        default=[],
        help="also run an ablation (repeatable): rho = the paper's Figure 2",
    )
    add_recipe_arguments(p)
    p.add_argument(
        "--show-recipe",
        action="store_true",
        help="print the resolved recipe (after --recipe, --config and the flags; JSON with "
        "--json) and stop",
    )
    p.add_argument("--quick", action="store_true", help="tiny settings for tests (same code path)")
    p.add_argument("--out", default=None, help="output folder (default results/reproduce[-quick])")
    p.add_argument(
        "--stages",
        type=_csv,
        default=None,
        help="stop after these stages (train,surface,hessian,sharpness,report)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars or log lines")
    p.add_argument(
        "--jobs",
        type=_jobs,
        default="auto",
        help="train up to N runs (then surfaces, curvature and sharpness profiles) side by side, "
        "each in its own process with cores/N threads; auto: one per core on the CPU, 1 on a "
        "GPU (default: auto)",
    )
    p.add_argument(
        "--list-runs",
        action="store_true",
        help="print one `bsam reproduce ... --run NAME` command per training run, and stop",
    )
    p.add_argument(
        "--json", action="store_true", help="with --list-runs or --show-recipe: print JSON"
    )
    p.add_argument(
        "--run",
        type=_csv,
        action="append",
        default=[],
        metavar="NAME-sSEED",
        help="train only this run of the plan (repeatable; see --list-runs), and stop",
    )
    p.set_defaults(func=run, reproduce_parser=p)


def run(args: argparse.Namespace) -> int:
    """Build the configuration from the flags and run :func:`analyses.reproduce.reproduce`."""
    from analyses.reproduce import ReproduceConfig, reproduce
    from analyses.reproduce.pipeline import STAGES, summary

    recipe = resolve_from_args(args, data=args.data, quick=args.quick)
    overrides: dict = {"data": args.data, "root": args.root, "device": args.device}
    overrides["recipe"] = recipe
    if args.seeds is not None:
        overrides["seeds"] = args.seeds
    if args.methods is not None:
        overrides["methods"] = args.methods
    if "rho" in args.ablation:
        overrides["ablation_rho"] = True
    if args.out:
        overrides["out"] = args.out
    cfg = ReproduceConfig.quick_config(**overrides) if args.quick else ReproduceConfig(**overrides)
    _check_runs(cfg)
    if args.show_recipe:
        return _show_recipe(cfg, as_json=getattr(args, "json", False))
    if args.data in ("agedb-dir", "imdb-wiki-dir", "nyud2-dir") and args.root is None:
        raise ValueError(
            f"--data {args.data} needs --root PATH (the folder with the DIR csv and images)."
        )
    if not args.quiet:
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if args.jobs == "auto":
        from analyses.reproduce.processes import auto_jobs

        args.jobs = auto_jobs(cfg.device)
    if args.list_runs or args.run or args.json:
        return _farm(args, cfg)
    stages = args.stages or STAGES
    result = reproduce(cfg, quiet=args.quiet, stages=tuple(stages), jobs=args.jobs)
    print(json.dumps(summary(result), indent=2))
    if "report" in stages:
        print(f"report: {result.report}")
    return 0


def _check_runs(cfg: object) -> None:
    """Refuse, before any work, a run whose TrainConfig does not resolve (an unknown
    ``--optimizer``, a SAM-family method without ``--rho`` on a recipe that gives none)."""
    from analyses.reproduce.config import plan_runs
    from analyses.reproduce.stages import train_config

    for spec in plan_runs(cfg):
        train_config(cfg, spec).resolve()


def _show_recipe(cfg: object, *, as_json: bool) -> int:
    """``--show-recipe``: print the resolved recipe."""
    from bsam.recipes import format_recipe

    print(json.dumps(cfg.recipe.to_dict(), indent=2) if as_json else format_recipe(cfg.recipe))
    return 0


def _farm(args: argparse.Namespace, cfg: object) -> int:
    """``--list-runs [--json]``: the plan's commands; ``--run NAME``: train only those runs."""
    from analyses.reproduce.farm import list_runs, replay_flags, train_selected

    if args.json and not args.list_runs:
        raise ValueError("--json only applies to --list-runs; add --list-runs or drop --json.")
    if args.list_runs and args.run:
        raise ValueError("--list-runs and --run exclude each other; give one of them.")
    if args.list_runs:
        drop = ("run", "list_runs", "json", "jobs")
        rows = list_runs(cfg, replay_flags(args.reproduce_parser, args, drop=drop))
        print(json.dumps(rows, indent=2) if args.json else "\n".join(r["command"] for r in rows))
        return 0
    names = [name for group in args.run for name in group]
    runs = train_selected(cfg, names, jobs=args.jobs, quiet=args.quiet)
    print(json.dumps({"runs": {f"{n}-s{s}": str(o.out_dir) for (n, s), o in runs.items()}},
                     indent=2))
    return 0
