"""Farming the training runs to a cluster: ``bsam reproduce --list-runs`` and ``--run NAME``.

``--list-runs`` prints one shell command per training run of the plan
(:func:`~analyses.reproduce.config.plan_runs`): the same ``bsam reproduce`` flags plus
``--run <name>-s<seed>``. Each command trains only its run (:func:`train_selected`) into the run
folder a plain ``bsam reproduce`` would use, so a Slurm array or a Ray job can run them in any
order, anywhere the output folder is shared. A last plain ``bsam reproduce`` with the same flags
then finds every run finished and computes the other stages. ``--run`` holds only its run
folder's lock, not the output folder's, so the array's tasks run at the same time.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from analyses.reproduce.config import ReproduceConfig, RunSpec, plan_runs
from analyses.reproduce.jobs import run_name, train_runs

if TYPE_CHECKING:
    from analyses.reproduce.stages import RunOutput

__all__ = ["select_runs", "list_runs", "train_selected", "replay_flags"]


def select_runs(cfg: ReproduceConfig, names: Iterable[str]) -> list[RunSpec]:
    """The planned runs named ``<name>-s<seed>`` in ``names``, in plan order.

    Raises
    ------
    ValueError
        When a name is not a run of the plan; the message lists the valid names.
    """
    names = list(names)
    plan = {run_name(spec): spec for spec in plan_runs(cfg)}
    unknown = [n for n in names if n not in plan]
    if unknown:
        raise ValueError(
            f"Unknown run(s) {unknown}; this plan's runs are: {', '.join(plan)} "
            "(see bsam reproduce --list-runs)"
        )
    wanted = set(names)
    return [spec for name, spec in plan.items() if name in wanted]


def list_runs(cfg: ReproduceConfig, flags: Sequence[str] = ()) -> list[dict[str, Any]]:
    """One entry per planned run: its name, method, seed, purpose, folder, state and command.

    ``flags`` are the ``bsam reproduce`` flags of the plan (:func:`replay_flags`); each
    ``command`` is ``bsam reproduce <flags> --run <name>``, quoted for a POSIX shell.
    ``done`` says whether the run folder already holds a finished run.
    """
    from analyses.reproduce.stages import run_dir
    from bsam.train.run_folder import RunPaths

    rows = []
    for spec in plan_runs(cfg):
        folder = run_dir(cfg, spec)
        rows.append({
            "name": run_name(spec),
            "method": spec.method,
            "seed": spec.seed,
            "purpose": spec.purpose,
            "run_dir": str(folder),
            "done": RunPaths.of(folder).finished,
            "command": shlex.join(["bsam", "reproduce", *flags, "--run", run_name(spec)]),
        })
    return rows


def train_selected(
    cfg: ReproduceConfig, names: Iterable[str], *, jobs: int = 1, quiet: bool = False
) -> dict[tuple[str, int], RunOutput]:
    """Train only the runs ``names`` (``<name>-s<seed>``) of the plan, up to ``jobs`` at a time.

    Writes nothing outside their run folders and holds no lock on the output folder, only each
    run folder's (:func:`analyses.reproduce.jobs.train_one`).

    Raises
    ------
    ValueError
        When a name is not a planned run (the message lists the valid names).
    """
    return train_runs(cfg, select_runs(cfg, names), jobs=jobs, quiet=quiet)


def replay_flags(
    parser: argparse.ArgumentParser, args: argparse.Namespace, *, drop: Iterable[str] = ()
) -> list[str]:
    """The command-line flags that give ``args`` again when parsed by ``parser``.

    Every optional argument whose value differs from its default is written back (a
    ``store_true`` flag as the bare flag, an ``append`` flag once per item, a tuple as a
    comma-separated list); the destinations in ``drop`` (e.g. ``"run"``) are left out.
    """
    skip = set(drop)
    out: list[str] = []
    for action in parser._actions:
        if not action.option_strings or action.dest in skip or action.dest == "help":
            continue
        value = getattr(args, action.dest, action.default)
        if value == action.default or value is None:
            continue
        flag = max(action.option_strings, key=len)  # the long spelling
        if isinstance(action, argparse.BooleanOptionalAction):
            out.append(action.option_strings[0 if value else 1])
        elif isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            out.append(flag)
        elif isinstance(action, argparse._AppendAction):
            for item in value:
                out += [flag, _text(item)]
        else:
            out += [flag, _text(value)]
    return out


def _text(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)
    return str(value)
