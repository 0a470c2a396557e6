"""Training runs side by side: ``bsam reproduce --jobs N`` trains up to N runs in child processes.

Each run trains exactly as in one process: the same :func:`bsam.train.train` call into the same
run folder (:func:`~analyses.reproduce.stages.run_dir`, named by the hash of its config), so the
run folders, and the resume after a kill, do not depend on ``jobs``; the numbers are the same
bit for bit at the same intra-op thread count. The children, their threads (``cores // N``
each), their errors and Ctrl-C are :func:`analyses.reproduce.processes.run_tasks`'. A killed
run resumes from its ``last.pt`` on the next call, since every checkpoint is written atomically.

Every run, in a child or in this process, holds the lock of its own run folder
(:func:`~analyses.reproduce.lock.output_lock`) while it trains, so two processes farming the
same plan (``bsam reproduce --run``, :mod:`analyses.reproduce.farm`) never train one run twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analyses.reproduce.processes import (
    JobError,
    Task,
    available_cores,
    check_jobs,
    job_threads,
    run_tasks,
)

if TYPE_CHECKING:
    from analyses.reproduce.config import ReproduceConfig, RunSpec
    from analyses.reproduce.stages import RunOutput

__all__ = [
    "JobError",
    "run_name",
    "available_cores",
    "job_threads",
    "check_jobs",
    "train_runs",
    "train_one",
]

log = logging.getLogger("bsam.reproduce")


def run_name(spec: RunSpec) -> str:
    """The name of a run on the command line and in its folder: ``<name>-s<seed>``."""
    return f"{spec.name}-s{spec.seed}"


def train_runs(
    cfg: ReproduceConfig,
    specs: Sequence[RunSpec],
    *,
    jobs: int = 1,
    quiet: bool = False,
    threads: int | None = None,
) -> dict[tuple[str, int], RunOutput]:
    """Train ``specs`` (finished runs are skipped), up to ``jobs`` at a time.

    Parameters
    ----------
    cfg : ReproduceConfig
        The reproduction the runs belong to (their folders are under ``cfg.out``).
    specs : sequence of RunSpec
        The runs, in the order they are started.
    jobs : int
        1 trains in this process, one run after the other; N > 1 trains in up to N child
        processes at once (each without progress bars: their lines would interleave).
        Finished runs are only read, in this process.
    quiet : bool
        No progress bars or log lines.
    threads : int, optional
        Intra-op threads per child (default :func:`job_threads`); ignored when ``jobs == 1``.

    Returns
    -------
    dict
        ``{(name, seed): RunOutput}`` in the order of ``specs``.

    Raises
    ------
    JobError
        When a child's run fails with a user's error (``"run <name>-s<seed>: <message>"``);
        any other failure of a child is a ``RuntimeError`` carrying the child's traceback.
    """
    from analyses.reproduce.stages import RunOutput, run_dir
    from bsam.train.run_folder import RunPaths

    check_jobs(jobs)
    folders = {run_name(s): run_dir(cfg, s) for s in specs}
    done: dict[str, tuple[dict[str, Any], bool]] = {}
    todo = list(specs)
    if jobs > 1:  # finished runs are only read: no process for them
        todo = [s for s in specs if not RunPaths.of(folders[run_name(s)]).finished]
    if jobs == 1 or len(todo) <= 1:
        for i, spec in enumerate(specs, 1):
            folder = folders[run_name(spec)]
            log.info("[train %d/%d] %s seed %d -> %s", i, len(specs), spec.label, spec.seed, folder)
            done[run_name(spec)] = train_one(cfg, spec, folder, quiet=quiet)
    else:
        for spec in specs:
            if spec not in todo:
                done[run_name(spec)] = train_one(cfg, spec, folders[run_name(spec)], quiet=True)
        log.info("[train] %d runs to train (%d finished), %d at a time",
                 len(todo), len(specs) - len(todo), jobs)
        tasks = [Task(f"run {run_name(s)}", train_one, (cfg, s, folders[run_name(s)], True))
                 for s in todo]
        results = run_tasks(tasks, jobs=jobs, threads=threads)
        done |= {run_name(s): results[f"run {run_name(s)}"] for s in todo}
    return {
        (s.name, s.seed): RunOutput(s, folders[run_name(s)], *done[run_name(s)]) for s in specs
    }


def train_one(
    cfg: ReproduceConfig, spec: RunSpec, folder: Path, quiet: bool = False
) -> tuple[dict[str, Any], bool]:
    """Train one run into ``folder`` under that folder's lock; ``(metrics, already_done)``."""
    from analyses.reproduce.lock import output_lock
    from analyses.reproduce.stages import train_config
    from bsam.train import train

    with output_lock(folder, what=f"training of run {run_name(spec)}"):
        result = train(train_config(cfg, spec), out_dir=folder, quiet=quiet)
    return result.metrics, result.already_done
