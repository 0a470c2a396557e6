"""Independent tasks in child processes, up to N at a time, with every child reaped.

:func:`run_tasks` runs ``fn(*args)`` of each :class:`Task` in its own process, with
``cores // N`` intra-op threads (``torch.set_num_threads``; ``OMP_NUM_THREADS`` for its own
subprocesses). The children are forked from a fork server that has imported torch and ``bsam``
but run nothing: no thread pool, no CUDA context (``spawn`` where the OS has no fork server).
They ignore Ctrl-C: the parent stops every child (SIGTERM, then SIGKILL) when it is interrupted
or when a task fails, and waits for each, so no process outlives the call. Whatever a stopped
task wrote atomically stays, so the next call resumes it.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from bsam.errors import USER_ERRORS, UserError

__all__ = [
    "JobError",
    "Task",
    "available_cores",
    "auto_jobs",
    "job_threads",
    "check_jobs",
    "run_tasks",
    "run_each",
]

log = logging.getLogger("bsam.reproduce")

#: Seconds a stopped child gets to exit after SIGTERM before it is killed.
_TERMINATE_GRACE_S = 10.0

#: Modules the fork server imports once, so that a child starts in milliseconds, not seconds
#: (a child then trains as fast as a run in this process: 0.9 s CPU for a tiny quick run).
_PRELOAD: tuple[str, ...] = (
    "torch",
    "torch._dynamo",  # imported lazily by the first training step: 3 s of a child's start
    "bsam.data",
    "bsam.models",
    "bsam.train",
    "analyses.reproduce.stages",
)


class JobError(UserError):
    """A task in a child process failed with the user's error (its message, one line)."""


@dataclass(frozen=True)
class Task:
    """``fn(*args)`` run in a child; ``name`` (e.g. ``"run bsam-s0"``) names it in logs and
    errors. ``fn`` and ``args`` must pickle (``fn`` a module-level function)."""

    name: str
    fn: Callable[..., Any]
    args: tuple = ()


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def auto_jobs(device: str = "auto", cores: int | None = None) -> int:
    """The ``jobs`` of ``--jobs auto``: one process per available core on the CPU, 1 on a GPU.

    On the CPU a small model's step does not get faster with a second intra-op thread (resnet8
    at 16 px, measured on 2 cores: 6,068 samples/s with 1 thread, 6,249 with 2), so two runs
    side by side with one thread each train about 1.6x as many runs per hour as one run with
    two (docs/reproduce.md); on a GPU the runs would share one device.
    """
    from bsam.device import resolve_device

    if resolve_device(device).type != "cpu":
        return 1
    return max(1, available_cores() if cores is None else cores)


def job_threads(jobs: int, cores: int | None = None) -> int:
    """Intra-op threads of each of ``jobs`` parallel tasks: ``max(1, cores // jobs)``."""
    return max(1, (available_cores() if cores is None else cores) // jobs)


def check_jobs(jobs: int) -> None:
    """Refuse a ``jobs`` that is not a whole number >= 1 (``ValueError`` naming the flag)."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(
            f"Invalid jobs {jobs!r}; give a whole number >= 1 (e.g. --jobs 2, or --jobs auto)."
        )


def run_tasks(tasks: Sequence[Task], *, jobs: int, threads: int | None = None) -> dict[str, Any]:
    """Run ``tasks`` in up to ``jobs`` child processes; ``{task.name: fn(*args)}``.

    Parameters
    ----------
    tasks : sequence of Task
        Started in this order, each as soon as a slot is free.
    jobs : int
        Children at a time.
    threads : int, optional
        Intra-op threads per child (default :func:`job_threads`).

    Raises
    ------
    JobError
        When a task fails with a user's error (``"<task name>: <message>"``); any other failure
        is a ``RuntimeError`` carrying the child's traceback. Either way the other children are
        stopped first.
    """
    check_jobs(jobs)
    threads = job_threads(jobs) if threads is None else threads
    ctx = _context()
    queue = list(tasks)
    running: dict[Connection, tuple[Any, Task]] = {}
    done: dict[str, Any] = {}
    try:
        while queue or running:
            while queue and len(running) < jobs:
                task = queue.pop(0)
                receive, send = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_child, args=(task, threads, send),
                                   name=f"bsam-{task.name.replace(' ', '-')}")
                proc.start()
                send.close()  # the child holds the only writing end: EOF when it exits
                running[receive] = (proc, task)
                log.info("[%d/%d] %s started (%d thread(s))", len(done) + len(running),
                         len(tasks), task.name, threads)
            for conn in wait(list(running)):
                proc, task = running.pop(conn)
                message = _receive(conn)
                proc.join()
                conn.close()
                done[task.name] = _outcome(task, message, proc.exitcode)
                log.info("[%d/%d done] %s finished", len(done), len(tasks), task.name)
    finally:
        _stop([proc for proc, _ in running.values()])
        for conn in running:
            conn.close()
    return done


def run_each(jobs: int, calls: Sequence[tuple[str, Callable[..., Any], tuple]]) -> None:
    """``fn(*args)`` of each ``(name, fn, args)``: here, one after the other, or with
    ``jobs > 1`` (and more than one call) as :func:`run_tasks` in up to ``jobs`` children.

    The last argument of each call is its ``quiet`` flag; a child gets ``True`` there (the
    children's progress bars would interleave).
    """
    if jobs == 1 or len(calls) <= 1:
        for _, fn, args in calls:
            fn(*args)
        return
    run_tasks([Task(name, fn, (*args[:-1], True)) for name, fn, args in calls], jobs=jobs)


def _child(task: Task, threads: int, conn: Connection) -> None:
    """Body of a child: run the task and send ``("ok", result)`` or the error."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops its children on Ctrl-C
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    import torch

    torch.set_num_threads(threads)
    try:
        conn.send(("ok", task.fn(*task.args)))
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
        user = isinstance(exc, USER_ERRORS)
        text = str(exc) if user else f"{type(exc).__name__}: {exc}"
        conn.send(("error", user, text, traceback.format_exc()))
    finally:
        conn.close()


def _context() -> Any:
    """``forkserver`` where the OS has it, else ``spawn`` (module docstring)."""
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


def _outcome(task: Task, message: tuple | None, exitcode: int | None) -> Any:
    """The child's result, or its failure raised as this task's error."""
    if message is None:
        raise RuntimeError(
            f"{task.name}: its process exited with code {exitcode} before sending a result "
            "(its output is above; a negative code is the signal that ended it); rerun to "
            "resume"
        )
    if message[0] == "ok":
        return message[1]
    _, user, text, child_traceback = message
    if user:
        raise JobError(f"{task.name}: {text}")
    raise RuntimeError(f"{task.name} failed: {text}\n\nTraceback in its process:\n"
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
