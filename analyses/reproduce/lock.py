"""One ``bsam reproduce`` per output folder: an ``fcntl.flock`` lock on ``<out>/.lock``.

The kernel releases a ``flock`` lock when its file is closed, so the lock ends with the process
however it ends (normal exit, exception, crash, ``kill -9``); a stale lock file left behind
holds no lock. The file records the holder's process id, which a refused run names.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bsam.errors import OutputLockedError

__all__ = ["LOCK_NAME", "output_lock"]

#: Name of the lock file inside the output folder.
LOCK_NAME = ".lock"


@contextmanager
def output_lock(folder: str | os.PathLike, *, what: str = "bsam reproduce") -> Iterator[Path]:
    """Hold an exclusive, non-blocking lock on ``folder`` (created) while the block runs.

    Parameters
    ----------
    folder : path-like
        The output folder; the lock file is ``folder / LOCK_NAME``.
    what : str
        The kind of run, named in the error.

    Yields
    ------
    Path
        The lock file (it holds this process's id while the block runs).

    Raises
    ------
    OutputLockedError
        When another process holds the lock: the message names its pid and the fix.
    NotADirectoryError
        When ``folder`` is an existing file.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(
            f"Output folder {folder} is an existing file; give --out a folder path"
        )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: run without a lock
        yield path
        return
    with open(path, "a+", encoding="utf-8") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            raise OutputLockedError(
                f"Output folder {folder} is in use by another {what} (pid {holder}); wait for "
                "it to finish, or give another --out folder"
            ) from None
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(f"{os.getpid()}\n")
            fh.flush()
            yield path
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
