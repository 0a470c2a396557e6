"""Training runs side by side: ``bsam reproduce --jobs N`` runs up to N runs in child processes.

Each run trains exactly as in one process: the same :func:`bsam.train.train` call into the same
run folder (:func:`~analyses.reproduce.stages.run_dir`, named by the hash of its config), so the
results, and the resume after a kill, do not depend on ``jobs``. A child gets ``cores // jobs``
intra-op threads (``torch.set_num_threads``; ``OMP_NUM_THREADS`` for its own subprocesses), is
forked from a fork server that has imported torch but run nothing (``spawn`` where the OS has
no fork server) and ignores Ctrl-C: the parent stops every child
(SIGTERM, then SIGKILL) when it is interrupted or when a run fails, and waits for each, so no
process outlives the call. A killed run resumes from its ``last.pt`` on the next call, since
every checkpoint is written atomically.

Every run, in a child or in this process, holds the lock of its own run folder
(:func:`~analyses.reproduce.lock.output_lock`) while it trains, so two processes farming the
same plan (``bsam reproduce --run``, :mod:`analyses.reproduce.farm`) never train one run twice.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import traceback
from collections.abc import Sequence
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bsam.errors import USER_ERRORS, UserError

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

#: Seconds a stopped child gets to exit after SIGTERM before it is killed.
_TERMINATE_GRACE_S = 10.0


class JobError(UserError):
    """A training run in a child process failed with the user's error (its message, one line)."""


def run_name(spec: RunSpec) -> str:
    """The name of a run on the command line and in its folder: ``<name>-s<seed>``."""
    return f"{spec.name}-s{spec.seed}"


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def job_threads(jobs: int, cores: int | None = None) -> int:
    """Intra-op threads of each of ``jobs`` parallel runs: ``max(1, cores // jobs)``."""
    return max(1, (available_cores() if cores is None else cores) // jobs)


def check_jobs(jobs: int) -> None:
    """Refuse a ``jobs`` that is not a whole number >= 1 (``ValueError`` naming the flag)."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"Invalid jobs {jobs!r}; give a whole number >= 1 (e.g. --jobs 2).")


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
        When a child's run fails with a user's error (the message names the run); any other
        failure of a child is a ``RuntimeError`` carrying the child's traceback.
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
        threads = job_threads(jobs) if threads is None else threads
        log.info("[train] %d runs to train (%d finished), %d at a time, %d thread(s) each",
                 len(todo), len(specs) - len(todo), jobs, threads)
        done |= _run_children(cfg, todo, folders, jobs=jobs, threads=threads)
    return {
        (s.name, s.seed): RunOutput(s, folders[run_name(s)], *done[run_name(s)]) for s in specs
    }


def train_one(
    cfg: ReproduceConfig, spec: RunSpec, folder: Path, *, quiet: bool = False
) -> tuple[dict[str, Any], bool]:
    """Train one run into ``folder`` under that folder's lock; ``(metrics, already_done)``."""
    from analyses.reproduce.lock import output_lock
    from analyses.reproduce.stages import train_config
    from bsam.train import train

    with output_lock(folder, what=f"training of run {run_name(spec)}"):
        result = train(train_config(cfg, spec), out_dir=folder, quiet=quiet)
    return result.metrics, result.already_done


def _child(cfg: ReproduceConfig, spec: RunSpec, folder: Path, threads: int, conn: Connection) -> None:
    """Body of a child process: train one run and send ``("ok", metrics, done)`` or the error."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops its children on Ctrl-C
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    import torch

    torch.set_num_threads(threads)
    try:
        metrics, already_done = train_one(cfg, spec, folder, quiet=True)
        conn.send(("ok", metrics, already_done))
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
        user = isinstance(exc, USER_ERRORS)
        text = str(exc) if user else f"{type(exc).__name__}: {exc}"
        conn.send(("error", user, text, traceback.format_exc()))
    finally:
        conn.close()


def _run_children(
    cfg: ReproduceConfig,
    specs: Sequence[RunSpec],
    folders: dict[str, Path],
    *,
    jobs: int,
    threads: int,
) -> dict[str, tuple[dict[str, Any], bool]]:
    """Train ``specs`` in up to ``jobs`` spawned children; stop them all on any failure."""
    ctx = _context()
    queue = list(specs)
    running: dict[Connection, tuple[Any, RunSpec]] = {}
    done: dict[str, tuple[dict[str, Any], bool]] = {}
    try:
        while queue or running:
            while queue and len(running) < jobs:
                spec = queue.pop(0)
                folder = folders[run_name(spec)]
                receive, send = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_child, args=(cfg, spec, folder, threads, send),
                                   name=f"bsam-train-{run_name(spec)}")
                proc.start()
                send.close()  # the child holds the only writing end: EOF when it exits
                running[receive] = (proc, spec)
                log.info("[train %d/%d] %s seed %d started -> %s", len(done) + len(running),
                         len(specs), spec.label, spec.seed, folder)
            for conn in wait(list(running)):
                proc, spec = running.pop(conn)
                message = _receive(conn)
                proc.join()
                conn.close()
                done[run_name(spec)] = _outcome(spec, message, proc.exitcode)
                log.info("[train] %s seed %d finished (%d/%d done)", spec.label, spec.seed,
                         len(done), len(specs))
    finally:
        _stop([proc for proc, _ in running.values()])
        for conn in running:
            conn.close()
    return done


#: Modules the fork server imports once, so that a child starts in milliseconds, not seconds
#: (it then trains as fast as a run in this process: 0.9 s CPU for a tiny quick run).
_PRELOAD: tuple[str, ...] = (
    "torch",
    "torch._dynamo",  # imported lazily by the first training step: 3 s of a child's start
    "bsam.data",
    "bsam.models",
    "bsam.train",
    "analyses.reproduce.stages",
)


def _context() -> Any:
    """``forkserver`` where the OS has it (children forked from a server that has imported
    torch but run nothing: no thread pool, no CUDA context), else ``spawn``."""
    if "forkserver" not in mp.get_all_start_methods():  # pragma: no cover - Windows
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(list(_PRELOAD))
    return ctx


def _receive(conn: Connection) -> tuple | None:
    try:
        return conn.recv()
    except (EOFError, OSError):
        return None  # the child died before it could answer


def _outcome(spec: RunSpec, message: tuple | None, exitcode: int | None) -> tuple[dict, bool]:
    """The child's ``(metrics, already_done)``, or its failure raised as this run's error."""
    name = run_name(spec)
    if message is None:
        raise RuntimeError(
            f"run {name}: its training process exited with code {exitcode} before sending a "
            "result (its output is above; a negative code is the signal that ended it); rerun "
            "to resume the run"
        )
    if message[0] == "ok":
        return message[1], message[2]
    _, user, text, child_traceback = message
    if user:
        raise JobError(f"run {name}: {text}")
    raise RuntimeError(f"run {name} failed: {text}\n\nTraceback in the training process:\n"
                       f"{child_traceback}")


def _stop(procs: list[Any]) -> None:
    """Terminate and reap ``procs`` (SIGTERM, then SIGKILL after a grace period)."""
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    for proc in procs:
        proc.join(_TERMINATE_GRACE_S)
        if proc.is_alive():  # pragma: no cover - a child stuck in uninterruptible code
            proc.kill()
            proc.join()
